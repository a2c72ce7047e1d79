/**
 * The autotuner: at first use on a device, times a few candidates of each tuned choice (tuning.ts) on a
 * representative shape and keeps the fastest, so a real GPU gets tilings measured on itself and CPU emulation
 * (SwiftShader) gets its own, without any choice made by adapter name. The result is kept in the browser's storage
 * per adapter (a TuningStore, given by the engine) so later sessions start at once; `force` measures again.
 *
 * Clock: each candidate's encodes are submitted alone and timed from submit to onSubmittedWorkDone (the same clock
 * for every candidate, nothing read back), repeated in one pass until a submit takes about TARGET_MS; candidates
 * alternate within rounds (the order rotates), a warm-up submit first (it includes the pipeline's first use).
 * A candidate over 2× the best after the first round is dropped (it cannot win; CPU emulation's slow candidates
 * cost up to a second a call); the pick is the lowest median of ROUNDS rounds, except that small matmuls keep
 * the large ones' tiling unless another is clearly faster (PREFER_MARGIN, in the median and in every round).
 */
import type { Gpu } from '../gpu/device';
import { median } from '../gpu/timing';
import { Rng } from '../lib/rng';
import { Matmul } from './matmul';
import { RmsNormForward, rowMapping } from './norm';
import { Reduce } from './reduce';
import {
  setTuning, tuningKey, tuningOf, TUNING_VERSION, validTuning,
  type KernelChoices, type KernelTuning, type MatmulClass, type NormMapping, type TiledChoice, type TuningMeasurement,
} from './tuning';

/** Where tunings are kept between sessions (the engine's IndexedDB store; tests and tools may pass their own). */
export interface TuningStore {
  load(key: string): Promise<unknown>;
  save(key: string, tuning: KernelTuning): Promise<void>;
  clear(): Promise<void>;
}

export interface TuneOptions {
  store?: TuningStore;
  /** Measure even when this device or the store already has a tuning (the page's "measure again"). */
  force?: boolean;
  /** Called after each measured choice: how many of how many are done. */
  onProgress?: (done: number, total: number) => void;
  /** A storage failure (full, private mode): the tuning is still used for this session. */
  onStoreError?: (e: unknown) => void;
}

const ROUNDS = 3;
/**
 * A small matmul keeps the large class's tiling unless another is this much faster, in its median and in every
 * round: each distinct tiling is more pipelines to compile for every model (about 5 s on CPU emulation for the
 * three transposes, measured 2026-12-08), which a near-tie does not pay back.
 */
const PREFER_MARGIN = 0.05;
const TARGET_MS = 8;
const MAX_REPS = 64;

export interface Candidate {
  name: string;
  /**
   * Builds the kernel and its buffers (inside the pipeline cache's parallel build); `check`, where given, runs it
   * once and says whether its result is right on this device (a wrong candidate is never picked).
   */
  make(gpu: Gpu): { encode(pass: GPUComputePassEncoder): void; destroy(): void; check?(): Promise<boolean> };
}

/** Deterministic values in [-0.5, 0.5): the timing and checking inputs. */
function filler(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.nextFloat() - 0.5);
}

async function submitMs(gpu: Gpu, encode: (pass: GPUComputePassEncoder) => void, reps: number): Promise<number> {
  const enc = gpu.device.createCommandEncoder({ label: 'autotune' });
  const pass = enc.beginComputePass();
  for (let i = 0; i < reps; i++) encode(pass);
  pass.end();
  const buf = enc.finish();
  const t0 = performance.now();
  gpu.queue.submit([buf]);
  await gpu.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / reps;
}

/**
 * Whether samples `a` (one per round) beat `b` clearly: a's median at most (1 − PREFER_MARGIN) of b's, and a at
 * most that much of b in every round. Exported for tests.
 */
export function clearlyFaster(a: readonly number[], b: readonly number[]): boolean {
  const f = 1 - PREFER_MARGIN;
  return a.length === b.length && a.length > 0 && median(a) <= f * median(b) && a.every((x, r) => x <= f * b[r]!);
}

/**
 * Times the candidates (see the file's comment); returns each one's median ms (null when dropped or wrong), which
 * were wrong, and the pick's index. Exported for tests.
 */
export async function race(gpu: Gpu, candidates: readonly Candidate[], prefer = -1): Promise<{ ms: (number | null)[]; wrong: boolean[]; pick: number }> {
  const made = await gpu.pipelines.build(() => candidates.map((c) => c.make(gpu)));
  try {
    const wrong: boolean[] = [];
    for (const m of made) {
      // the warm-up (the first use of each pipeline), with the check where there is one
      if (m.check) wrong.push(!(await m.check()));
      else wrong.push(((await submitMs(gpu, m.encode, 1)), false));
    }
    if (wrong.every(Boolean)) throw new Error('autotune: every candidate gave a wrong result on this device');
    const second: number[] = [];
    for (const m of made) second.push(await submitMs(gpu, m.encode, 1)); // size the repetitions on a warm call
    const reps = made.map((_, i) => Math.max(1, Math.min(MAX_REPS, Math.ceil(TARGET_MS / Math.max(1e-3, second[i]!)))));
    const samples: number[][] = made.map(() => []);
    const alive = made.map((_, i) => !wrong[i]);
    for (let r = 0; r < ROUNDS; r++) {
      for (let j = 0; j < made.length; j++) {
        const i = (j + r) % made.length;
        if (alive[i]) samples[i]!.push(await submitMs(gpu, made[i]!.encode, reps[i]!));
      }
      if (r === 0) {
        const best = Math.min(...samples.map((s, i) => (alive[i] ? s[0]! : Infinity)));
        samples.forEach((s, i) => (alive[i] = alive[i]! && s[0]! <= 2 * best));
      }
    }
    const ms = samples.map((s, i) => (alive[i] ? median(s) : null));
    let pick = -1;
    ms.forEach((m, i) => {
      if (m !== null && (pick < 0 || m < ms[pick]!)) pick = i;
    });
    // The preferred candidate stays unless another beats it clearly: by PREFER_MARGIN in its median and in every
    // round (the rounds alternate the candidates, so a burst of load hits both in the same round; one quick
    // sample each is noisy on a shared CPU, and a near-tie won by noise would cost compiles for nothing).
    const kept = prefer >= 0 ? ms[prefer] : null;
    if (kept != null && pick !== prefer && !clearlyFaster(samples[pick]!, samples[prefer]!)) pick = prefer;
    return { ms, wrong, pick };
  } finally {
    for (const m of made) m.destroy();
  }
}

function buffers(gpu: Gpu, sizes: readonly number[]): GPUBuffer[] {
  return sizes.map((n, i) => gpu.upload(filler(n, i + 1), `autotune input ${i}`));
}

const tileName = (t: TiledChoice) => `${t.wgY * t.tm}x${t.wgX * t.tn} (${t.wgY}x${t.wgX} of ${t.tm}x${t.tn}${t.subgroupA ? ', subgroup A' : ''})`;

const products = new Map<string, { expected: Float64Array; scale: Float64Array }>();

/** A·B of the filler inputs (row-major A (M, K), B (K, N)) in float64, and Σ|a| per row (the error's scale); kept per shape. */
function product(M: number, N: number, K: number): { expected: Float64Array; scale: Float64Array } {
  const key = `${M}x${N}x${K}`;
  let p = products.get(key);
  if (!p) {
    const a = filler(M * K, 1); // as buffers() fills inputs 0 and 1
    const b = filler(K * N, 2);
    const expected = new Float64Array(M * N);
    const scale = new Float64Array(M);
    for (let i = 0; i < M; i++) {
      for (let k = 0; k < K; k++) {
        const x = a[i * K + k]!;
        scale[i]! += Math.abs(x);
        for (let j = 0; j < N; j++) expected[i * N + j]! += x * b[k * N + j]!;
      }
    }
    p = { expected, scale };
    products.set(key, p);
  }
  return p;
}

/** C within 1e-4 relative of the float64 product (a NaN left unwritten fails). */
function productIsRight(c: Float32Array, { M, N, K }: { M: number; N: number; K: number }): boolean {
  const { expected, scale } = product(M, N, K);
  for (let i = 0; i < M * N; i++) {
    if (!(Math.abs(c[i]! - expected[i]!) <= 1e-4 * (scale[Math.floor(i / N)]! + 1))) return false;
  }
  return true;
}

/** The matmul tilings tried: the GPU default, large register blocks (CPU emulation's), and a middle one. */
export function matmulCandidates(gpu: Gpu): TiledChoice[] {
  const sub = gpu.features.subgroups;
  const all: TiledChoice[] = [
    { wgX: 16, wgY: 16, tm: 4, tn: 4, bk: 16, subgroupA: false },
    { wgX: 8, wgY: 8, tm: 16, tn: 8, bk: 16, subgroupA: sub },
    { wgX: 8, wgY: 8, tm: 8, tn: 8, bk: 16, subgroupA: false },
  ];
  return all.filter((t) => t.wgX * t.wgY <= gpu.limits.maxComputeInvocationsPerWorkgroup && 4 * t.bk * (t.wgY * t.tm + t.wgX * t.tn) <= gpu.limits.maxComputeWorkgroupStorageSize);
}

/** Representative shapes: a toy layer (512 rows, 64 → 128) and a 256³ product. */
export const MATMUL_SHAPES: Record<MatmulClass, { M: number; N: number; K: number }> = {
  small: { M: 512, N: 128, K: 64 },
  large: { M: 256, N: 256, K: 256 },
};
const NORM_SHAPE = { N: 1024, C: 256 };
const REDUCE_N = 2 ** 19;
const REDUCE_CANDIDATES = [64, 256, 1024];
const NORM_CANDIDATES: NormMapping[] = ['shared', 'row'];

function matmulRace(cls: MatmulClass, tilings: TiledChoice[]): Candidate[] {
  const { M, N, K } = MATMUL_SHAPES[cls];
  return tilings.map((tiling) => ({
    name: tileName(tiling),
    make(gpu) {
      const k = new Matmul(gpu, { M, N, K }, { tiling });
      const [a, b, c] = buffers(gpu, [M * K, K * N, M * N]) as [GPUBuffer, GPUBuffer, GPUBuffer];
      const encode = (pass: GPUComputePassEncoder) => k.encode(pass, a, b, c);
      return {
        encode,
        destroy: () => {
          [a, b, c].forEach((x) => gpu.release(x));
          k.destroy();
        },
        async check() {
          gpu.queue.writeBuffer(c, 0, new Float32Array(M * N).fill(NaN)); // an element it fails to write stays NaN
          await submitMs(gpu, encode, 1);
          return productIsRight(await gpu.readFloat32(c), { M, N, K });
        },
      };
    },
  }));
}

/**
 * The device's kernel tuning: the one it already has, else the store's for this adapter, else measured now (and
 * stored). Sets it on the device (tuning.ts), so kernels built afterwards use it.
 */
export async function tuneKernels(gpu: Gpu, options: TuneOptions = {}): Promise<KernelTuning> {
  const key = tuningKey(gpu);
  if (!options.force) {
    const have = tuningOf(gpu);
    if (have) return have;
    if (options.store) {
      let stored: unknown = null;
      try {
        stored = await options.store.load(key);
      } catch (e) {
        options.onStoreError?.(e);
      }
      const valid = validTuning(stored, gpu);
      if (valid) {
        const t = { ...valid, cached: true };
        setTuning(gpu, t);
        return t;
      }
    }
  }
  const t0 = performance.now();
  const measured: TuningMeasurement[] = [];
  const total = 4;
  options.onProgress?.(0, total);
  const tilings = matmulCandidates(gpu);
  const matmul = {} as Record<MatmulClass, TiledChoice>;
  for (const cls of ['large', 'small'] as const) {
    const cands = matmulRace(cls, tilings);
    const r = await race(gpu, cands, cls === 'small' ? tilings.indexOf(matmul.large) : -1);
    matmul[cls] = tilings[r.pick]!;
    const { M, N, K } = MATMUL_SHAPES[cls];
    measured.push({ op: `matmul-${cls}`, shape: `${M}x${N}x${K}`, candidates: cands.map((c, i) => ({ name: c.name, ms: r.ms[i]!, ...(r.wrong[i] ? { wrong: true } : {}) })), pick: cands[r.pick]!.name });
    options.onProgress?.(measured.length, total);
  }
  const norm = await race(gpu, NORM_CANDIDATES.map((mapping) => ({
    name: mapping,
    make(g) {
      const k = new RmsNormForward(g, NORM_SHAPE, { tiling: rowMapping(mapping, NORM_SHAPE.C) });
      const [x, w, y, rstd] = buffers(g, [NORM_SHAPE.N * NORM_SHAPE.C, NORM_SHAPE.C, NORM_SHAPE.N * NORM_SHAPE.C, NORM_SHAPE.N]) as GPUBuffer[];
      return { encode: (pass) => k.encode(pass, x!, w!, y!, rstd!), destroy: () => { [x, w, y, rstd].forEach((b) => g.release(b!)); k.destroy(); } };
    },
  })));
  measured.push({ op: 'norm', shape: `rmsnorm forward ${NORM_SHAPE.N}x${NORM_SHAPE.C}`, candidates: NORM_CANDIDATES.map((name, i) => ({ name, ms: norm.ms[i]! })), pick: NORM_CANDIDATES[norm.pick]! });
  options.onProgress?.(measured.length, total);
  const reduce = await race(gpu, REDUCE_CANDIDATES.map((maxPartials) => ({
    name: `${maxPartials} partials`,
    make(g) {
      const k = new Reduce(g, { n: REDUCE_N, op: 'sumsq', maxPartials });
      const [x, out] = buffers(g, [REDUCE_N, 4]) as GPUBuffer[];
      return { encode: (pass) => k.encode(pass, x!, out!), destroy: () => { g.release(x!); g.release(out!); k.destroy(); } };
    },
  })));
  measured.push({ op: 'reduce', shape: `sum of squares of ${REDUCE_N}`, candidates: REDUCE_CANDIDATES.map((p, i) => ({ name: `${p} partials`, ms: reduce.ms[i]! })), pick: `${REDUCE_CANDIDATES[reduce.pick]} partials` });
  options.onProgress?.(measured.length, total);

  const choices: KernelChoices = { matmul, norm: NORM_CANDIDATES[norm.pick]!, reduceMaxPartials: REDUCE_CANDIDATES[reduce.pick]! };
  const tuning: KernelTuning = { version: TUNING_VERSION, key, choices, measured, tunedAt: Date.now(), ms: performance.now() - t0 };
  setTuning(gpu, tuning);
  if (options.store) {
    try {
      await options.store.save(key, tuning);
    } catch (e) {
      options.onStoreError?.(e);
    }
  }
  return tuning;
}
