import source from '../../shaders/norm.wgsl?raw';
import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import type { ShaderSource } from '../gpu/pipelines';
import type { ShaderParams } from '../gpu/preprocess';
import { assertCount, assertHolds, assertNoAlias, bufferOf, ceilDiv, dispatch, grid1d, packUniform, type Binding } from './dispatch';
import { choicesOf, type NormMapping } from './tuning';

/**
 * RMSNorm and LayerNorm (shaders/norm.wgsl). RMSNorm: y = x · rstd · w with rstd = 1/√(mean(x²) + eps) per row;
 * LayerNorm: y = (x − mean) · rstd · gain + bias with rstd = 1/√(var + eps). Their backwards give dx, and the
 * parameters' gradients reduced over rows deterministically in two passes: per-workgroup partials, then a
 * fixed-order sum. Both share the row mappings (tiling) and the backward's scratch scheme.
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
  /** Workgroups of the row pass (rows are strided over them); by default up to 512 (16 with one invocation per row). For tests. */
  groups?: number;
  /** Force a row mapping (tests cover both the GPU and the CPU-emulation paths on any adapter). */
  tiling?: RmsNormTiling;
}

/** Invocations per workgroup of the row kernels. */
const WG = 256;
/** Most workgroups the backward launches (rows are strided over them). */
const MAX_GROUPS = 512;
/** With one invocation per row (the 'row' mapping): rows per workgroup, most backward workgroups. */
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
 * A row mapping (kernels/tuning.ts): 'shared', for GPUs: about 4 vectors per invocation, at most WG invocations per
 * row, the rest of the workgroup on more rows; 'row': one invocation per row, no barriers, for devices where one
 * barrier costs about as much as a row (CPU emulation: N=1024 C=256 forward ~4 ms instead of ~140 ms with 16
 * invocations per row on SwiftShader). The autotuner measures which one a device takes.
 */
export function rowMapping(mapping: NormMapping, C: number): RmsNormTiling {
  if (mapping === 'row') return { tpr: 1, rpw: CPU_RPW };
  const cv = C % 4 === 0 ? C / 4 : C;
  let tpr = 1;
  while (tpr < Math.ceil(cv / 4) && tpr < WG) tpr *= 2;
  return { tpr, rpw: WG / tpr };
}

function tiling(gpu: Gpu, C: number, force?: RmsNormTiling): Tiling {
  const vec = C % 4 === 0 ? 4 : 1;
  const cv = C / vec;
  if (force) {
    check(Number.isInteger(Math.log2(force.tpr)) && force.tpr * force.rpw <= WG && force.rpw >= 1, () => `norm: tiling ${JSON.stringify(force)} needs a power-of-two tpr and tpr·rpw <= ${WG}`);
  }
  const { tpr, rpw } = force ?? rowMapping(choicesOf(gpu).norm, C);
  const maxv = tpr === 1 ? 1 : Math.ceil(cv / tpr);
  // shared memory for combining holds tpr·maxv vectors: only when several invocations share a row (so few barriers
  // per row) and it fits comfortably
  const combine = tpr > 1 && rpw > 1 && tpr * maxv * vec * 4 <= 8192;
  return { vec, cv, tpr, rpw, maxv, combine };
}

function params(t: Tiling, C: number, kind: Kind, flags: Record<string, boolean>): ShaderParams {
  return {
    TPR: t.tpr, RPW: t.rpw, MAXV: t.maxv, CV: t.cv, PW: PARTS[kind] * t.cv, C_F: `${C}.0`, VT: t.vec === 4 ? 'vec4<f32>' : 'f32', VEC4: t.vec === 4,
    LAYER: kind === 'layernorm', FORWARD: false, BACKWARD: false, DWEIGHT: false, ROWS_SHARED: t.tpr > 1, COMBINE: t.combine,
    ACCUM_DX: false, ACCUM_DW: false, ...flags,
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

type Kind = 'rmsnorm' | 'layernorm';
/** Vectors of a partial row per vector of a row: dweight, and for LayerNorm dbias beside it. */
const PARTS: Record<Kind, number> = { rmsnorm: 1, layernorm: 2 };

/** The forward's pipeline, uniform and grid, shared by RMSNorm and LayerNorm. */
class ForwardPass {
  readonly shape: Readonly<Required<RmsNormShape>>;
  readonly pipeline: GPUComputePipeline;
  readonly uniform: GPUBuffer;
  readonly grid: [number, number];

  constructor(gpu: Gpu, kind: Kind, name: string, shape: RmsNormShape, force?: RmsNormTiling) {
    const s = validate(name, shape);
    this.shape = s;
    const t = tiling(gpu, s.C, force);
    this.pipeline = gpu.pipelines.get(normShader, `${kind}_forward`, params(t, s.C, kind, { FORWARD: true }));
    this.uniform = gpu.uniform(packUniform([['u32', s.N], ['f32', s.eps], ['u32', 0], ['u32', 0]]), `${kind} N=${s.N} C=${s.C}`);
    this.grid = grid1d(gpu, ceilDiv(s.N, t.rpw));
  }
}

/**
 * The backward's two dispatches, shared by RMSNorm and LayerNorm: rows (dx and per-workgroup partial rows of the
 * parameters' gradients), then the fixed-order sum of the partials. Allocates its scratch unless given one.
 */
class BackwardPasses {
  readonly shape: Readonly<Required<RmsNormShape>>;
  readonly scratch: GPUBuffer;
  private readonly rowPipeline: GPUComputePipeline;
  private readonly dweightPipeline: GPUComputePipeline;
  private readonly rowUniform: GPUBuffer;
  private readonly dweightUniform: GPUBuffer;
  private readonly groups: number;
  private readonly dweightGrid: number;
  private readonly ownsScratch: boolean;

  static scratchBytes(gpu: Gpu, kind: Kind, shape: RmsNormShape, options: Pick<RmsNormBackwardOptions, 'groups' | 'tiling'>): number {
    return backwardGroups(tiling(gpu, shape.C, options.tiling), shape.N, options.groups).P * PARTS[kind] * shape.C * 4;
  }

  constructor(
    private readonly gpu: Gpu,
    kind: Kind,
    name: string,
    shape: RmsNormShape,
    options: Pick<RmsNormBackwardOptions, 'accumulateDx' | 'scratch' | 'groups' | 'tiling'> & { accumulateParams?: boolean },
  ) {
    const s = validate(name, shape);
    this.shape = s;
    const t = tiling(gpu, s.C, options.tiling);
    const { G, P } = backwardGroups(t, s.N, options.groups);
    assertCount(name, 'groups', G);
    this.groups = G;
    // the scratch is checked (or made) first: a pipeline or uniform made before a throw would be left behind
    const need = P * PARTS[kind] * s.C * 4;
    const label = `${kind} backward N=${s.N} C=${s.C}`;
    if (options.scratch) {
      check(options.scratch.size >= need, () => `${name}: scratch '${options.scratch!.label}' has ${options.scratch!.size} bytes, needs ${need}`);
      this.scratch = options.scratch;
      this.ownsScratch = false;
    } else {
      this.scratch = gpu.createBuffer(need, `${label} scratch`);
      this.ownsScratch = true;
    }
    this.rowPipeline = gpu.pipelines.get(normShader, `${kind}_backward`, params(t, s.C, kind, { BACKWARD: true, ACCUM_DX: options.accumulateDx ?? false }));
    this.dweightPipeline = gpu.pipelines.get(normShader, 'norm_dweight', params(t, s.C, kind, { DWEIGHT: true, ACCUM_DW: options.accumulateParams ?? false }));
    this.rowUniform = gpu.uniform(packUniform([['u32', s.N], ['u32', G], ['u32', 0], ['u32', 0]]), label);
    this.dweightUniform = gpu.uniform(packUniform([['u32', P], ['u32', 0], ['u32', 0], ['u32', 0]]), `${label} dweight`);
    this.dweightGrid = ceilDiv(PARTS[kind] * t.cv, 32);
  }

  /** `rows`: the row pass's bindings after the uniform, without the scratch; `sums`: the parameters' gradients. */
  encode(pass: GPUComputePassEncoder, rows: Binding[], sums: Binding[]): void {
    dispatch(this.gpu, pass, this.rowPipeline, [this.rowUniform, ...rows, this.scratch], [this.groups]);
    dispatch(this.gpu, pass, this.dweightPipeline, [this.dweightUniform, this.scratch, ...sums], [this.dweightGrid]);
  }

  destroy(): void {
    this.gpu.release(this.rowUniform);
    this.gpu.release(this.dweightUniform);
    if (this.ownsScratch) this.gpu.release(this.scratch);
  }
}

/** x (N, C), weight (C) → y (N, C), rstd (N) (saved for the backward). y must not alias x. */
export class RmsNormForward {
  readonly shape: Readonly<Required<RmsNormShape>>;
  /** Napkin count: 2 per element for the sum of squares, 2 for the scaling. */
  readonly flops: number;
  private readonly pass: ForwardPass;

  constructor(
    private readonly gpu: Gpu,
    shape: RmsNormShape,
    options: { tiling?: RmsNormTiling } = {},
  ) {
    this.pass = new ForwardPass(gpu, 'rmsnorm', 'rmsNormForward', shape, options.tiling);
    this.shape = this.pass.shape;
    this.flops = 4 * this.shape.N * this.shape.C;
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
    dispatch(this.gpu, pass, this.pass.pipeline, [this.pass.uniform, x, weight, y, rstd], this.pass.grid);
  }

  destroy(): void {
    this.gpu.release(this.pass.uniform);
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
  private readonly passes: BackwardPasses;

  /** Bytes of scratch the backward of this shape needs on `gpu` (P partial rows of C floats). */
  static scratchBytes(gpu: Gpu, shape: RmsNormShape, options: Pick<RmsNormBackwardOptions, 'groups' | 'tiling'> = {}): number {
    return BackwardPasses.scratchBytes(gpu, 'rmsnorm', shape, options);
  }

  constructor(gpu: Gpu, shape: RmsNormShape, options: RmsNormBackwardOptions = {}) {
    this.passes = new BackwardPasses(gpu, 'rmsnorm', 'rmsNormBackward', shape, { ...options, accumulateParams: options.accumulateDweight });
    this.shape = this.passes.shape;
    this.flops = 10 * this.shape.N * this.shape.C;
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
    const scratch = this.passes.scratch;
    assertNoAlias(k, 'dx', dx, inputs);
    assertNoAlias(k, 'scratch', scratch, { ...inputs, dx });
    // dweight is bound only in the second dispatch, beside the scratch
    assertNoAlias(k, 'dweight', dweight, { scratch });
    this.passes.encode(pass, [x, weight, rstd, dy, dx], [dweight]);
  }

  destroy(): void {
    this.passes.destroy();
  }
}

/** LayerNorm's shape: as RMSNorm's (eps is added to the biased variance). */
export type LayerNormShape = RmsNormShape;

export interface LayerNormBackwardOptions extends Omit<RmsNormBackwardOptions, 'accumulateDweight' | 'scratch'> {
  /** dgain += result and dbias += result (gradient accumulation over micro-batches) instead of writing them. Default false. */
  accumulateDparams?: boolean;
  /** Scratch for the partial rows of dgain and dbias, at least LayerNormBackward.scratchBytes(...) bytes; may be shared as RMSNorm's. */
  scratch?: GPUBuffer;
}

/**
 * LayerNorm (shaders/norm.wgsl, LAYER): x (N, C), gain (C), bias (C) → y = (x − mean)·rstd·gain + bias (N, C),
 * and mean (N), rstd (N) saved for the backward; rstd = 1/√(var + eps) with the biased variance (as PyTorch).
 * The outputs must not alias the inputs.
 */
export class LayerNormForward {
  readonly shape: Readonly<Required<LayerNormShape>>;
  /** Napkin count: 1 per element for the mean, 3 for the variance, 4 for the scaling and shift. */
  readonly flops: number;
  private readonly pass: ForwardPass;

  constructor(
    private readonly gpu: Gpu,
    shape: LayerNormShape,
    options: { tiling?: RmsNormTiling } = {},
  ) {
    this.pass = new ForwardPass(gpu, 'layernorm', 'layerNormForward', shape, options.tiling);
    this.shape = this.pass.shape;
    this.flops = 8 * this.shape.N * this.shape.C;
  }

  encode(pass: GPUComputePassEncoder, x: Binding, gain: Binding, bias: Binding, y: Binding, mean: Binding, rstd: Binding): void {
    const { N, C } = this.shape;
    const k = 'layerNormForward';
    assertHolds(k, 'x', x, N * C);
    assertHolds(k, 'gain', gain, C);
    assertHolds(k, 'bias', bias, C);
    assertHolds(k, 'y', y, N * C);
    assertHolds(k, 'mean', mean, N);
    assertHolds(k, 'rstd', rstd, N);
    const inputs = { x, gain, bias };
    assertNoAlias(k, 'y', y, inputs);
    assertNoAlias(k, 'mean', mean, { ...inputs, y });
    assertNoAlias(k, 'rstd', rstd, { ...inputs, y, mean });
    dispatch(this.gpu, pass, this.pass.pipeline, [this.pass.uniform, x, gain, bias, y, mean, rstd], this.pass.grid);
  }

  destroy(): void {
    this.gpu.release(this.pass.uniform);
  }
}

/**
 * dy, x, gain, mean, rstd → dx (N, C), dgain (C) and dbias (C); dx written or accumulated, dgain and dbias both
 * written or both accumulated, as the options say. Two dispatches, as RMSNorm's: rows (dx, with two row sums,
 * and per-workgroup partial rows of dgain and dbias), then the fixed-order sum of the partials.
 */
export class LayerNormBackward {
  readonly shape: Readonly<Required<LayerNormShape>>;
  /** Napkin count: ~14 per element (x̂, the two sums, dx, dgain, dbias). */
  readonly flops: number;
  private readonly passes: BackwardPasses;

  /** Bytes of scratch the backward of this shape needs on `gpu` (P partial rows of 2·C floats). */
  static scratchBytes(gpu: Gpu, shape: LayerNormShape, options: Pick<LayerNormBackwardOptions, 'groups' | 'tiling'> = {}): number {
    return BackwardPasses.scratchBytes(gpu, 'layernorm', shape, options);
  }

  constructor(gpu: Gpu, shape: LayerNormShape, options: LayerNormBackwardOptions = {}) {
    this.passes = new BackwardPasses(gpu, 'layernorm', 'layerNormBackward', shape, { ...options, accumulateParams: options.accumulateDparams });
    this.shape = this.passes.shape;
    this.flops = 14 * this.shape.N * this.shape.C;
  }

  encode(
    pass: GPUComputePassEncoder,
    x: Binding, gain: Binding, mean: Binding, rstd: Binding, dy: Binding, dx: Binding, dgain: Binding, dbias: Binding,
  ): void {
    const { N, C } = this.shape;
    const k = 'layerNormBackward';
    assertHolds(k, 'x', x, N * C);
    assertHolds(k, 'gain', gain, C);
    assertHolds(k, 'mean', mean, N);
    assertHolds(k, 'rstd', rstd, N);
    assertHolds(k, 'dy', dy, N * C);
    assertHolds(k, 'dx', dx, N * C);
    assertHolds(k, 'dgain', dgain, C);
    assertHolds(k, 'dbias', dbias, C);
    const inputs = { x, gain, mean, rstd, dy };
    const scratch = this.passes.scratch;
    assertNoAlias(k, 'dx', dx, inputs);
    assertNoAlias(k, 'scratch', scratch, { ...inputs, dx });
    // dgain and dbias are bound only in the second dispatch, beside the scratch; they may be two ranges of one
    // buffer (a model's flat gradients): WebGPU refuses writable bindings only where their ranges overlap
    assertNoAlias(k, 'dgain', dgain, { scratch });
    assertNoAlias(k, 'dbias', dbias, { scratch });
    const range = (b: Binding) => ('buffer' in b ? [b.offset, b.offset + b.size] : [0, b.size]);
    const [g0, g1] = range(dgain);
    const [b0, b1] = range(dbias);
    check(
      bufferOf(dgain) !== bufferOf(dbias) || g1 <= b0 || b1 <= g0,
      () => `${k}: dbias must not share a buffer with dgain where their ranges overlap (WebGPU forbids overlapping writable bindings in one dispatch)`,
    );
    this.passes.encode(pass, [x, gain, mean, rstd, dy, dx], [dgain, dbias]);
  }

  destroy(): void {
    this.passes.destroy();
  }
}

/**
 * out (cols) = Σ over rows of x (rows, cols), written or added (accumulate): a linear's bias gradient, the column
 * sum of dY over the B·T rows. It is the norms' second pass (norm_dweight) run over x as its partial rows, so it
 * sums in the same fixed order, needs no scratch and shares that pipeline with RMSNorm's backward of width cols.
 */
export class ColumnSum {
  readonly shape: Readonly<{ rows: number; cols: number; accumulate: boolean }>;
  /** One add per element. */
  readonly flops: number;
  private readonly pipeline: GPUComputePipeline;
  private readonly uniform: GPUBuffer;
  private readonly grid: number;

  constructor(
    private readonly gpu: Gpu,
    shape: { rows: number; cols: number; accumulate?: boolean },
  ) {
    const k = 'columnSum';
    assertCount(k, 'rows', shape.rows);
    assertCount(k, 'cols', shape.cols);
    check(shape.rows * shape.cols < 2 ** 32, () => `${k}: rows·cols = ${shape.rows * shape.cols} exceeds 32-bit indexing`);
    const t = tiling(gpu, shape.cols);
    const grid = ceilDiv(t.cv, 32);
    check(grid <= gpu.limits.maxComputeWorkgroupsPerDimension, () => `${k}: cols ${shape.cols} needs ${grid} workgroups; this device allows ${gpu.limits.maxComputeWorkgroupsPerDimension}`);
    this.shape = { rows: shape.rows, cols: shape.cols, accumulate: shape.accumulate ?? false };
    this.flops = shape.rows * shape.cols;
    this.grid = grid;
    this.pipeline = gpu.pipelines.get(normShader, 'norm_dweight', params(t, shape.cols, 'rmsnorm', { DWEIGHT: true, ACCUM_DW: this.shape.accumulate }));
    this.uniform = gpu.uniform(packUniform([['u32', shape.rows], ['u32', 0], ['u32', 0], ['u32', 0]]), `columnSum ${shape.rows}x${shape.cols}`);
  }

  encode(pass: GPUComputePassEncoder, x: Binding, out: Binding): void {
    const { rows, cols } = this.shape;
    const k = 'columnSum';
    assertHolds(k, 'x', x, rows * cols);
    assertHolds(k, 'out', out, cols);
    assertNoAlias(k, 'out', out, { x });
    dispatch(this.gpu, pass, this.pipeline, [this.uniform, x, out], [this.grid]);
  }

  destroy(): void {
    this.gpu.release(this.uniform);
  }
}
