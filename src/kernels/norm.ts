import source from '../../shaders/norm.wgsl?raw';
import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import type { ShaderSource } from '../gpu/pipelines';
import type { ShaderParams } from '../gpu/preprocess';
import { assertCount, assertHolds, assertNoAlias, ceilDiv, dispatch, grid1d, packUniform, type Binding } from './dispatch';

/**
 * RMSNorm (shaders/norm.wgsl): y = x · rstd · w with rstd = 1/√(mean(x²) + eps) per row, and its backward
 * (dx, and dweight reduced over rows deterministically in two passes: per-workgroup partials, then a
 * fixed-order sum).
 */
export const normShader: ShaderSource = { name: 'norm', code: source };

export interface RmsNormShape {
  /** Rows (B·T). */
  N: number;
  /** Channels per row. */
  C: number;
  /** Added to mean(x²) before the square root, default 1e-5. */
  eps?: number;
}

export interface RmsNormBackwardOptions {
  /** dx += result (the residual stream's gradient already holds the skip path) instead of dx = result. Default false. */
  accumulateDx?: boolean;
  /** dweight += result (gradient accumulation over micro-batches) instead of dweight = result. Default false. */
  accumulateDweight?: boolean;
  /**
   * Scratch for the dweight partial rows, at least RmsNormBackward.scratchBytes(gpu, shape, options) bytes; backward
   * kernels recorded one after another (the layers of a model) can share one. Default: the kernel allocates its own.
   */
  scratch?: GPUBuffer;
  /** Workgroups of the row pass (rows are strided over them); by default up to 512 (16 on SwiftShader). For tests. */
  groups?: number;
  /** Force a row mapping (tests cover both the GPU and the CPU-emulation paths on any adapter). */
  tiling?: RmsNormTiling;
}

/** Invocations per workgroup of the row kernels. */
const WG = 256;
/** Most workgroups the backward launches (rows are strided over them). */
const MAX_GROUPS = 512;
/** On CPU-emulated adapters (one invocation per row): rows per workgroup, most backward workgroups. */
const CPU_RPW = 16;
const CPU_MAX_GROUPS = 16;

/** How rows map onto invocations; exposed so tests can run every path on any adapter. */
export interface RmsNormTiling {
  /** Invocations per row, a power of two; 1 is the barrier-free one-invocation-per-row path. */
  tpr: number;
  /** Rows per workgroup. */
  rpw: number;
}

interface Tiling extends RmsNormTiling {
  vec: 1 | 4;
  /** Vectors per row. */
  cv: number;
  /** Vectors per invocation. */
  maxv: number;
  /** Sum a workgroup's rows of dweight in shared memory (else one partial row per row slot). */
  combine: boolean;
}

/**
 * GPUs: about 4 vectors per invocation, at most WG invocations per row, the rest of the workgroup on more
 * rows. CPU-emulated adapters (SwiftShader), where one barrier costs about as much as a row: one invocation
 * per row (N=1024 C=256 forward: ~4 ms instead of ~140 ms with 16 invocations per row).
 */
function tiling(gpu: Gpu, C: number, force?: RmsNormTiling): Tiling {
  const vec = C % 4 === 0 ? 4 : 1;
  const cv = C / vec;
  let tpr = 1;
  let rpw: number;
  if (force) {
    check(Number.isInteger(Math.log2(force.tpr)) && force.tpr * force.rpw <= WG && force.rpw >= 1, () => `rmsnorm: tiling ${JSON.stringify(force)} needs a power-of-two tpr and tpr·rpw <= ${WG}`);
    ({ tpr, rpw } = force);
  } else if (gpu.adapter.architecture === 'swiftshader') {
    rpw = CPU_RPW;
  } else {
    while (tpr < Math.ceil(cv / 4) && tpr < WG) tpr *= 2;
    rpw = WG / tpr;
  }
  const maxv = tpr === 1 ? 1 : Math.ceil(cv / tpr);
  // shared memory for combining holds tpr·maxv vectors: only when several invocations share a row (so few barriers
  // per row) and it fits comfortably
  const combine = tpr > 1 && rpw > 1 && tpr * maxv * vec * 4 <= 8192;
  return { vec, cv, tpr, rpw, maxv, combine };
}

function params(t: Tiling, C: number, flags: Record<string, boolean>): ShaderParams {
  return {
    TPR: t.tpr, RPW: t.rpw, MAXV: t.maxv, CV: t.cv, C_F: `${C}.0`, VT: t.vec === 4 ? 'vec4<f32>' : 'f32', VEC4: t.vec === 4,
    FORWARD: false, BACKWARD: false, DWEIGHT: false, ROWS_SHARED: t.tpr > 1, COMBINE: t.combine, ACCUM_DX: false, ACCUM_DW: false, ...flags,
  };
}

/** Backward launch: G workgroups, P partial rows of dweight. */
function backwardGroups(t: Tiling, N: number, groups?: number): { G: number; P: number } {
  const cpu = t.tpr === 1;
  const G = groups ?? Math.min(ceilDiv(N, t.rpw), cpu ? CPU_MAX_GROUPS : MAX_GROUPS);
  return { G, P: t.combine ? G : G * t.rpw };
}

function validate(kernel: string, s: RmsNormShape): Required<RmsNormShape> {
  assertCount(kernel, 'N', s.N);
  assertCount(kernel, 'C', s.C);
  check(s.N * s.C < 2 ** 32, () => `${kernel}: N·C = ${s.N * s.C} exceeds 32-bit indexing`);
  const eps = s.eps ?? 1e-5;
  check(Number.isFinite(eps) && eps >= 0, () => `${kernel}: eps must be a finite number >= 0, got ${eps}`);
  return { N: s.N, C: s.C, eps };
}

/** x (N, C), weight (C) → y (N, C), rstd (N) (saved for the backward). y must not alias x. */
export class RmsNormForward {
  readonly shape: Readonly<Required<RmsNormShape>>;
  /** Napkin count: 2 per element for the sum of squares, 2 for the scaling. */
  readonly flops: number;
  private readonly pipeline: GPUComputePipeline;
  private readonly uniform: GPUBuffer;
  private readonly grid: [number, number];

  constructor(
    private readonly gpu: Gpu,
    shape: RmsNormShape,
    options: { tiling?: RmsNormTiling } = {},
  ) {
    const s = validate('rmsNormForward', shape);
    this.shape = s;
    this.flops = 4 * s.N * s.C;
    const t = tiling(gpu, s.C, options.tiling);
    this.pipeline = gpu.pipelines.get(normShader, 'rmsnorm_forward', params(t, s.C, { FORWARD: true }));
    this.uniform = gpu.uniform(packUniform([['u32', s.N], ['f32', s.eps], ['u32', 0], ['u32', 0]]), `rmsnorm N=${s.N} C=${s.C}`);
    this.grid = grid1d(gpu, ceilDiv(s.N, t.rpw));
  }

  encode(pass: GPUComputePassEncoder, x: Binding, weight: Binding, y: Binding, rstd: Binding): void {
    const { N, C } = this.shape;
    const k = 'rmsNormForward';
    assertHolds(k, 'x', x, N * C);
    assertHolds(k, 'weight', weight, C);
    assertHolds(k, 'y', y, N * C);
    assertHolds(k, 'rstd', rstd, N);
    assertNoAlias(k, 'y', y, { x, weight });
    assertNoAlias(k, 'rstd', rstd, { x, weight, y });
    dispatch(this.gpu, pass, this.pipeline, [this.uniform, x, weight, y, rstd], this.grid);
  }

  destroy(): void {
    this.gpu.release(this.uniform);
  }
}

/**
 * dy, x, weight, rstd → dx (N, C) and dweight (C); each written or accumulated as the options say. Two
 * dispatches: rows (dx and per-workgroup dweight partials), then the fixed-order sum of the partials.
 */
export class RmsNormBackward {
  readonly shape: Readonly<Required<RmsNormShape>>;
  /** Napkin count: ~10 per element (dot, dx, dweight). */
  readonly flops: number;
  private readonly rowPipeline: GPUComputePipeline;
  private readonly dweightPipeline: GPUComputePipeline;
  private readonly rowUniform: GPUBuffer;
  private readonly dweightUniform: GPUBuffer;
  private readonly groups: number;
  private readonly dweightGrid: number;
  private readonly scratch: GPUBuffer;
  private readonly ownsScratch: boolean;

  /** Bytes of scratch the backward of this shape needs on `gpu` (P partial rows of C floats). */
  static scratchBytes(gpu: Gpu, shape: RmsNormShape, options: Pick<RmsNormBackwardOptions, 'groups' | 'tiling'> = {}): number {
    return backwardGroups(tiling(gpu, shape.C, options.tiling), shape.N, options.groups).P * shape.C * 4;
  }

  constructor(
    private readonly gpu: Gpu,
    shape: RmsNormShape,
    options: RmsNormBackwardOptions = {},
  ) {
    const s = validate('rmsNormBackward', shape);
    this.shape = s;
    this.flops = 10 * s.N * s.C;
    const t = tiling(gpu, s.C, options.tiling);
    const { G, P } = backwardGroups(t, s.N, options.groups);
    assertCount('rmsNormBackward', 'groups', G);
    this.groups = G;
    this.rowPipeline = gpu.pipelines.get(normShader, 'rmsnorm_backward', params(t, s.C, { BACKWARD: true, ACCUM_DX: options.accumulateDx ?? false }));
    this.dweightPipeline = gpu.pipelines.get(normShader, 'rmsnorm_dweight', params(t, s.C, { DWEIGHT: true, ACCUM_DW: options.accumulateDweight ?? false }));
    const label = `rmsnorm backward N=${s.N} C=${s.C}`;
    this.rowUniform = gpu.uniform(packUniform([['u32', s.N], ['u32', G], ['u32', 0], ['u32', 0]]), label);
    this.dweightUniform = gpu.uniform(packUniform([['u32', P], ['u32', 0], ['u32', 0], ['u32', 0]]), `${label} dweight`);
    this.dweightGrid = ceilDiv(t.cv, 32);
    const need = P * s.C * 4;
    if (options.scratch) {
      check(options.scratch.size >= need, () => `rmsNormBackward: scratch '${options.scratch!.label}' has ${options.scratch!.size} bytes, needs ${need}`);
      this.scratch = options.scratch;
      this.ownsScratch = false;
    } else {
      this.scratch = gpu.createBuffer(need, `${label} scratch`);
      this.ownsScratch = true;
    }
  }

  encode(pass: GPUComputePassEncoder, x: Binding, weight: Binding, rstd: Binding, dy: Binding, dx: Binding, dweight: Binding): void {
    const { N, C } = this.shape;
    const k = 'rmsNormBackward';
    assertHolds(k, 'x', x, N * C);
    assertHolds(k, 'weight', weight, C);
    assertHolds(k, 'rstd', rstd, N);
    assertHolds(k, 'dy', dy, N * C);
    assertHolds(k, 'dx', dx, N * C);
    assertHolds(k, 'dweight', dweight, C);
    const inputs = { x, weight, rstd, dy };
    assertNoAlias(k, 'dx', dx, inputs);
    assertNoAlias(k, 'scratch', this.scratch, { ...inputs, dx });
    // dweight is bound only in the second dispatch, beside the scratch
    assertNoAlias(k, 'dweight', dweight, { scratch: this.scratch });
    dispatch(this.gpu, pass, this.rowPipeline, [this.rowUniform, x, weight, rstd, dy, dx, this.scratch], [this.groups]);
    dispatch(this.gpu, pass, this.dweightPipeline, [this.dweightUniform, this.scratch, dweight], [this.dweightGrid]);
  }

  destroy(): void {
    this.gpu.release(this.rowUniform);
    this.gpu.release(this.dweightUniform);
    if (this.ownsScratch) this.gpu.release(this.scratch);
  }
}
