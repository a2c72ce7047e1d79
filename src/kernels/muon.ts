import source from '../../shaders/muon.wgsl?raw';
import type { Gpu } from '../gpu/device';
import { check, LimitExceededError } from '../gpu/errors';
import type { ShaderSource } from '../gpu/pipelines';
import { assertCount, assertHolds, assertNoAlias, bufferOf, ceilDiv, dispatch, grid1d, packUniform, type Binding } from './dispatch';
import { Axpy } from './elementwise';
import { Matmul } from './matmul';
import { Reduce } from './reduce';

/**
 * Muon's orthogonalisation: the quintic Newton–Schulz iteration (Keller Jordan's coefficients), composed of
 * Matmul, Axpy and Reduce, plus the pointwise steps of shaders/muon.wgsl.
 *
 *   X = G / (‖G‖_F + 1e-7);  five times: A = X·Xᵀ;  B = b·A + c·A·A;  X = a·X + B·X
 *
 * G is (rows, cols), row-major. With rows > cols the iteration runs on Xᵀ (r = min(rows, cols) keeps A and B
 * r × r); no transpose is ever materialised: A = Xᵀ·X (transA) and Xᵀ ← a·Xᵀ + B·Xᵀ, i.e. X ← a·X + X·Bᵀ (transB).
 * The singular values σ of G map to p⁵(σ / ‖G‖_F), p(x) = a·x + b·x³ + c·x⁵; these coefficients do not converge
 * to 1: σ/‖G‖_F ≥ 0.01 lands in [0.6818, 1.1344], smaller ones are lifted about a⁵ ≈ 486-fold, 0 stays 0
 * (tests/unit/muon-reference.test.ts measures the band).
 */
export const muonShader: ShaderSource = { name: 'muon', code: source };

export const NS5_COEFFICIENTS = { a: 3.4445, b: -4.775, c: 2.0315 } as const;
export const NS5_STEPS = 5;
/** Added to ‖G‖_F so a zero matrix stays zero instead of becoming 0 / 0. */
export const NS5_EPS = 1e-7;

const WG = 256;

/** FLOPs of one NS5 call: per step 2·r·r·c (A) + 2·r·r·r (A·A) + 2·r·r·c (B·X), r = min, c = max of the sides. */
export function newtonSchulzFlops(rows: number, cols: number): number {
  const r = Math.min(rows, cols);
  const c = Math.max(rows, cols);
  return NS5_STEPS * (2 * r * r * c + 2 * r * r * r + 2 * r * r * c);
}

export interface MatrixShape {
  rows: number;
  cols: number;
}

/**
 * Throws a ShapeError for sides that are not positive integers, and a LimitExceededError naming the longer side
 * when the matrix cannot be bound as one storage buffer on this device.
 */
export function checkMatrixShape(gpu: Gpu, kernel: string, shape: MatrixShape): void {
  assertCount(kernel, 'rows', shape.rows);
  assertCount(kernel, 'cols', shape.cols);
  const bytes = 4 * shape.rows * shape.cols;
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  if (bytes > limit) {
    const field = shape.rows >= shape.cols ? 'rows' : 'cols';
    throw new LimitExceededError(`${kernel}: a ${shape.rows}x${shape.cols} matrix needs ${bytes} bytes; this device binds at most ${limit}; shrink ${field}`, field);
  }
}

/** One entry of shaders/muon.wgsl over n elements; its uniform is (n, offset, a, b). */
class MuonPointwise {
  private readonly pipeline: GPUComputePipeline;
  private readonly uniform: GPUBuffer;
  private readonly grid: [number, number];

  constructor(
    private readonly gpu: Gpu,
    readonly n: number,
    private readonly offset: number,
    entry: 'ns_normalize' | 'muon_momentum' | 'muon_apply',
    private readonly kernel: string,
    a: number,
    b = 0,
  ) {
    assertCount(kernel, 'n', n);
    assertCount(kernel, 'offset', offset, 0);
    check(offset + n < 2 ** 32, () => `${kernel}: offset ${offset} + n ${n} exceeds 32-bit indexing`);
    const flags = { NORMALIZE: entry === 'ns_normalize', MOMENTUM: entry === 'muon_momentum', APPLY: entry === 'muon_apply' };
    this.pipeline = gpu.pipelines.get(muonShader, entry, { WG, ...flags });
    this.uniform = gpu.uniform(this.pack(a, b), `${kernel} n=${n}`);
    this.grid = grid1d(gpu, ceilDiv(n, WG));
  }

  private pack(a: number, b: number): ArrayBuffer {
    check(Number.isFinite(a) && Number.isFinite(b), () => `${this.kernel}: scalars must be finite, got ${a}, ${b}`);
    return packUniform([['u32', this.n], ['u32', this.offset], ['f32', a], ['f32', b]]);
  }

  /** Rewrites the scalars; applies to command buffers submitted after the call. */
  set(a: number, b = 0): void {
    this.gpu.queue.writeBuffer(this.uniform, 0, this.pack(a, b));
  }

  /** Binds the uniform then `bindings` in order, each checked to hold its floats; `outputs` must share no buffer with the rest. */
  run(pass: GPUComputePassEncoder, bindings: readonly [string, Binding, number][], outputs: readonly string[]): void {
    for (const [name, b, floats] of bindings) assertHolds(this.kernel, name, b, floats);
    for (const out of outputs) {
      const [, ob] = bindings.find(([k]) => k === out)!;
      assertNoAlias(this.kernel, out, ob, Object.fromEntries(bindings.filter(([k]) => k !== out).map(([k, b]) => [k, b])));
    }
    dispatch(this.gpu, pass, this.pipeline, [this.uniform, ...bindings.map(([, b]) => b)], this.grid);
  }

  /** Floats a binding of the flat buffers must hold to contain the region. */
  get end(): number {
    return this.offset + this.n;
  }

  destroy(): void {
    this.gpu.release(this.uniform);
  }
}

/** Muon's momentum for one region of the flat buffers: m = μ·m + g; u = g + μ·m (Nesterov), u dense (n floats). */
export class MuonMomentum {
  private readonly k: MuonPointwise;
  constructor(gpu: Gpu, region: { offset: number; length: number }, mu: number) {
    check(Number.isFinite(mu) && mu >= 0 && mu < 1, () => `muon momentum: mu must be in [0, 1), got ${mu}`);
    this.k = new MuonPointwise(gpu, region.length, region.offset, 'muon_momentum', 'muon momentum', mu);
  }
  /** Applies to command buffers submitted after the call. */
  setMu(mu: number): void {
    check(Number.isFinite(mu) && mu >= 0 && mu < 1, () => `muon momentum: mu must be in [0, 1), got ${mu}`);
    this.k.set(mu);
  }
  /** Does nothing when normSq[0] (the global gradient norm²) is NaN or Inf. */
  encode(pass: GPUComputePassEncoder, grads: Binding, momentum: Binding, u: Binding, normSq: Binding): void {
    const k = this.k;
    k.run(pass, [['grads', grads, k.end], ['momentum', momentum, k.end], ['u', u, k.n], ['normSq', normSq, 1]], ['momentum', 'u']);
  }
  destroy(): void {
    this.k.destroy();
  }
}

/** Muon's update of one region of the flat parameters: p = decay·p − step·update (update dense, n floats). */
export class MuonApply {
  private readonly k: MuonPointwise;
  constructor(gpu: Gpu, region: { offset: number; length: number }, decay = 1, step = 0) {
    this.k = new MuonPointwise(gpu, region.length, region.offset, 'muon_apply', 'muon apply', decay, step);
  }
  /** decay = 1 − lr·wd, step = lr·scale; applies to command buffers submitted after the call. */
  set(decay: number, step: number): void {
    this.k.set(decay, step);
  }
  /** Does nothing when normSq[0] (the global gradient norm²) is NaN or Inf. */
  encode(pass: GPUComputePassEncoder, update: Binding, params: Binding, normSq: Binding): void {
    const k = this.k;
    k.run(pass, [['update', update, k.n], ['params', params, k.end], ['normSq', normSq, 1]], ['params']);
  }
  destroy(): void {
    this.k.destroy();
  }
}

/**
 * NS5 for one matrix shape. Its scratch (the normalised X and its ping-pong twin, A, B, the norm²) is made once
 * here and reused by every encode, so one instance serves every matrix of its shape (encodes run in order).
 */
export class NewtonSchulz5 {
  readonly rows: number;
  readonly cols: number;
  /** rows > cols: the iteration runs on Xᵀ. */
  readonly transposed: boolean;
  readonly flops: number;
  private readonly norm: Reduce;
  private readonly normalize: MuonPointwise;
  private readonly gram: Matmul;
  private readonly square: Matmul;
  private readonly apply: Matmul;
  private readonly addA: Axpy;
  private readonly addX: Axpy;
  private readonly scratch: { x0: GPUBuffer; x1: GPUBuffer; a: GPUBuffer; b: GPUBuffer; normSq: GPUBuffer };

  constructor(
    private readonly gpu: Gpu,
    shape: MatrixShape,
  ) {
    checkMatrixShape(gpu, 'newton-schulz', shape);
    const { rows, cols } = shape;
    this.rows = rows;
    this.cols = cols;
    this.transposed = rows > cols;
    this.flops = newtonSchulzFlops(rows, cols);
    const r = Math.min(rows, cols);
    const n = rows * cols;
    const { a, b, c } = NS5_COEFFICIENTS;
    const made = gpu.trackAllocations();
    const kernels: { destroy(): void }[] = [];
    const keep = <T extends { destroy(): void }>(k: T): T => (kernels.push(k), k);
    try {
      const label = `newton-schulz ${rows}x${cols}`;
      this.scratch = {
        x0: gpu.createBuffer(4 * n, `${label} X`),
        x1: gpu.createBuffer(4 * n, `${label} X'`),
        a: gpu.createBuffer(4 * r * r, `${label} A`),
        b: gpu.createBuffer(4 * r * r, `${label} B`),
        normSq: gpu.createBuffer(4, `${label} norm²`),
      };
      this.norm = keep(new Reduce(gpu, { n, op: 'sumsq' }));
      this.normalize = keep(new MuonPointwise(gpu, n, 0, 'ns_normalize', 'newton-schulz normalize', NS5_EPS));
      // Wide (rows ≤ cols): A = X·Xᵀ, X ← B·X. Tall: A = Xᵀ·X, X ← X·Bᵀ (the transposed iteration, transposed
      // back). A and B are symmetric, so A·A is taken as A·Aᵀ and B·X as Bᵀ·X: every product is then transB or
      // transA, two matmul pipelines in all (each costs seconds to compile on SwiftShader).
      this.gram = keep(this.transposed
        ? new Matmul(gpu, { M: r, N: r, K: rows, transA: true })
        : new Matmul(gpu, { M: r, N: r, K: cols, transB: true }));
      this.square = keep(new Matmul(gpu, { M: r, N: r, K: r, transB: true, alpha: c }));
      this.apply = keep(this.transposed
        ? new Matmul(gpu, { M: rows, N: cols, K: cols, transB: true })
        : new Matmul(gpu, { M: rows, N: cols, K: rows, transA: true }));
      this.addA = keep(new Axpy(gpu, r * r, b));
      this.addX = keep(new Axpy(gpu, n, a));
    } catch (e) {
      kernels.forEach((k) => k.destroy());
      made.releaseAll();
      throw e;
    } finally {
      made.stop();
    }
  }

  /**
   * Records out = NS5(g): g and out hold rows·cols floats (row-major); g is only read. out may be g itself
   * (g is last read before out is first written) but no other scratch of this instance.
   */
  encode(pass: GPUComputePassEncoder, g: Binding, out: Binding): void {
    const kernel = `newton-schulz ${this.rows}x${this.cols}`;
    const n = this.rows * this.cols;
    assertHolds(kernel, 'g', g, n);
    assertHolds(kernel, 'out', out, n);
    const s = this.scratch;
    for (const b of [s.x0, s.x1, s.a, s.b, s.normSq]) {
      check(bufferOf(g) !== b && bufferOf(out) !== b, () => `${kernel}: g and out must not be this instance's scratch ('${b.label}')`);
    }
    this.norm.encode(pass, g, s.normSq);
    this.normalize.run(pass, [['g', g, n], ['normSq', s.normSq, 1], ['x', s.x0, n]], ['x']);
    let x = s.x0;
    for (let step = 0; step < NS5_STEPS; step++) {
      const next: Binding = step === NS5_STEPS - 1 ? out : x === s.x0 ? s.x1 : s.x0;
      this.gram.encode(pass, x, x, s.a);
      this.square.encode(pass, s.a, s.a, s.b);
      this.addA.encode(pass, s.a, s.b);
      if (this.transposed) this.apply.encode(pass, x, s.b, next);
      else this.apply.encode(pass, s.b, x, next);
      this.addX.encode(pass, x, next);
      if (next !== out) x = next as GPUBuffer;
    }
  }

  destroy(): void {
    for (const k of [this.norm, this.normalize, this.gram, this.square, this.apply, this.addA, this.addX]) k.destroy();
    for (const b of Object.values(this.scratch)) this.gpu.release(b);
  }
}
