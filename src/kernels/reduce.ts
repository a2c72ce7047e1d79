import source from '../../shaders/reduce.wgsl?raw';
import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import type { ShaderSource } from '../gpu/pipelines';
import { ceilDiv, dispatch, packUniform, type Binding } from './dispatch';
import { choicesOf } from './tuning';

export const reduceShader: ShaderSource = { name: 'reduce', code: source };

/** sum: Σ x; sumsq: Σ x² (a norm², NaN or Inf when any element is); maxabs: max |x| (NaN when any element is). */
export type ReduceOp = 'sum' | 'sumsq' | 'maxabs';

export interface ReduceOptions {
  /** Elements to reduce (≥ 1). */
  n: number;
  op: ReduceOp;
  /** Float index in the `out` binding that receives the result, default 0 (lets several results share a buffer). */
  outIndex?: number;
  /**
   * Use subgroup operations for the in-workgroup step. Default: when the device has the 'subgroups' feature.
   * The result can differ from the tree's in the last bits (another order of additions) but is fixed per device.
   */
  subgroups?: boolean;
  /**
   * Stage-1 workgroups at most (≤ 4096). Default: the device's tuned value (64, 256 or 1024, measured by the
   * autotuner): 1024 keeps a large GPU's memory busy, while on SwiftShader each workgroup with barriers costs about a
   * millisecond (n = 2^20: ~1 s with 1024, ~50 ms with 64, measured on a busy 2-core machine). The result depends
   * on it (the order of additions), so it is fixed per device and tuning.
   */
  maxPartials?: number;
}

const WG = 256;
const MAX_PARTIALS_LIMIT = 4096; // stage 2 is one workgroup: 16 partials per invocation at most
/** Each chunk is a multiple of 4·WG so the unrolled loop only has a tail in the last chunk. */
const CHUNK_QUANTUM = 4 * WG;

/** The default maxPartials on this device: the autotuner's measured pick (kernels/tuning.ts), 1024 untuned. */
export function defaultMaxPartials(gpu: Gpu): number {
  return choicesOf(gpu).reduceMaxPartials;
}

/** How n elements are split over stage-1 workgroups; depends only on n and maxPartials, which keeps the result deterministic. */
export function reducePartition(n: number, maxPartials: number): { chunk: number; partials: number } {
  const chunk = Math.max(CHUNK_QUANTUM, ceilDiv(ceilDiv(n, maxPartials), CHUNK_QUANTUM) * CHUNK_QUANTUM);
  return { chunk, partials: ceilDiv(n, chunk) };
}

/** Options every reduction takes besides its size: see ReduceOptions. */
type VariantOptions = Pick<ReduceOptions, 'subgroups' | 'maxPartials'>;

function resolveVariant(gpu: Gpu, options: VariantOptions): { subgroups: boolean; maxPartials: number } {
  const maxPartials = options.maxPartials ?? defaultMaxPartials(gpu);
  check(
    Number.isInteger(maxPartials) && maxPartials >= 1 && maxPartials <= MAX_PARTIALS_LIMIT,
    () => `reduce: maxPartials must be an integer in [1, ${MAX_PARTIALS_LIMIT}], got ${maxPartials}`,
  );
  const subgroups = options.subgroups ?? gpu.features.subgroups;
  check(!subgroups || gpu.features.subgroups, "reduce: subgroups were asked for but this device lacks the 'subgroups' feature");
  return { subgroups, maxPartials };
}

const floatsIn = (b: Binding): number => Math.floor(b.size / 4);
const labelOf = (b: Binding): string => ('buffer' in b ? b.buffer : b).label;

/**
 * One reduction of n floats to one float, in two dispatches (see shaders/reduce.wgsl). Owns a scratch buffer of
 * per-workgroup partials; encoding the same Reduce several times in a pass is fine, since dispatches run in order
 * and each encode's result lands in the `out` binding given to it.
 */
export class Reduce {
  readonly n: number;
  readonly op: ReduceOp;
  readonly outIndex: number;
  readonly subgroups: boolean;
  readonly partialCount: number;
  private readonly stage1: GPUComputePipeline;
  private readonly stage2: GPUComputePipeline;
  private readonly params1: GPUBuffer;
  private readonly params2: GPUBuffer;
  private readonly partials: GPUBuffer;

  constructor(
    private readonly gpu: Gpu,
    options: ReduceOptions,
  ) {
    const { n, op } = options;
    const outIndex = options.outIndex ?? 0;
    check(Number.isInteger(n) && n >= 1 && n < 2 ** 31, () => `reduce: n must be an integer in [1, 2^31), got ${n}`);
    check(['sum', 'sumsq', 'maxabs'].includes(op), () => `reduce: op must be 'sum', 'sumsq' or 'maxabs', got '${op}'`);
    check(Number.isInteger(outIndex) && outIndex >= 0 && outIndex < 2 ** 31, () => `reduce: outIndex must be a non-negative integer, got ${outIndex}`);
    const { subgroups, maxPartials } = resolveVariant(gpu, options);
    this.n = n;
    this.op = op;
    this.outIndex = outIndex;
    this.subgroups = subgroups;
    const { chunk, partials } = reducePartition(n, maxPartials);
    this.partialCount = partials;
    const variant = { WG, SUBGROUPS: subgroups, SUMSQ: op === 'sumsq', MAXABS: op === 'maxabs', RANGES: false };
    this.stage1 = gpu.pipelines.get(reduceShader, 'reduce_partials', { ...variant, FINAL: false });
    this.stage2 = gpu.pipelines.get(reduceShader, 'reduce_final', { ...variant, FINAL: true });
    // Uniform layouts (16 bytes each): n u32, chunk u32, out_index u32, pad.
    this.params1 = gpu.uniform(packUniform([['u32', n], ['u32', chunk], ['u32', 0], ['u32', 0]]), `reduce ${op} n=${n}`);
    this.params2 = gpu.uniform(packUniform([['u32', partials], ['u32', 0], ['u32', outIndex], ['u32', 0]]), `reduce ${op} final`);
    this.partials = gpu.createBuffer(4 * partials, `reduce ${op} partials`);
  }

  /** Records out[outIndex] = op(x[0..n)). `out` must not share a buffer with `x`. */
  encode(pass: GPUComputePassEncoder, x: Binding, out: Binding): void {
    check(floatsIn(x) >= this.n, () => `reduce: x ('${labelOf(x)}') holds ${floatsIn(x)} floats, needs ${this.n}`);
    check(floatsIn(out) > this.outIndex, () => `reduce: out ('${labelOf(out)}') holds ${floatsIn(out)} floats, needs ${this.outIndex + 1} (outIndex ${this.outIndex})`);
    const xb = 'buffer' in x ? x.buffer : x;
    const ob = 'buffer' in out ? out.buffer : out;
    check(xb !== ob, 'reduce: out must not share a buffer with x (WebGPU forbids read and read_write bindings of one buffer in a dispatch)');
    dispatch(this.gpu, pass, this.stage1, [this.params1, x, this.partials], [this.partialCount]);
    dispatch(this.gpu, pass, this.stage2, [this.params2, this.partials, out], [1]);
  }

  destroy(): void {
    this.gpu.release(this.params1);
    this.gpu.release(this.params2);
    this.gpu.release(this.partials);
  }
}

/**
 * The global gradient norm²: Σ g² over the whole flat gradient buffer (n floats), written to out[outIndex].
 * Non-finite (NaN or Inf) when any gradient is, or when the sum overflows float32; AdamW then skips the step.
 */
export class GlobalNorm {
  private readonly reduce: Reduce;
  constructor(gpu: Gpu, n: number, options: Omit<ReduceOptions, 'n' | 'op'> = {}) {
    this.reduce = new Reduce(gpu, { ...options, n, op: 'sumsq' });
  }
  get n(): number {
    return this.reduce.n;
  }
  /** Records out[outIndex] = Σ grads[i]², i < n. */
  encode(pass: GPUComputePassEncoder, grads: Binding, out: Binding): void {
    this.reduce.encode(pass, grads, out);
  }
  destroy(): void {
    this.reduce.destroy();
  }
}

/** A tensor of the flat gradient buffer, for SegmentNorms (adamw's ParamSegment fits). */
export interface NormSegment {
  offset: number;
  length: number;
  name?: string;
}

/**
 * Per-tensor gradient norms² and their sum, the global norm², in three dispatches whatever the number of
 * tensors: stage 1 splits every tensor into chunks (one workgroup each, from a range table), stage 2 gives each
 * tensor one workgroup over its partials, stage 3 sums the per-tensor values in order. A NaN or Inf in one
 * tensor's gradient shows in its own entry (so a trainer can name it) and in the total (so AdamW skips the step).
 * Floats outside every segment (padding) are not counted.
 */
export class SegmentNorms {
  readonly n: number;
  /** Number of segments: the per-segment output holds this many floats. */
  readonly count: number;
  private readonly stage1: GPUComputePipeline;
  private readonly stage2: GPUComputePipeline;
  private readonly stage3: GPUComputePipeline;
  private readonly bindings: { params1: GPUBuffer; params2: GPUBuffer; params3: GPUBuffer; partials: GPUBuffer; ranges1: GPUBuffer; ranges2: GPUBuffer };
  private readonly partialCount: number;

  constructor(
    private readonly gpu: Gpu,
    options: { n: number; segments: readonly NormSegment[] } & VariantOptions,
  ) {
    const { n, segments } = options;
    check(Number.isInteger(n) && n >= 1 && n < 2 ** 31, () => `segment norms: n must be an integer in [1, 2^31), got ${n}`);
    check(segments.length >= 1, 'segment norms: segments is empty');
    segments.forEach((s, i) => {
      const what = s.name ? `'${s.name}'` : `segment ${i}`;
      check(Number.isInteger(s.offset) && s.offset >= 0, () => `segment norms: ${what} offset must be a non-negative integer, got ${s.offset}`);
      check(Number.isInteger(s.length) && s.length >= 1, () => `segment norms: ${what} length must be a positive integer, got ${s.length}`);
      check(s.offset + s.length <= n, () => `segment norms: ${what} ends at float ${s.offset + s.length}, past the buffer's ${n}`);
    });
    const { subgroups, maxPartials } = resolveVariant(gpu, options);
    this.n = n;
    this.count = segments.length;
    const { chunk } = reducePartition(segments.reduce((t, s) => t + s.length, 0), maxPartials);
    const chunks: number[] = [];
    const perSegment: number[] = [];
    for (const s of segments) {
      const first = chunks.length / 2;
      for (let start = s.offset; start < s.offset + s.length; start += chunk) chunks.push(start, Math.min(start + chunk, s.offset + s.length));
      perSegment.push(first, chunks.length / 2);
    }
    this.partialCount = chunks.length / 2;
    const variant = { WG, SUBGROUPS: subgroups, SUMSQ: true, MAXABS: false };
    this.stage1 = gpu.pipelines.get(reduceShader, 'reduce_partials', { ...variant, FINAL: false, RANGES: true });
    this.stage2 = gpu.pipelines.get(reduceShader, 'reduce_final', { ...variant, FINAL: true, RANGES: true });
    this.stage3 = gpu.pipelines.get(reduceShader, 'reduce_final', { ...variant, FINAL: true, RANGES: false });
    // Uniform layouts as in Reduce (n, chunk, out_index, pad); stage 1 uses n only as a bound, stage 2 out_index only.
    this.bindings = {
      params1: gpu.uniform(packUniform([['u32', n], ['u32', chunk], ['u32', 0], ['u32', 0]]), 'segment norms'),
      params2: gpu.uniform(packUniform([['u32', 0], ['u32', 0], ['u32', 0], ['u32', 0]]), 'segment norms per tensor'),
      params3: gpu.uniform(packUniform([['u32', segments.length], ['u32', 0], ['u32', 0], ['u32', 0]]), 'segment norms total'),
      partials: gpu.createBuffer(4 * this.partialCount, 'segment norms partials'),
      ranges1: gpu.upload(new Uint32Array(chunks), 'segment norms chunks'),
      ranges2: gpu.upload(new Uint32Array(perSegment), 'segment norms partials per tensor'),
    };
  }

  /**
   * Records perSegment[s] = Σ grads² over segment s, and total[0] = Σ_s perSegment[s]. perSegment must not share a
   * buffer with grads or total.
   */
  encode(pass: GPUComputePassEncoder, grads: Binding, perSegment: Binding, total: Binding): void {
    check(floatsIn(grads) >= this.n, () => `segment norms: grads ('${labelOf(grads)}') holds ${floatsIn(grads)} floats, needs ${this.n}`);
    check(floatsIn(perSegment) >= this.count, () => `segment norms: perSegment ('${labelOf(perSegment)}') holds ${floatsIn(perSegment)} floats, needs ${this.count}`);
    check(floatsIn(total) >= 1, () => `segment norms: total ('${labelOf(total)}') is empty`);
    const [g, per, tot] = [grads, perSegment, total].map((b) => ('buffer' in b ? b.buffer : b));
    check(per !== g && per !== tot && tot !== g, 'segment norms: grads, perSegment and total must be three different buffers');
    const b = this.bindings;
    dispatch(this.gpu, pass, this.stage1, [b.params1, grads, b.partials, b.ranges1], [this.partialCount]);
    dispatch(this.gpu, pass, this.stage2, [b.params2, b.partials, perSegment, b.ranges2], [this.count]);
    dispatch(this.gpu, pass, this.stage3, [b.params3, perSegment, total], [1]);
  }

  destroy(): void {
    for (const buf of Object.values(this.bindings)) this.gpu.release(buf);
  }
}
