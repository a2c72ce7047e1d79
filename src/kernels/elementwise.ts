import source from '../../shaders/elementwise.wgsl?raw';
import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import type { ShaderSource } from '../gpu/pipelines';
import type { ShaderParams } from '../gpu/preprocess';
import { assertCount, assertHolds, assertNoAlias, ceilDiv, dispatch, grid1d, packUniform, type Binding } from './dispatch';

/**
 * Pointwise kernels (shaders/elementwise.wgsl): fill, residual add, scale, axpy, GELU, SwiGLU, RoPE, each
 * forward and backward. Every wrapper is made for one shape and records dispatches with `encode*`.
 * Lengths that are multiples of 4 run the vec4 variant (a quarter of the invocations, 16-byte accesses).
 */
export const elementwiseShader: ShaderSource = { name: 'elementwise', code: source };

/** Invocations per workgroup for the flat kernels (see bench/NOTES.md for the measurement behind it). */
const WG = 256;

const ENTRY_FLAGS = [
  'SIMPLE', 'FILL', 'ADD', 'SCALE', 'AXPY', 'GELU', 'GELU_FORWARD', 'GELU_BACKWARD',
  'SWIGLU', 'SWIGLU_FORWARD', 'SWIGLU_BACKWARD', 'ROPE', 'INPLACE',
] as const;
type Flag = (typeof ENTRY_FLAGS)[number];

/** Template parameters: every flag off except `on`, the vector width, the workgroup size. */
function variant(vec: 1 | 4, on: readonly Flag[]): ShaderParams {
  const p: ShaderParams = { WG, VT: vec === 4 ? 'vec4<f32>' : 'f32' };
  for (const f of ENTRY_FLAGS) p[f] = on.includes(f);
  return p;
}

/** Uniform layout (16 bytes): n u32 (in units of the vector width), value f32, pad, pad. */
function simpleParams(n: number, value: number): ArrayBuffer {
  return packUniform([['u32', n], ['f32', value], ['u32', 0], ['u32', 0]]);
}

/** Shared body of the kernels over n elements with one scalar operand. */
abstract class FlatKernel {
  protected readonly pipeline: GPUComputePipeline;
  protected readonly uniform: GPUBuffer;
  protected readonly grid: [number, number];
  /** 4 when n is a multiple of 4 (vec4 variant), else 1. */
  readonly vec: 1 | 4;

  constructor(
    protected readonly gpu: Gpu,
    readonly n: number,
    protected value: number,
    entry: string,
    flags: readonly Flag[],
    protected readonly kernel: string,
  ) {
    assertCount(kernel, 'n', n);
    check(Number.isFinite(value), () => `${kernel}: value must be finite, got ${value}`);
    this.vec = n % 4 === 0 ? 4 : 1;
    this.pipeline = gpu.pipelines.get(elementwiseShader, entry, variant(this.vec, ['SIMPLE', ...flags]));
    this.uniform = gpu.uniform(simpleParams(n / this.vec, value), `${kernel} n=${n}`);
    this.grid = grid1d(gpu, ceilDiv(n / this.vec, WG));
  }

  protected run(pass: GPUComputePassEncoder, buffers: Record<string, Binding>): void {
    for (const [name, b] of Object.entries(buffers)) assertHolds(this.kernel, name, b, this.n);
    dispatch(this.gpu, pass, this.pipeline, [this.uniform, ...Object.values(buffers)], this.grid);
  }

  /** Frees the uniform buffer (the pipeline stays cached). */
  destroy(): void {
    this.gpu.release(this.uniform);
  }
}

/** out[i] = value for i < n. */
export class Fill extends FlatKernel {
  constructor(gpu: Gpu, n: number, value: number) {
    super(gpu, n, value, 'fill', ['FILL'], 'fill');
  }
  encode(pass: GPUComputePassEncoder, out: Binding): void {
    this.run(pass, { out });
  }
}

/** out = a + b over n elements (the residual add). Backward: both inputs receive dout unchanged. */
export class Add extends FlatKernel {
  constructor(gpu: Gpu, n: number) {
    super(gpu, n, 0, 'add', ['ADD'], 'add');
  }
  encode(pass: GPUComputePassEncoder, a: Binding, b: Binding, out: Binding): void {
    assertNoAlias('add', 'out', out, { a, b });
    this.run(pass, { a, b, out });
  }
}

/**
 * x = value · x in place (loss scaling, 1/microbatches). `setValue` rewrites the uniform: it applies to
 * command buffers submitted after the call, so use one Scale per distinct value within a submit.
 */
export class Scale extends FlatKernel {
  constructor(gpu: Gpu, n: number, value: number) {
    super(gpu, n, value, 'scale', ['SCALE'], 'scale');
  }
  setValue(value: number): void {
    check(Number.isFinite(value), () => `scale: value must be finite, got ${value}`);
    this.value = value;
    this.gpu.queue.writeBuffer(this.uniform, 0, simpleParams(this.n / this.vec, value));
  }
  encode(pass: GPUComputePassEncoder, x: Binding): void {
    this.run(pass, { x });
  }
}

/** y = y + value · x (gradient accumulation). `setValue` as for Scale. */
export class Axpy extends FlatKernel {
  constructor(gpu: Gpu, n: number, value: number) {
    super(gpu, n, value, 'axpy', ['AXPY'], 'axpy');
  }
  setValue(value: number): void {
    check(Number.isFinite(value), () => `axpy: value must be finite, got ${value}`);
    this.value = value;
    this.gpu.queue.writeBuffer(this.uniform, 0, simpleParams(this.n / this.vec, value));
  }
  encode(pass: GPUComputePassEncoder, x: Binding, y: Binding): void {
    assertNoAlias('axpy', 'y', y, { x });
    this.run(pass, { x, y });
  }
}

/** out = gelu(x), tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export class GeluForward extends FlatKernel {
  /** Napkin count per element: ~10 multiply-adds plus one exp. */
  static readonly FLOPS_PER_ELEMENT = 12;
  constructor(gpu: Gpu, n: number) {
    super(gpu, n, 0, 'gelu_forward', ['GELU', 'GELU_FORWARD'], 'geluForward');
  }
  encode(pass: GPUComputePassEncoder, x: Binding, out: Binding): void {
    assertNoAlias('geluForward', 'out', out, { x });
    this.run(pass, { x, out });
  }
}

/**
 * dx = gelu'(x) · dy. With `inPlace`, dx overwrites dy: encode(pass, x, dyDx) with one read_write binding;
 * otherwise encode(pass, x, dy, dx).
 */
export class GeluBackward extends FlatKernel {
  static readonly FLOPS_PER_ELEMENT = 18;
  readonly inPlace: boolean;
  constructor(gpu: Gpu, n: number, options: { inPlace?: boolean } = {}) {
    const inPlace = options.inPlace ?? false;
    super(gpu, n, 0, 'gelu_backward', ['GELU', 'GELU_BACKWARD', ...(inPlace ? (['INPLACE'] as const) : [])], 'geluBackward');
    this.inPlace = inPlace;
  }
  encode(pass: GPUComputePassEncoder, x: Binding, dy: Binding, dx?: Binding): void {
    if (this.inPlace) {
      check(dx === undefined, 'geluBackward: made with inPlace: true, so encode takes (x, dyDx) and writes dx over dy');
      assertNoAlias('geluBackward', 'dyDx', dy, { x });
      this.run(pass, { x, dyDx: dy });
    } else {
      check(dx !== undefined, 'geluBackward: encode needs (x, dy, dx); make it with inPlace: true to write dx over dy');
      assertNoAlias('geluBackward', 'dx', dx, { x, dy });
      this.run(pass, { x, dy, dx });
    }
  }
}

/** SwiGLU shapes: N rows; the input row is [gate (H) | up (H)], as one fused matmul writes it. */
export interface SwigluShape {
  N: number;
  H: number;
}

/** Uniform layout (16 bytes): n = N·H/vec u32, hv = H/vec u32, pad, pad. */
abstract class SwigluKernel {
  protected readonly pipeline: GPUComputePipeline;
  protected readonly uniform: GPUBuffer;
  protected readonly grid: [number, number];
  readonly vec: 1 | 4;

  constructor(
    protected readonly gpu: Gpu,
    readonly shape: Readonly<SwigluShape>,
    entry: string,
    protected readonly kernel: string,
  ) {
    assertCount(kernel, 'N', shape.N);
    assertCount(kernel, 'H', shape.H);
    check(2 * shape.N * shape.H < 2 ** 32, () => `${kernel}: N·2H = ${2 * shape.N * shape.H} exceeds 32-bit indexing`);
    this.vec = shape.H % 4 === 0 ? 4 : 1;
    const flags: Flag[] = ['SWIGLU', entry === 'swiglu_forward' ? 'SWIGLU_FORWARD' : 'SWIGLU_BACKWARD'];
    this.pipeline = gpu.pipelines.get(elementwiseShader, entry, variant(this.vec, flags));
    const n = (shape.N * shape.H) / this.vec;
    this.uniform = gpu.uniform(packUniform([['u32', n], ['u32', shape.H / this.vec], ['u32', 0], ['u32', 0]]), `${kernel} N=${shape.N} H=${shape.H}`);
    this.grid = grid1d(gpu, ceilDiv(n, WG));
  }

  destroy(): void {
    this.gpu.release(this.uniform);
  }
}

/** out (N, H) = silu(gate) · up, from inp (N, 2H) = [gate | up] per row. */
export class SwigluForward extends SwigluKernel {
  static readonly FLOPS_PER_OUTPUT = 6;
  constructor(gpu: Gpu, shape: SwigluShape) {
    super(gpu, { ...shape }, 'swiglu_forward', 'swigluForward');
  }
  encode(pass: GPUComputePassEncoder, inp: Binding, out: Binding): void {
    const { N, H } = this.shape;
    assertHolds(this.kernel, 'inp', inp, 2 * N * H);
    assertHolds(this.kernel, 'out', out, N * H);
    assertNoAlias(this.kernel, 'out', out, { inp });
    dispatch(this.gpu, pass, this.pipeline, [this.uniform, inp, out], this.grid);
  }
}

/** dinp (N, 2H) = [dout · up · silu'(gate) | dout · silu(gate)]; dinp is written, not accumulated. */
export class SwigluBackward extends SwigluKernel {
  static readonly FLOPS_PER_OUTPUT = 10;
  constructor(gpu: Gpu, shape: SwigluShape) {
    super(gpu, { ...shape }, 'swiglu_backward', 'swigluBackward');
  }
  encode(pass: GPUComputePassEncoder, inp: Binding, dout: Binding, dinp: Binding): void {
    const { N, H } = this.shape;
    assertHolds(this.kernel, 'inp', inp, 2 * N * H);
    assertHolds(this.kernel, 'dout', dout, N * H);
    assertHolds(this.kernel, 'dinp', dinp, 2 * N * H);
    assertNoAlias(this.kernel, 'dinp', dinp, { inp, dout });
    dispatch(this.gpu, pass, this.pipeline, [this.uniform, inp, dout, dinp], this.grid);
  }
}

/**
 * Rotary position embedding on x (B, T, NH, HS): GPT-NeoX pairs (i, i + HS/2) for i < HS/2, rotated by
 * angle (t + posOffset) · theta^(−2i/HS). Works on q and on k (NH is that tensor's head count).
 * `rowStride` (elements between consecutive (b, t) rows, default NH·HS) and `offset` (first element,
 * default 0) let it rotate q or k in place inside a fused (B, T, 3C) qkv buffer.
 */
export interface RopeShape {
  B: number;
  T: number;
  NH: number;
  HS: number;
  /** Frequency base, default 10000. */
  theta?: number;
  /**
   * Position of t = 0 (tokens already in the KV cache), default 0. Angles are reduced exactly for positions
   * below 16384 (error ~1e-6 rad); beyond that pos·freq rounds as in plain float32 (~pos·6e-8 rad).
   */
  posOffset?: number;
  rowStride?: number;
  offset?: number;
}

export interface RopeOptions {
  /**
   * true (default): rotate in place; encode takes one read_write binding (x).
   * false: read x, write out; `out` uses the same layout (rowStride, offset) and elements outside the rotated
   * heads are left as they are.
   */
  inPlace?: boolean;
}

/** Uniform layout (32 bytes): n, half, nh, T, rowStride, offset, posOffset (u32, vector units except posOffset), sign f32. */
function ropeParams(s: Required<RopeShape>, vec: number, sign: number): ArrayBuffer {
  const half = s.HS / 2;
  return packUniform([
    ['u32', (s.B * s.T * s.NH * half) / vec], ['u32', half / vec], ['u32', s.NH], ['u32', s.T],
    ['u32', s.rowStride / vec], ['u32', s.offset / vec], ['u32', s.posOffset], ['f32', sign],
  ]);
}

/**
 * inv_freq_i / 2π (turns per position) for i < HS/2, split into hi (at i) + lo (at HS/2 + i) with hi
 * rounded to 10 significant bits, so pos · hi is exact in float32 for pos < 2^14 (see the shader).
 */
export function ropeFrequencyTable(HS: number, theta: number): Float32Array {
  const half = HS / 2;
  const table = new Float32Array(HS);
  for (let i = 0; i < half; i++) {
    const turns = Math.pow(theta, (-2 * i) / HS) / (2 * Math.PI);
    const q = Math.pow(2, Math.floor(Math.log2(turns)) - 9);
    const hi = Math.round(turns / q) * q;
    table[i] = hi;
    table[half + i] = turns - hi;
  }
  return table;
}

/** RoPE forward (encodeForward) and backward (encodeBackward: the inverse rotation, −angle). */
export class Rope {
  private s: Required<RopeShape>;
  readonly inPlace: boolean;
  readonly vec: 1 | 4;
  /** Napkin count per pair: 4 multiplies, 2 adds for the rotation (sin/cos not counted). */
  readonly flops: number;
  private readonly pipeline: GPUComputePipeline;
  private readonly freqs: GPUBuffer;
  private readonly forwardUniform: GPUBuffer;
  private readonly backwardUniform: GPUBuffer;
  private readonly grid: [number, number];

  constructor(
    private readonly gpu: Gpu,
    shape: RopeShape,
    options: RopeOptions = {},
  ) {
    const s: Required<RopeShape> = {
      theta: 10000,
      posOffset: 0,
      rowStride: shape.NH * shape.HS,
      offset: 0,
      ...shape,
    };
    for (const f of ['B', 'T', 'NH', 'HS'] as const) assertCount('rope', f, s[f]);
    check(s.HS % 2 === 0, () => `rope: head size HS must be even (pairs i, i + HS/2), got ${s.HS}`);
    check(Number.isFinite(s.theta) && s.theta > 1, () => `rope: theta must be a number > 1, got ${s.theta}`);
    assertCount('rope', 'posOffset', s.posOffset, 0);
    assertCount('rope', 'offset', s.offset, 0);
    check(
      Number.isInteger(s.rowStride) && s.rowStride >= s.NH * s.HS,
      () => `rope: rowStride ${s.rowStride} is smaller than one row of heads (NH·HS = ${s.NH * s.HS})`,
    );
    check(s.T + s.posOffset < 2 ** 24, () => `rope: positions up to ${s.T + s.posOffset} are not exact in float32 (limit 2^24)`);
    check(this.elementsNeeded(s) < 2 ** 32, 'rope: tensor exceeds 32-bit indexing');
    this.s = s;
    this.inPlace = options.inPlace ?? true;
    const half = s.HS / 2;
    this.vec = half % 4 === 0 && s.rowStride % 4 === 0 && s.offset % 4 === 0 ? 4 : 1;
    this.flops = s.B * s.T * s.NH * half * 6;
    this.pipeline = gpu.pipelines.get(elementwiseShader, 'rope', variant(this.vec, this.inPlace ? ['ROPE', 'INPLACE'] : ['ROPE']));
    this.freqs = gpu.upload(ropeFrequencyTable(s.HS, s.theta), `rope freqs HS=${s.HS} theta=${s.theta}`);
    const label = `rope B=${s.B} T=${s.T} NH=${s.NH} HS=${s.HS}`;
    this.forwardUniform = gpu.uniform(ropeParams(s, this.vec, 1), label);
    this.backwardUniform = gpu.uniform(ropeParams(s, this.vec, -1), `${label} backward`);
    this.grid = grid1d(gpu, ceilDiv((s.B * s.T * s.NH * half) / this.vec, WG));
  }

  get shape(): Readonly<Required<RopeShape>> {
    return this.s;
  }

  private elementsNeeded(s: Required<RopeShape> = this.s): number {
    return s.offset + (s.B * s.T - 1) * s.rowStride + s.NH * s.HS;
  }

  /**
   * Moves t = 0 to position `posOffset` (KV-cache decoding). Rewrites the uniforms: it applies to command
   * buffers submitted after the call.
   */
  setPosOffset(posOffset: number): void {
    assertCount('rope', 'posOffset', posOffset, 0);
    check(this.s.T + posOffset < 2 ** 24, () => `rope: positions up to ${this.s.T + posOffset} are not exact in float32 (limit 2^24)`);
    this.s = { ...this.s, posOffset };
    this.gpu.queue.writeBuffer(this.forwardUniform, 0, ropeParams(this.s, this.vec, 1));
    this.gpu.queue.writeBuffer(this.backwardUniform, 0, ropeParams(this.s, this.vec, -1));
  }

  /** y = rope(x): in place encodeForward(pass, x); out of place encodeForward(pass, x, out). */
  encodeForward(pass: GPUComputePassEncoder, x: Binding, out?: Binding): void {
    this.encode(pass, this.forwardUniform, x, out, 'x', 'out');
  }

  /** dx = rope⁻¹(dy): in place encodeBackward(pass, dy); out of place encodeBackward(pass, dy, dx). */
  encodeBackward(pass: GPUComputePassEncoder, dy: Binding, dx?: Binding): void {
    this.encode(pass, this.backwardUniform, dy, dx, 'dy', 'dx');
  }

  private encode(pass: GPUComputePassEncoder, uniform: GPUBuffer, x: Binding, out: Binding | undefined, xName: string, outName: string): void {
    const need = this.elementsNeeded();
    assertHolds('rope', xName, x, need);
    if (this.inPlace) {
      check(out === undefined, () => `rope: made in place, so encode takes only ${xName}; make it with inPlace: false to write ${outName}`);
      dispatch(this.gpu, pass, this.pipeline, [uniform, this.freqs, x], this.grid);
    } else {
      check(out !== undefined, () => `rope: made with inPlace: false, so encode needs ${xName} and ${outName}`);
      assertHolds('rope', outName, out, need);
      assertNoAlias('rope', outName, out, { [xName]: x });
      dispatch(this.gpu, pass, this.pipeline, [uniform, this.freqs, x, out], this.grid);
    }
  }

  destroy(): void {
    this.gpu.release(this.forwardUniform);
    this.gpu.release(this.backwardUniform);
    this.gpu.release(this.freqs);
  }
}
