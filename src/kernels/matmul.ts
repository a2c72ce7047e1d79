import source from '../../shaders/matmul.wgsl?raw';
import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import type { ShaderSource } from '../gpu/pipelines';
import type { ShaderParams } from '../gpu/preprocess';
import { assertHolds, assertNoAlias, ceilDiv, dispatch, dispatchIndirect, packUniform, type Binding } from './dispatch';
import { choicesOf, matmulClass, type TiledChoice } from './tuning';

export const matmulShader: ShaderSource = { name: 'matmul', code: source };

/**
 * C[b] (M, N) = alpha · op(A[b]) · op(B[b]) [+ bias] [+ C[b] if accumulate], for b < batch.
 * op(A) is (M, K): A stored (M, K), or (K, M) with transA. op(B) is (K, N): B stored (K, N), or (N, K) with transB.
 * One kernel serves a linear layer's forward (Y = X·W), both gradients (dX = dY·Wᵀ, dW += Xᵀ·dY) and
 * batched expert FFNs (batch = experts, strides per expert).
 */
export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  /** Number of matrix products, default 1. */
  batch?: number;
  /** A stored (K, M) instead of (M, K). */
  transA?: boolean;
  /** B stored (N, K) instead of (K, N). */
  transB?: boolean;
  /** Add a bias (N) broadcast over rows; it is the encode call's fifth binding. */
  bias?: boolean;
  /** C += result (gradient accumulation) instead of C = result. */
  accumulate?: boolean;
  /** Scale of the product (not of the bias or the accumulated C), default 1. */
  alpha?: number;
  /** Batch strides in elements (0 = the same matrix for every batch); default dense (M·K, K·N, M·N). */
  strideA?: number;
  strideB?: number;
  strideC?: number;
  /** Batch stride of the bias in elements, default 0 (one bias for all batches); N for per-expert biases. */
  strideBias?: number;
  /** Element offsets into the bindings, default 0. */
  offsetA?: number;
  offsetB?: number;
  offsetC?: number;
  offsetBias?: number;
}

/** Which kernel runs: the one-output-per-invocation reference path, or the tiled one with scalar or vec4 bindings. */
export type MatmulVariant = 'naive' | 'tiled' | 'tiled-vec4';

/** Work split of the tiled kernel: see TiledChoice in tuning.ts. */
export type MatmulTiling = TiledChoice;

export interface MatmulOptions {
  /** Force a variant (tests and benchmarks); by default the fastest one the shape allows. */
  variant?: MatmulVariant;
  /** Override parts of the default tiling (benchmark experiments). */
  tiling?: Partial<MatmulTiling>;
}

type Resolved = Required<MatmulShape>;

const U32_LIMIT = 2 ** 32;

function resolve(s: MatmulShape): Resolved {
  const batch = s.batch ?? 1;
  return {
    M: s.M,
    N: s.N,
    K: s.K,
    batch,
    transA: s.transA ?? false,
    transB: s.transB ?? false,
    bias: s.bias ?? false,
    accumulate: s.accumulate ?? false,
    alpha: s.alpha ?? 1,
    strideA: s.strideA ?? s.M * s.K,
    strideB: s.strideB ?? s.K * s.N,
    strideC: s.strideC ?? s.M * s.N,
    strideBias: s.strideBias ?? 0,
    offsetA: s.offsetA ?? 0,
    offsetB: s.offsetB ?? 0,
    offsetC: s.offsetC ?? 0,
    offsetBias: s.offsetBias ?? 0,
  };
}

function validate(s: Resolved): void {
  const shape = `M=${s.M} N=${s.N} K=${s.K} batch=${s.batch}`;
  for (const f of ['M', 'N', 'K', 'batch'] as const) {
    check(Number.isInteger(s[f]) && s[f] >= 1, () => `matmul: ${f} must be a positive integer, got ${s[f]} (${shape})`);
  }
  for (const f of ['strideA', 'strideB', 'strideC', 'strideBias', 'offsetA', 'offsetB', 'offsetC', 'offsetBias'] as const) {
    check(Number.isInteger(s[f]) && s[f] >= 0 && s[f] < U32_LIMIT, () => `matmul: ${f} must be an integer in [0, 2^32), got ${s[f]}`);
  }
  check(Number.isFinite(s.alpha), () => `matmul: alpha must be a finite number, got ${s.alpha}`);
  check(
    s.batch === 1 || s.strideC >= s.M * s.N,
    () => `matmul: strideC ${s.strideC} is smaller than one output matrix (M·N = ${s.M * s.N}); batches would overwrite each other`,
  );
  const spans = spansOf(s);
  for (const [what, n] of [['a', s.M * s.K], ['b', s.K * s.N], ['c', s.M * s.N]] as const) {
    check(spans[what] < U32_LIMIT, () => `matmul: ${what.toUpperCase()} spans ${spans[what]} elements, more than 32-bit indices reach (${n} per matrix)`);
  }
}

/** Elements each binding spans (the end of its last batch's matrix): what a, b, c and bias must hold. */
export interface MatmulSpans {
  a: number;
  b: number;
  c: number;
  bias: number;
}

function spansOf(s: Resolved): MatmulSpans {
  const last = s.batch - 1;
  return {
    a: s.offsetA + last * s.strideA + s.M * s.K,
    b: s.offsetB + last * s.strideB + s.K * s.N,
    c: s.offsetC + last * s.strideC + s.M * s.N,
    bias: s.offsetBias + last * s.strideBias + s.N,
  };
}

/** Elements each binding of `shape` spans, defaults (dense strides, zero offsets) filled in. */
export function matmulSpans(shape: MatmulShape): MatmulSpans {
  return spansOf(resolve(shape));
}

/** Uniform layout (64 bytes): M N K batch u32; strideA B C bias u32; offsetA B C bias u32; alpha f32, flags u32 (bias 1, accumulate 2, transA 4, transB 8), 2 pad. */
function packParams(s: Resolved): ArrayBuffer {
  return packUniform([
    ['u32', s.M], ['u32', s.N], ['u32', s.K], ['u32', s.batch],
    ['u32', s.strideA], ['u32', s.strideB], ['u32', s.strideC], ['u32', s.strideBias],
    ['u32', s.offsetA], ['u32', s.offsetB], ['u32', s.offsetC], ['u32', s.offsetBias],
    ['f32', s.alpha], ['u32', (s.bias ? 1 : 0) | (s.accumulate ? 2 : 0) | (s.transA ? 4 : 0) | (s.transB ? 8 : 0)], ['u32', 0], ['u32', 0],
  ]);
}

const NAIVE_WG = 16;

// The bias binding when there is none (the shader reads it only when the bias flag is set).
const placeholders = new WeakMap<Gpu, GPUBuffer>();
function placeholder(gpu: Gpu): GPUBuffer {
  let buf = placeholders.get(gpu);
  if (!buf) {
    buf = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE, label: 'matmul: no bias' });
    placeholders.set(gpu, buf);
  }
  return buf;
}

/** True when A, B, C (and bias) can be bound as vec4 arrays: contiguous dimensions, offsets and strides all multiples of 4. */
export function vec4Eligible(shape: MatmulShape): boolean {
  const s = resolve(shape);
  const rowA = s.transA ? s.M : s.K;
  const rowB = s.transB ? s.K : s.N;
  const fields = [rowA, rowB, s.N, s.offsetA, s.offsetB, s.offsetC, s.strideA, s.strideB, s.strideC];
  if (s.bias) fields.push(s.offsetBias, s.strideBias);
  return fields.every((v) => v % 4 === 0);
}

/**
 * The tiling a product of `flops` takes on this device: the one the autotuner measured fastest there for its class
 * of work (kernels/tuning.ts, autotune.ts), or a GPU's default (16x16 invocations of 4x4 outputs) on a device never
 * tuned. What the candidates cost on SwiftShader, where register blocks and subgroup sharing win because every
 * per-lane memory read is paid for: bench/suites/matmul.ts.
 */
export function defaultTiling(gpu: Gpu, flops = Infinity): MatmulTiling {
  return { ...choicesOf(gpu).matmul[matmulClass(flops)] };
}

export class Matmul {
  /** 2·M·N·K·batch: one multiply and one add per term. */
  readonly flops: number;
  readonly variant: MatmulVariant;
  readonly tiling: MatmulTiling;
  readonly shape: Readonly<Resolved>;
  /** Rows of C one workgroup covers: the grid's y step (sizes an indirect dispatch over fewer rows). */
  readonly rowsPerWorkgroup: number;
  /** The workgroup grid [x (columns), y (rows), z (batch)] of `encode`. */
  readonly grid: readonly [number, number, number];
  private readonly pipeline: GPUComputePipeline;
  private readonly uniform: GPUBuffer;

  constructor(
    private readonly gpu: Gpu,
    shape: MatmulShape,
    options: MatmulOptions = {},
  ) {
    const s = resolve(shape);
    validate(s);
    this.shape = s;
    this.flops = 2 * s.M * s.N * s.K * s.batch;
    const canVec4 = vec4Eligible(s);
    const variant = options.variant ?? (canVec4 ? 'tiled-vec4' : 'tiled');
    check(variant !== 'tiled-vec4' || canVec4, () => `matmul: the vec4 variant needs the contiguous dimension of A, B and C and every offset and stride to be multiples of 4 (${JSON.stringify(shape)})`);
    this.variant = variant;
    const t: MatmulTiling = { ...defaultTiling(gpu, this.flops), ...options.tiling };
    check([4, 8, 16].includes(t.tm) && [4, 8].includes(t.tn), () => `matmul: tiling tm must be 4, 8 or 16 and tn 4 or 8, got ${t.tm}, ${t.tn}`);
    check(!t.subgroupA || (gpu.features.subgroups && t.wgX % 4 === 0), () => 'matmul: subgroupA needs the subgroups feature and wgX a multiple of 4');
    check(t.bk > 0 && t.bk % 4 === 0, () => `matmul: tiling bk must be a positive multiple of 4, got ${t.bk}`);
    check(t.wgX * t.wgY <= gpu.limits.maxComputeInvocationsPerWorkgroup, () => `matmul: workgroup ${t.wgX}x${t.wgY} exceeds this device's ${gpu.limits.maxComputeInvocationsPerWorkgroup} invocations`);
    const sharedBytes = 4 * t.bk * (t.wgY * t.tm + t.wgX * t.tn);
    check(sharedBytes <= gpu.limits.maxComputeWorkgroupStorageSize, () => `matmul: tiling stages ${sharedBytes} bytes in workgroup memory; this device allows ${gpu.limits.maxComputeWorkgroupStorageSize}`);
    this.tiling = t;
    const params: ShaderParams = {
      NAIVE: variant === 'naive',
      VEC4: variant === 'tiled-vec4',
      WG_X: t.wgX,
      WG_Y: t.wgY,
      TM: t.tm,
      TN: t.tn,
      TM8: t.tm >= 8,
      TM16: t.tm === 16,
      TN8: t.tn === 8,
      SUBGROUP_A: t.subgroupA,
      BK: t.bk,
    };
    if (variant === 'naive') {
      this.pipeline = gpu.pipelines.get(matmulShader, 'matmul_naive', params);
      this.rowsPerWorkgroup = NAIVE_WG;
      this.grid = [ceilDiv(s.N, NAIVE_WG), ceilDiv(s.M, NAIVE_WG), s.batch];
    } else {
      this.rowsPerWorkgroup = t.wgY * t.tm;
      this.pipeline = gpu.pipelines.get(matmulShader, 'matmul_tiled', params);
      this.grid = [ceilDiv(s.N, t.wgX * t.tn), ceilDiv(s.M, t.wgY * t.tm), s.batch];
    }
    this.uniform = gpu.uniform(packParams(s), `matmul ${s.M}x${s.N}x${s.K}`);
  }

  /** Records the product into `pass`. `c` must not share a buffer with the inputs; `bias` is required iff shape.bias. */
  encode(pass: GPUComputePassEncoder, a: Binding, b: Binding, c: Binding, bias?: Binding): void {
    dispatch(this.gpu, pass, this.pipeline, this.bindings(a, b, c, bias), this.grid);
  }

  /**
   * Like `encode`, with the grid read from `args` at `argsOffset` bytes (three u32: x, y, z) when the GPU runs it:
   * a grid with fewer rows of workgroups (y < grid[1]) computes only the first y · rowsPerWorkgroup rows of C (MoE
   * inference: an expert's rows). x must be grid[0] and z at most grid[2]; the rows left out are not written.
   */
  encodeIndirect(pass: GPUComputePassEncoder, a: Binding, b: Binding, c: Binding, args: GPUBuffer, argsOffset: number, bias?: Binding): void {
    dispatchIndirect(this.gpu, pass, this.pipeline, this.bindings(a, b, c, bias), args, argsOffset);
  }

  private bindings(a: Binding, b: Binding, c: Binding, bias: Binding | undefined): Binding[] {
    const s = this.shape;
    if (s.bias) check(bias !== undefined, 'matmul: this Matmul was made with bias: true, so encode needs a bias binding');
    else check(bias === undefined, 'matmul: a bias binding was given but the shape has bias: false');
    const inputs: Record<string, Binding> = bias ? { a, b, bias } : { a, b };
    const spans = spansOf(s);
    const kernel = `matmul M=${s.M} N=${s.N} K=${s.K} batch=${s.batch}`;
    for (const [name, binding] of Object.entries({ ...inputs, c })) assertHolds(kernel, name, binding, spans[name as keyof MatmulSpans]);
    assertNoAlias(kernel, 'c', c, inputs);
    return [this.uniform, a, b, c, bias ?? placeholder(this.gpu)];
  }

  /** Frees the uniform buffer (the pipeline stays cached). */
  destroy(): void {
    this.gpu.release(this.uniform);
  }
}
