import source from '../../shaders/embed.wgsl?raw';
import type { Gpu } from '../gpu/device';
import type { ShaderSource } from '../gpu/pipelines';
import type { ShaderParams } from '../gpu/preprocess';
import { assertCount, assertHolds, assertNoAlias, ceilDiv, dispatch, grid1d, packUniform, type Binding } from './dispatch';
import { check } from '../gpu/errors';

/**
 * Token embedding (shaders/embed.wgsl): x (N, C) = wte[tokens] and the deterministic scatter-add backward
 * dwte[v] += Σ_{n: tokens[n] = v} dx[n] (GPU radix sort of the tokens, then ordered segment sums; no float
 * atomics, the same bits every run). Token ids >= V are skipped: a zero row forward, no gradient backward.
 * Learned positions (GPT-2's wpe) are added in the same forward dispatch when asked (EmbeddingForward's
 * `positions`); PositionEmbeddingBackward is their gradient.
 */
export const embedShader: ShaderSource = { name: 'embed', code: source };

export interface EmbeddingShape {
  /** Tokens (B·T). */
  N: number;
  /** Vocabulary size (rows of wte). */
  V: number;
  /** Channels. */
  C: number;
}

/**
 * Learned absolute positions: row n = b·T + t of x gets wpe[t + offset]. Training embeds whole sequences
 * (offset 0); the KV-cache decoder embeds Tn new tokens per sequence at positions offset .. offset + Tn - 1.
 */
export interface PositionEmbeddingShape {
  /** Positions per sequence (N = B·T). */
  T: number;
  /** Rows of wpe: the model's context length. */
  contextLength: number;
  /** Position of t = 0, default 0. */
  offset?: number;
}

const WG = 256;
const SORT_BLOCK = 256;
/** Longest run of sorted entries one invocation sums before handing on (bounds the serial work per invocation). */
const PIECE = 32;
/** The piece length, exported so tests can replay the summation order bit for bit. */
export const EMBEDDING_BACKWARD_PIECE = PIECE;

function validate(kernel: string, s: EmbeddingShape): EmbeddingShape {
  assertCount(kernel, 'N', s.N);
  assertCount(kernel, 'V', s.V);
  assertCount(kernel, 'C', s.C);
  check(s.V < 2 ** 31, () => `${kernel}: V = ${s.V} is too large (token ids are u32 and V itself marks an out-of-range id)`);
  check(s.N * s.C < 2 ** 32 && s.V * s.C < 2 ** 32, () => `${kernel}: N·C or V·C exceeds 32-bit indexing`);
  return { N: s.N, V: s.V, C: s.C };
}

function validatePositions(kernel: string, N: number, C: number, p: PositionEmbeddingShape): Required<PositionEmbeddingShape> {
  assertCount(kernel, 'positions.T', p.T);
  assertCount(kernel, 'positions.contextLength', p.contextLength);
  const offset = p.offset ?? 0;
  assertCount(kernel, 'positions.offset', offset, 0);
  check(N % p.T === 0, () => `${kernel}: N = ${N} rows are not whole sequences of positions.T = ${p.T} (N must be B·T)`);
  checkPositionsFit(kernel, p.T, p.contextLength, offset);
  check(p.contextLength * C < 2 ** 32, () => `${kernel}: contextLength·C exceeds 32-bit indexing`);
  return { T: p.T, contextLength: p.contextLength, offset };
}

function checkPositionsFit(kernel: string, T: number, contextLength: number, offset: number): void {
  check(
    T + offset <= contextLength,
    () => `${kernel}: positions ${offset}..${offset + T - 1} run past wpe's ${contextLength} rows (positions.offset + positions.T must be <= positions.contextLength)`,
  );
}

function baseParams(C: number): ShaderParams {
  const vec = C % 4 === 0 ? 4 : 1;
  return {
    VT: vec === 4 ? 'vec4<f32>' : 'f32', CV: C / vec, PIECE,
    FORWARD: false, POSITIONS: false, POSITION_BACKWARD: false, SORT: false, FIRST_PASS: false, KEYED: false, VALUES_IN: false, HISTOGRAM: false, SCAN: false, SCATTER: false,
    SEGMENT: false, SEGMENT_PARTIAL: false, SEGMENT_SUM: false, B_NEXT: 3, B_NEXT_1: 4, B_NEXT_2: 5,
  };
}

/**
 * x (N, C) = wte[tokens[n]] (a zero row where tokens[n] >= V), plus wpe[n mod T + offset] when made with
 * `positions` (an out-of-range token's row is then its position's alone). tokens are u32.
 */
export class EmbeddingForward {
  readonly shape: Readonly<EmbeddingShape>;
  private pos: Required<PositionEmbeddingShape> | null;
  /** Vectors per row. */
  private readonly cv: number;
  private readonly pipeline: GPUComputePipeline;
  private readonly uniform: GPUBuffer;
  private readonly grid: [number, number];

  constructor(
    private readonly gpu: Gpu,
    shape: EmbeddingShape,
    options: { positions?: PositionEmbeddingShape } = {},
  ) {
    const k = 'embeddingForward';
    const s = validate(k, shape);
    this.shape = s;
    this.pos = options.positions ? validatePositions(k, s.N, s.C, options.positions) : null;
    const p = baseParams(s.C);
    this.cv = p.CV as number;
    this.pipeline = gpu.pipelines.get(embedShader, 'embed_forward', { ...p, FORWARD: true, POSITIONS: this.pos !== null });
    const label = `embedding N=${s.N} V=${s.V} C=${s.C}${this.pos ? ` T=${this.pos.T}` : ''}`;
    this.uniform = gpu.uniform(this.params(), label);
    this.grid = grid1d(gpu, ceilDiv(s.N * this.cv, WG));
  }

  /** The positions this forward adds (null: tokens only). */
  get positions(): Readonly<Required<PositionEmbeddingShape>> | null {
    return this.pos;
  }

  private params(): ArrayBuffer {
    const { N, V } = this.shape;
    return packUniform([['u32', N * this.cv], ['u32', V], ['u32', this.pos?.T ?? 0], ['u32', this.pos?.offset ?? 0]]);
  }

  /**
   * Moves t = 0 to position `offset` (KV-cache decoding). Rewrites the uniform: it applies to command buffers
   * submitted after the call.
   */
  setPositionOffset(offset: number): void {
    const k = 'embeddingForward';
    check(this.pos !== null, () => `${k}: made without positions, so it has no position offset to set`);
    assertCount(k, 'positions.offset', offset, 0);
    checkPositionsFit(k, this.pos.T, this.pos.contextLength, offset);
    this.pos = { ...this.pos, offset };
    this.gpu.queue.writeBuffer(this.uniform, 0, this.params());
  }

  /** Records the lookup; `wpe` (contextLength, C) is given exactly when made with positions. */
  encode(pass: GPUComputePassEncoder, tokens: Binding, wte: Binding, x: Binding, wpe?: Binding): void {
    const { N, V, C } = this.shape;
    const k = 'embeddingForward';
    assertHolds(k, 'tokens', tokens, N, 'u32s');
    assertHolds(k, 'wte', wte, V * C);
    assertHolds(k, 'x', x, N * C);
    assertNoAlias(k, 'x', x, { tokens, wte });
    if (this.pos) {
      check(wpe !== undefined, () => `${k}: made with positions, so encode needs wpe (${this.pos!.contextLength}·${C} floats)`);
      assertHolds(k, 'wpe', wpe, this.pos.contextLength * C);
      assertNoAlias(k, 'x', x, { wpe });
      dispatch(this.gpu, pass, this.pipeline, [this.uniform, tokens, wte, x, wpe], this.grid);
    } else {
      check(wpe === undefined, () => `${k}: made without positions, so encode takes no wpe; make it with { positions } to add them`);
      dispatch(this.gpu, pass, this.pipeline, [this.uniform, tokens, wte, x], this.grid);
    }
  }

  destroy(): void {
    this.gpu.release(this.uniform);
  }
}

/**
 * dwpe (contextLength, C): rows offset .. offset + T - 1 += Σ_b dx[b·T + t], summed over b in increasing order
 * (bitwise deterministic); the other rows are left as they are. One dispatch, no scratch.
 */
export class PositionEmbeddingBackward {
  readonly shape: Readonly<{ N: number; C: number }>;
  readonly positions: Readonly<Required<PositionEmbeddingShape>>;
  private readonly pipeline: GPUComputePipeline;
  private readonly uniform: GPUBuffer;
  private readonly grid: [number, number];

  constructor(
    private readonly gpu: Gpu,
    shape: { N: number; C: number },
    positions: PositionEmbeddingShape,
  ) {
    const k = 'positionEmbeddingBackward';
    assertCount(k, 'N', shape.N);
    assertCount(k, 'C', shape.C);
    check(shape.N * shape.C < 2 ** 32, () => `${k}: N·C exceeds 32-bit indexing`);
    this.shape = { N: shape.N, C: shape.C };
    this.positions = validatePositions(k, shape.N, shape.C, positions);
    const p = baseParams(shape.C);
    const { T, offset } = this.positions;
    const n = T * (p.CV as number);
    this.pipeline = gpu.pipelines.get(embedShader, 'position_backward', { ...p, POSITION_BACKWARD: true });
    this.uniform = gpu.uniform(packUniform([['u32', n], ['u32', shape.N / T], ['u32', offset], ['u32', 0]]), `position embedding backward N=${shape.N} C=${shape.C} T=${T}`);
    this.grid = grid1d(gpu, ceilDiv(n, WG));
  }

  /** Adds the gradient into dwpe (zero it first for a fresh gradient). */
  encode(pass: GPUComputePassEncoder, dx: Binding, dwpe: Binding): void {
    const { N, C } = this.shape;
    const k = 'positionEmbeddingBackward';
    assertHolds(k, 'dx', dx, N * C);
    assertHolds(k, 'dwpe', dwpe, this.positions.contextLength * C);
    assertNoAlias(k, 'dwpe', dwpe, { dx });
    dispatch(this.gpu, pass, this.pipeline, [this.uniform, dx, dwpe], this.grid);
  }

  destroy(): void {
    this.gpu.release(this.uniform);
  }
}

/**
 * dwte (V, C) += Σ_{n: tokens[n] = v} dx[n, :], summed in increasing n (bitwise deterministic). Owns its
 * scratch: sort keys and values (4·N u32), digit counts (256 per block of 256 tokens, + 256) and piece sums (N·C floats).
 * Dispatches: 3 per 8-bit radix pass (1 pass for V < 256, 2 for V < 65536, ...), then 2 for the sums.
 */
export class EmbeddingBackward {
  readonly shape: Readonly<EmbeddingShape>;
  /** Radix passes over the token ids. */
  readonly passes: number;
  private readonly gpu: Gpu;
  private readonly blocks: number;
  private readonly chunks: number;
  private readonly pipelines: {
    histogramFirst: GPUComputePipeline;
    histogram: GPUComputePipeline;
    scan: GPUComputePipeline;
    scatterFirst: GPUComputePipeline;
    scatter: GPUComputePipeline;
    partial: GPUComputePipeline;
    sum: GPUComputePipeline;
  };
  private readonly sortUniforms: GPUBuffer[];
  private readonly segmentUniform: GPUBuffer;
  private readonly keys: [GPUBuffer, GPUBuffer];
  private readonly values: [GPUBuffer, GPUBuffer];
  private readonly hist: GPUBuffer;
  private readonly partial: GPUBuffer;
  private readonly segmentGrid: [number, number];

  constructor(gpu: Gpu, shape: EmbeddingShape) {
    const s = validate('embeddingBackward', shape);
    this.gpu = gpu;
    this.shape = s;
    // keys go up to V (the out-of-range marker)
    const keyBits = Math.max(1, Math.ceil(Math.log2(s.V + 1)));
    this.passes = Math.ceil(keyBits / 8);
    this.blocks = ceilDiv(s.N, SORT_BLOCK);
    this.chunks = ceilDiv(s.N, PIECE);
    const p = baseParams(s.C);
    const get = (entry: string, flags: ShaderParams): GPUComputePipeline => gpu.pipelines.get(embedShader, entry, { ...p, ...flags });
    // bindings: uniform, key source, [values source (later scatters)], then the rest from B_NEXT
    const keysOnly = { SORT: true, KEYED: true, B_NEXT: 2, B_NEXT_1: 3, B_NEXT_2: 4 };
    const first = { ...keysOnly, FIRST_PASS: true };
    this.pipelines = {
      histogramFirst: get('sort_histogram', { ...first, HISTOGRAM: true }),
      histogram: get('sort_histogram', { ...keysOnly, HISTOGRAM: true }),
      scan: get('sort_scan', { SORT: true, SCAN: true }),
      scatterFirst: get('sort_scatter', { ...first, SCATTER: true }),
      scatter: get('sort_scatter', { SORT: true, KEYED: true, VALUES_IN: true, SCATTER: true }),
      partial: get('segment_partial', { SEGMENT: true, SEGMENT_PARTIAL: true }),
      sum: get('segment_sum', { SEGMENT: true, SEGMENT_SUM: true }),
    };
    const label = `embedding backward N=${s.N} V=${s.V} C=${s.C}`;
    this.sortUniforms = Array.from({ length: this.passes }, (_, pass) =>
      gpu.uniform(packUniform([['u32', s.N], ['u32', this.blocks], ['u32', 8 * pass], ['u32', s.V]]), `${label} sort pass ${pass}`),
    );
    this.segmentUniform = gpu.uniform(packUniform([['u32', s.N], ['u32', this.chunks], ['u32', s.V], ['u32', 0]]), `${label} segments`);
    this.keys = [gpu.createBuffer(4 * s.N, `${label} keys 0`), gpu.createBuffer(4 * s.N, `${label} keys 1`)];
    this.values = [gpu.createBuffer(4 * s.N, `${label} values 0`), gpu.createBuffer(4 * s.N, `${label} values 1`)];
    this.hist = gpu.createBuffer(4 * 256 * (this.blocks + 1), `${label} digit counts`);
    this.partial = gpu.createBuffer(4 * s.N * s.C, `${label} piece sums`);
    this.segmentGrid = grid1d(gpu, ceilDiv(this.chunks * (p.CV as number), WG));
  }

  /** Bytes of scratch this instance holds. */
  get scratchBytes(): number {
    return 4 * (4 * this.shape.N + 256 * (this.blocks + 1) + this.shape.N * this.shape.C);
  }

  /** Adds the gradient into dwte (zero it first for a fresh gradient). */
  encode(pass: GPUComputePassEncoder, tokens: Binding, dx: Binding, dwte: Binding): void {
    const { N, V, C } = this.shape;
    const k = 'embeddingBackward';
    assertHolds(k, 'tokens', tokens, N, 'u32s');
    assertHolds(k, 'dx', dx, N * C);
    assertHolds(k, 'dwte', dwte, V * C);
    // dwte is bound only in the last dispatch, beside the kernel's own scratch: it may share a buffer with dx
    const P = this.pipelines;
    const sortGrid: [number] = [this.blocks];
    for (let i = 0; i < this.passes; i++) {
      const u = this.sortUniforms[i];
      const out = i % 2;
      const keysIn = i === 0 ? tokens : this.keys[1 - out];
      const inputs: Binding[] = i === 0 ? [tokens] : [keysIn, this.values[1 - out]];
      dispatch(this.gpu, pass, i === 0 ? P.histogramFirst : P.histogram, [u, keysIn, this.hist], sortGrid);
      dispatch(this.gpu, pass, P.scan, [u, this.hist], [1]);
      dispatch(this.gpu, pass, i === 0 ? P.scatterFirst : P.scatter, [u, ...inputs, this.hist, this.keys[out], this.values[out]], sortGrid);
    }
    const last = (this.passes - 1) % 2;
    dispatch(this.gpu, pass, P.partial, [this.segmentUniform, this.keys[last], this.values[last], dx, this.partial], this.segmentGrid);
    dispatch(this.gpu, pass, P.sum, [this.segmentUniform, this.keys[last], this.partial, dwte], this.segmentGrid);
  }

  destroy(): void {
    for (const u of this.sortUniforms) this.gpu.release(u);
    this.gpu.release(this.segmentUniform);
    for (const b of [...this.keys, ...this.values, this.hist, this.partial]) this.gpu.release(b);
  }
}
