/**
 * A kernel test in one line, as tinygrad's helper_test_op: a case (tests/util/cases/) names its inputs, its
 * outputs, how to record the kernel and the float64 reference of each output; `testKernel` runs it on fresh
 * random inputs with NaN-poisoned outputs and throws with the first mismatches of every output that is off.
 * regress/checks run the same cases with fixed seeds through `runKernelCase` and report CheckResults instead.
 */
import type { Gpu } from '../../src/gpu/device';
import { compare } from './compare';
import { run } from './gpu';
import { freshSeed } from './random';

export interface KernelCase {
  /** The kernel and its shape, printed with every failure. */
  name: string;
  /** Uploaded as given. */
  inputs: Record<string, Float32Array | Uint32Array>;
  /**
   * Float outputs: a count (filled with NaN, so an element the kernel fails to write fails the comparison) or
   * initial contents (accumulating or in-place kernels, gaps between matrices that must stay as they were).
   */
  outputs: Record<string, number | Float32Array>;
  /** Records the kernel(s) under test into one pass, given every binding by name. */
  encode(pass: GPUComputePassEncoder, bindings: Record<string, GPUBuffer>): void;
  /** The float64 reference of each output it checks, given the outputs read back (for references that take one). */
  reference(got: Record<string, Float32Array>): Record<string, ArrayLike<number>>;
  /** Bound on ‖out − ref‖ / ‖ref‖, for every output or per output (default 1e-5); 0 asks for exact results. */
  tol?: number | Record<string, number>;
  /** Names the outputs in messages and regression check ids (default: the output's own name). */
  labels?: Record<string, string>;
  /** Frees the kernels after the run. */
  destroy?(): void;
}

/** Makes a case from a seed; its kernels are built (and their pipelines compiled) here. */
export type CaseBuilder = (gpu: Gpu, seed: number) => KernelCase | Promise<KernelCase>;

export interface CaseResult {
  /** The output's label. */
  label: string;
  got: Float32Array;
  ref: ArrayLike<number>;
  tol: number;
}

export const DEFAULT_TOL = 1e-5;

/**
 * Uploads the case's inputs and outputs, records it (then `after`, e.g. a deliberate fault, with each output
 * and its length), reads back the outputs and pairs each with its reference. Releases every buffer it made.
 */
export async function runKernelCase(
  gpu: Gpu,
  c: KernelCase,
  after?: (pass: GPUComputePassEncoder, outputs: [GPUBuffer, number][]) => void,
): Promise<CaseResult[]> {
  const clash = Object.keys(c.outputs).find((k) => k in c.inputs);
  if (clash) throw new Error(`${c.name}: '${clash}' is both an input and an output`);
  const made: GPUBuffer[] = [];
  const upload = (data: Float32Array | Uint32Array, label: string): GPUBuffer => {
    const b = gpu.upload(data, label);
    made.push(b);
    return b;
  };
  try {
    const bindings: Record<string, GPUBuffer> = {};
    for (const [name, data] of Object.entries(c.inputs)) bindings[name] = upload(data, name);
    const outputs = Object.entries(c.outputs).map(([name, init]): [string, GPUBuffer, number] => {
      const data = typeof init === 'number' ? new Float32Array(init).fill(NaN) : init;
      bindings[name] = upload(data, name);
      return [name, bindings[name], data.length];
    });
    await run(gpu, (pass) => {
      c.encode(pass, bindings);
      after?.(pass, outputs.map(([, b, n]) => [b, n]));
    });
    const got: Record<string, Float32Array> = {};
    for (const [name, b, n] of outputs) got[name] = await gpu.readFloat32(b, n);
    return Object.entries(c.reference(got)).map(([name, ref]) => {
      if (!(name in got)) throw new Error(`${c.name}: the reference names '${name}', which is not an output`);
      const tol = typeof c.tol === 'number' ? c.tol : (c.tol?.[name] ?? DEFAULT_TOL);
      return { label: c.labels?.[name] ?? name, got: got[name], ref, tol };
    });
  } finally {
    made.forEach((b) => gpu.release(b));
    c.destroy?.();
  }
}

/**
 * Runs the case built for a fresh seed and throws, naming the case, the seed and each output off by more than
 * its tolerance with its first mismatching indices. Returns the results for further checks.
 */
export async function testKernel(gpu: Gpu, build: CaseBuilder, seed = freshSeed()): Promise<CaseResult[]> {
  const c = await build(gpu, seed);
  const results = await runKernelCase(gpu, c);
  const failures = results.flatMap(({ label, got, ref, tol }) => {
    const r = compare(got, ref, tol);
    if (r.relError <= tol) return [];
    return [
      `${label}: relative error ${r.relError.toExponential(3)} > ${tol}` +
        (r.nonFinite ? `, ${r.nonFinite} non-finite values` : '') +
        `\n    first mismatches: ${r.firstMismatches.join('; ') || '(none large; error is spread)'}`,
    ];
  });
  if (failures.length) throw new Error(`${c.name} (seed ${seed}):\n  ${failures.join('\n  ')}`);
  return results;
}
