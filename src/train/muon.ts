import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import { bufferOf, type Binding } from '../kernels/dispatch';
import { checkMatrixShape, MuonApply, MuonMomentum, NewtonSchulz5, newtonSchulzFlops } from '../kernels/muon';

/**
 * Muon for one hidden 2-D matrix W (rows, cols) that sits in the flat parameter buffer at `offset` (see
 * src/model/layout.ts); its gradient and momentum sit at the same offset of the flat gradient and momentum
 * buffers (AdamW's m buffer serves, as Muon and AdamW own disjoint tensors). One step:
 *
 *   m = μ·m + g;  u = g + μ·m (Nesterov);  O = NS5(u);  W = W − lr·wd·W − lr·√max(1, cols/rows)·O
 *
 * W is stored (in, out) as the layout stores linears (y = x·W), so √max(1, cols/rows) = √max(1, fan_out/fan_in):
 * Keller Jordan's scale for PyTorch's (out, in) weights, which makes the update's RMS 1/√fan_in for every shape.
 *
 * The kernels address the region by an element offset into whole-buffer bindings, so any float offset works
 * (no minStorageBufferOffsetAlignment constraint, no copies). As AdamW, it takes the global gradient norm²
 * (GlobalNorm or SegmentNorms) and skips the step, m and W untouched, when that is NaN or Inf.
 */
export interface MuonHyper {
  lr: number;
  /** μ, the momentum coefficient. */
  momentum: number;
  /** Decoupled weight decay λ (W −= lr·λ·W), 0 for none. */
  weightDecay: number;
}

export const MUON_DEFAULTS: Readonly<MuonHyper> = { lr: 0.02, momentum: 0.95, weightDecay: 0 };

export interface MuonRegion {
  /** First float of the matrix in the flat buffers (any non-negative integer). */
  offset: number;
  rows: number;
  cols: number;
  /** For error messages. */
  name?: string;
}

/**
 * Muon's update scale √max(1, cols/rows) for W (rows = fan_in, cols = fan_out): an orthogonal O has RMS
 * 1/√max(rows, cols), so the scaled update's RMS is 1/√rows whatever the shape.
 */
export function muonScale(rows: number, cols: number): number {
  return Math.sqrt(Math.max(1, cols / rows));
}

function validateHyper(h: MuonHyper): void {
  const bad = (what: string, v: number, rule: string) => () => `muon: ${what} must be ${rule}, got ${v}`;
  check(Number.isFinite(h.lr) && h.lr >= 0, bad('lr', h.lr, 'a finite number ≥ 0'));
  check(Number.isFinite(h.momentum) && h.momentum >= 0 && h.momentum < 1, bad('momentum', h.momentum, 'in [0, 1)'));
  check(Number.isFinite(h.weightDecay) && h.weightDecay >= 0, bad('weightDecay', h.weightDecay, 'a finite number ≥ 0'));
}

export class MuonStep {
  readonly region: Readonly<MuonRegion>;
  /** Floats the flat buffers hold. */
  readonly n: number;
  private current: MuonHyper;
  private readonly ns: NewtonSchulz5;
  private readonly ownsNs: boolean;
  private readonly momentum: MuonMomentum;
  private readonly apply: MuonApply;
  /** u, then NS5(u) in place. */
  private readonly update: GPUBuffer;
  private readonly ownsUpdate: boolean;

  /**
   * `newtonSchulz`: an instance of the region's shape to share between matrices of that shape (its scratch is
   * reused; the caller destroys it). Without it the step makes and owns one. `update`: likewise a shared scratch
   * buffer of at least rows·cols floats for u (steps encoded in order reuse it; the caller releases it).
   */
  constructor(
    private readonly gpu: Gpu,
    options: { n: number; region: MuonRegion; hyper?: Partial<MuonHyper>; newtonSchulz?: NewtonSchulz5; update?: GPUBuffer },
  ) {
    const { n, region } = options;
    const what = region.name ? `'${region.name}'` : 'the region';
    check(Number.isInteger(n) && n >= 1 && n < 2 ** 32, () => `muon: n must be a positive integer below 2^32, got ${n}`);
    check(Number.isInteger(region.offset) && region.offset >= 0, () => `muon: ${what} offset must be a non-negative integer, got ${region.offset}`);
    checkMatrixShape(gpu, region.name ? `muon '${region.name}'` : 'muon region', region);
    const length = region.rows * region.cols;
    check(region.offset + length <= n, () => `muon: ${what} (${region.rows}x${region.cols} at float ${region.offset}) ends at float ${region.offset + length}, past the buffers' ${n}`);
    const shared = options.newtonSchulz;
    check(
      !shared || (shared.rows === region.rows && shared.cols === region.cols),
      () => `muon: the shared NewtonSchulz5 is ${shared!.rows}x${shared!.cols} but ${what} is ${region.rows}x${region.cols}`,
    );
    const sharedUpdate = options.update;
    check(
      !sharedUpdate || sharedUpdate.size >= 4 * length,
      () => `muon: the shared update buffer ('${sharedUpdate!.label}') holds ${Math.floor(sharedUpdate!.size / 4)} floats; ${what} needs ${length}`,
    );
    this.current = { ...MUON_DEFAULTS, ...options.hyper };
    validateHyper(this.current);
    this.region = { ...region };
    this.n = n;
    const made = gpu.trackAllocations();
    const kernels: { destroy(): void }[] = [];
    try {
      this.update = sharedUpdate ?? gpu.createBuffer(4 * length, region.name ? `muon ${region.name} update` : 'muon update');
      this.ns = shared ?? new NewtonSchulz5(gpu, region);
      if (!shared) kernels.push(this.ns);
      this.momentum = new MuonMomentum(gpu, { offset: region.offset, length }, this.current.momentum);
      kernels.push(this.momentum);
      this.apply = new MuonApply(gpu, { offset: region.offset, length }, ...this.applyScalars());
    } catch (e) {
      kernels.forEach((k) => k.destroy());
      made.releaseAll();
      throw e;
    } finally {
      made.stop();
    }
    this.ownsNs = !shared;
    this.ownsUpdate = !sharedUpdate;
  }

  get hyper(): Readonly<MuonHyper> {
    return this.current;
  }

  /** decay = 1 − lr·λ and step = lr·scale, in float64 before the uniform rounds them. */
  private applyScalars(): [number, number] {
    const { lr, weightDecay } = this.current;
    return [1 - lr * weightDecay, lr * muonScale(this.region.rows, this.region.cols)];
  }

  /** Updates any subset of the hyper-parameters; applies to command buffers submitted after the call. */
  setHyper(h: Partial<MuonHyper>): void {
    const next = { ...this.current, ...h };
    validateHyper(next);
    const muChanged = next.momentum !== this.current.momentum;
    this.current = next;
    if (muChanged) this.momentum.setMu(next.momentum);
    this.apply.set(...this.applyScalars());
  }

  /**
   * Records one step on the region of params, grads and momentum (flat buffers of n floats, three different
   * buffers). normSq[0]: the global gradient norm²; NaN or Inf skips the step (it may share a buffer with grads'
   * other statistics, not with params or momentum).
   */
  encode(pass: GPUComputePassEncoder, params: Binding, grads: Binding, momentum: Binding, normSq: Binding): void {
    const bufs = [params, grads, momentum].map(bufferOf);
    check(new Set(bufs).size === 3, 'muon: params, grads and momentum must be three different buffers');
    this.momentum.encode(pass, grads, momentum, this.update, normSq);
    this.ns.encode(pass, this.update, this.update);
    this.apply.encode(pass, this.update, params, normSq);
  }

  destroy(): void {
    if (this.ownsNs) this.ns.destroy();
    this.momentum.destroy();
    this.apply.destroy();
    if (this.ownsUpdate) this.gpu.release(this.update);
  }
}

/**
 * Muon over many matrices of the flat buffers (the trainer's group: src/model/param-groups.ts's muonMatrices). One
 * NewtonSchulz5 and one update buffer serve all matrices of a shape: steps encoded in order reuse that scratch.
 */
export class MuonGroup {
  readonly steps: readonly MuonStep[];
  /** Newton–Schulz FLOPs of one step over every matrix (src/kernels/muon.ts's newtonSchulzFlops, summed). */
  readonly flops: number;
  private readonly shared: { ns: NewtonSchulz5; update: GPUBuffer }[] = [];

  constructor(
    private readonly gpu: Gpu,
    options: { n: number; matrices: readonly MuonRegion[]; hyper?: Partial<MuonHyper> },
  ) {
    const made = gpu.trackAllocations();
    const steps: MuonStep[] = [];
    try {
      const byShape = new Map<string, { ns: NewtonSchulz5; update: GPUBuffer }>();
      for (const region of options.matrices) {
        const key = `${region.rows}x${region.cols}`;
        let s = byShape.get(key);
        if (!s) {
          checkMatrixShape(gpu, region.name ? `muon '${region.name}'` : 'muon region', region);
          s = { ns: new NewtonSchulz5(gpu, region), update: gpu.createBuffer(4 * region.rows * region.cols, `muon ${key} update`) };
          byShape.set(key, s);
          this.shared.push(s);
        }
        steps.push(new MuonStep(gpu, { n: options.n, region, hyper: options.hyper, newtonSchulz: s.ns, update: s.update }));
      }
    } catch (e) {
      steps.forEach((s) => s.destroy());
      this.shared.forEach((s) => s.ns.destroy());
      made.releaseAll();
      throw e;
    } finally {
      made.stop();
    }
    this.steps = steps;
    this.flops = steps.reduce((sum, s) => sum + newtonSchulzFlops(s.region.rows, s.region.cols), 0);
  }

  /** Sets every matrix's hyper-parameters; applies to command buffers submitted after the call. */
  setHyper(h: Partial<MuonHyper>): void {
    for (const s of this.steps) s.setHyper(h);
  }

  /** One step of every matrix (see MuonStep.encode); a NaN or Inf normSq[0] skips them all. */
  encode(pass: GPUComputePassEncoder, params: Binding, grads: Binding, momentum: Binding, normSq: Binding): void {
    for (const s of this.steps) s.encode(pass, params, grads, momentum, normSq);
  }

  destroy(): void {
    this.steps.forEach((s) => s.destroy());
    for (const s of this.shared) {
      s.ns.destroy();
      this.gpu.release(s.update);
    }
  }
}
