import source from '../../shaders/attention.wgsl?raw';
import type { Gpu } from '../gpu/device';
import { check, LimitExceededError } from '../gpu/errors';
import type { ShaderSource } from '../gpu/pipelines';
import { preprocessWgsl, variantKey, type ShaderParams } from '../gpu/preprocess';
import { assertHolds, assertNoAlias, ceilDiv, dispatch, grid1d, packUniform, type Binding } from './dispatch';

/**
 * Causal multi-head self-attention with grouped-query heads (shaders/attention.wgsl), flash style:
 * the forward keeps only lse (B, NH, T); the backward recomputes P from q, k and lse. Extra memory is O(T).
 *
 * Legend: q, y, dy, dq (B, T, NH, HS); k, v, dk, dv (B, T, NKV, HS); lse, D (B, NH, T). Query head h uses
 * kv head h / (NH / NKV). RoPE is applied before, by its own kernel. For decoding, the forward also takes T new
 * queries against Tk >= T keys held in a cache of kvRows rows per batch: k, v (B, kvRows, NKV, HS).
 */
export const attentionShader: ShaderSource = { name: 'attention', code: source };

export interface AttentionShape {
  B: number;
  T: number;
  NH: number;
  /** kv heads; divides NH (NKV = NH is plain multi-head attention, NKV = 1 multi-query). */
  NKV: number;
  HS: number;
  /** Score scale; default 1/sqrt(HS). */
  scale?: number;
  /** Keys visible (forward only): the T queries are the last T of Tk positions. Default T. */
  Tk?: number;
  /** Rows per batch in the k, v buffers, e.g. a KV cache's capacity (forward only). Default Tk. */
  kvRows?: number;
}

type TileSize = 8 | 16 | 32;

/** Tile overrides, for tests and tuning; by default each kernel takes the first of CANDIDATES its workgroup memory allows. */
export interface AttentionTiles {
  /** Rows a workgroup owns (queries; keys for dk, dv). */
  rows?: TileSize;
  /** Rows staged per step (keys; queries for dk, dv). */
  staged?: TileSize;
}

/** Largest head size taken: each invocation keeps 2 · (rows / 8) · ceil(HS / 32) output vec4s in registers. */
export const ATTENTION_MAX_HS = 256;

/** Sizes in floats of every tensor the op reads or writes, for allocation. */
export function attentionSizes(s: AttentionShape): { q: number; kv: number; lse: number; scratch: number } {
  const kvRows = s.kvRows ?? s.Tk ?? s.T;
  return { q: s.B * s.T * s.NH * s.HS, kv: s.B * kvRows * s.NKV * s.HS, lse: s.B * s.NH * s.T, scratch: s.B * s.NH * s.T };
}

const UNROLL = /for \(var (\w+) = 0u; \1 < (\d+)u; \1\+\+\) \{ \/\/ unroll\n/;
const DECLARE_MANY = /^var<workgroup> (\w+)@(\d+)(:[^\n]*)$/gm;

/**
 * The template steps that follow the ${...} and #if ones (see the header of shaders/attention.wgsl):
 * `var<workgroup> name@N: T;` declares name0 .. name(N-1), and every loop written
 * `for (var x = 0u; x < N; x++) { // unroll` (N a literal by now) becomes N copies of its body, each opening
 * with `const x = <i>u;` and with `name@x` renamed name<i>. Indices into the micro-tile arrays then fold to
 * constants and the arrays become registers: a loop-indexed private array lives in memory (on SwiftShader
 * every access to it is a per-lane gather).
 */
export function unrollLoops(code: string): string {
  code = code.replace(DECLARE_MANY, (_, name: string, n: string, rest: string) =>
    Array.from({ length: Number(n) }, (_, i) => `var<workgroup> ${name}${i}${rest}`).join('\n'));
  for (let m = UNROLL.exec(code); m; m = UNROLL.exec(code)) {
    const [head, name, count] = m;
    const bodyStart = m.index + head.length;
    let depth = 1;
    let k = bodyStart;
    for (; depth > 0; k++) {
      if (k >= code.length) throw new Error(`unrollLoops: unbalanced braces in the loop over ${name}`);
      if (code[k] === '{') depth++;
      else if (code[k] === '}') depth--;
    }
    const body = code.slice(bodyStart, k - 1);
    const suffix = new RegExp(`@${name}\\b`, 'g');
    let copies = '';
    for (let i = 0; i < Number(count); i++) copies += `{ const ${name} = ${i}u;\n${body.replace(suffix, String(i))}}\n`;
    code = code.slice(0, m.index) + copies + code.slice(k);
  }
  const left = /\w@\w+/.exec(code.replace(/\/\/[^\n]*/g, ''));
  if (left) throw new Error(`unrollLoops: '${left[0]}' is outside every unrolled loop over its index`);
  return code;
}

const specialisedSources = new Map<string, ShaderSource>();
/** The shader specialised for `params` with its marked loops unrolled (one source per variant, kept). */
function specialised(params: ShaderParams): ShaderSource {
  const key = variantKey(attentionShader.name, params);
  let src = specialisedSources.get(key);
  if (!src) {
    src = { name: attentionShader.name, code: unrollLoops(preprocessWgsl(attentionShader.code, params)) };
    specialisedSources.set(key, src);
  }
  return src;
}

type Kernel = 'forward' | 'dq' | 'dkdv';
const FLAGS: Record<Kernel | 'rowDot', ShaderParams> = {
  forward: { QKV: true, BACKWARD: false, FORWARD: true, ROW_DOT: false, DQ: false, DKDV: false },
  rowDot: { QKV: false, BACKWARD: false, FORWARD: false, ROW_DOT: true, DQ: false, DKDV: false },
  dq: { QKV: true, BACKWARD: true, FORWARD: false, ROW_DOT: false, DQ: true, DKDV: false },
  dkdv: { QKV: true, BACKWARD: true, FORWARD: false, ROW_DOT: false, DQ: false, DKDV: true },
};

/** Keys per sequence the kernels walk: the cache's rows when decoding, else T (unknown: long). */
function keysOf(s: Partial<Pick<AttentionShape, 'T' | 'Tk' | 'kvRows'>>): number {
  return s.kvRows ?? s.Tk ?? s.T ?? Infinity;
}

/** Workgroup memory of one kernel's tiles (see the var<workgroup> declarations in the shader). */
function tileBytes(kernel: Kernel, rows: number, staged: number, TS: number): number {
  const vec4Rows = kernel === 'forward' ? rows + 2 * staged : 2 * rows + 2 * staged;
  const scalars = kernel === 'forward' ? rows * staged + 8 * rows : kernel === 'dq' ? rows * staged : 2 * rows * staged;
  return vec4Rows * TS * 16 + scalars * 4;
}

// Preferred (rows, staged) first. 32 x 16 leads: on SwiftShader (2026-12-08, forward + backward of one layer,
// medians of 9 alternating, idle) it ran 9–27% faster than 32 x 32 at T 32, 64 and 128 (12.9 vs 17.7, 107.8 vs
// 133.5, 286.5 vs 316.2 ms), and in a run at load 1.1 also at T 256 and 512 (384 vs 413, 592 vs 609); its three
// pipelines compile in 9 s instead of 16 s (each staged row is an unrolled copy of the inner loop). Smaller tiles are for heads whose larger tiles do not fit.
const CANDIDATES: Record<Kernel, [TileSize, TileSize][]> = {
  forward: [[32, 16], [16, 16], [16, 8], [8, 8]],
  dq: [[32, 16], [16, 16], [16, 8], [8, 8]],
  dkdv: [[32, 16], [16, 16], [16, 8], [8, 8]],
};

/**
 * Up to this many keys per sequence, 16 x 8 tiles lead instead: on SwiftShader (2026-12-08, medians of 9
 * alternating, idle) they ran as fast as 32 x 16 at T 32 / HS 16 (12.8 vs 12.9 ms) and T 64 / HS 16 (106.7 vs
 * 107.8), and compile in 3.7 s instead of 8.9 s; at T 128 / HS 32 they were 7% slower (306.2 vs 286.5).
 * Short sequences also leave 32-row tiles with only T / 32 blocks of rows per head to spread over the GPU.
 */
export const SHORT_KEYS = 64;
const SHORT_CANDIDATES: [TileSize, TileSize][] = [[16, 8], [8, 8]];

function validate(gpu: Gpu, s: AttentionShape): void {
  for (const key of ['B', 'T', 'NH', 'NKV', 'HS'] as const) {
    check(Number.isInteger(s[key]) && s[key] >= 1, () => `attention: ${key} must be a positive integer, got ${s[key]}`);
  }
  check(s.NH % s.NKV === 0, () => `attention: NH ${s.NH} is not divisible by NKV ${s.NKV}`);
  check(s.HS <= ATTENTION_MAX_HS, () => `attention: head size ${s.HS} is above the supported ${ATTENTION_MAX_HS}`);
  check(s.scale === undefined || Number.isFinite(s.scale), () => `attention: scale must be finite, got ${s.scale}`);
  const Tk = s.Tk ?? s.T;
  check(Number.isInteger(Tk) && Tk >= s.T, () => `attention: Tk ${s.Tk} must be an integer >= T ${s.T} (the queries are the last T positions)`);
  const kvRows = s.kvRows ?? Tk;
  check(Number.isInteger(kvRows) && kvRows >= Tk, () => `attention: kvRows ${s.kvRows} must be an integer >= Tk ${Tk}`);
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (s.NH > max || s.B > max || ceilDiv(s.T, 8) > max) {
    const field = s.B > max ? 'B' : s.NH > max ? 'NH' : 'T';
    throw new LimitExceededError(`attention: B ${s.B}, NH ${s.NH} and T / 8 must each be at most ${max} on this device`, field);
  }
}

interface Compiled {
  pipeline: GPUComputePipeline;
  rows: number;
  staged: number;
}

interface Variant {
  source: ShaderSource;
  entry: string;
  params: ShaderParams;
  rows: number;
  staged: number;
}

/**
 * The four pipelines' specialisations for head size HS and sequences of up to `keys` keys on this device: tiles
 * chosen to fit workgroup memory (short sequences prefer small tiles, SHORT_KEYS).
 */
function planVariants(gpu: Gpu, HS: number, keys: number, tiles: AttentionTiles): Record<Kernel | 'rowDot', Variant> {
  const HS4 = Math.ceil(HS / 4);
  const CW = Math.ceil(HS4 / 8);
  const TS = 8 * CW + 1;
  const limit = gpu.limits.maxComputeWorkgroupStorageSize;
  const head = { HS, HS4, CW, TS };
  const variant = (kernel: Kernel | 'rowDot', rows: TileSize, staged: TileSize): Variant => {
    const RM = rows / 8;
    const CM = staged / 8;
    const params = { ...head, ...FLAGS[kernel], BR: rows, BC: staged, RM, CM, RMCW: RM * CW, RMCM: RM * CM };
    const entry = kernel === 'rowDot' ? 'attention_row_dot' : `attention_${kernel}`;
    return { source: specialised(params), entry, params, rows, staged };
  };
  const tiled = (kernel: Kernel): Variant => {
    const wanted: [TileSize, TileSize][] =
      tiles.rows || tiles.staged ? [[tiles.rows ?? 32, tiles.staged ?? 32]] : keys <= SHORT_KEYS ? SHORT_CANDIDATES : CANDIDATES[kernel];
    const chosen = wanted.find(([r, c]) => tileBytes(kernel, r, c, TS) <= limit);
    if (!chosen) {
      const [r, c] = wanted[wanted.length - 1];
      throw new LimitExceededError(
        `attention ${kernel}: tiles of ${r} x ${c} rows at head size ${HS} need ${tileBytes(kernel, r, c, TS)} bytes of workgroup memory; this device has ${limit}`,
        'HS',
      );
    }
    return variant(kernel, ...chosen);
  };
  return { forward: tiled('forward'), dq: tiled('dq'), dkdv: tiled('dkdv'), rowDot: variant('rowDot', 8, 8) };
}

/**
 * One attention layer's kernels for fixed shapes. Forward: 1 dispatch; backward: 3 (D = rowsum(dy ∘ y), then
 * dq over query blocks and dk, dv over key blocks, both deterministic: no atomics).
 */
export class Attention {
  readonly scale: number;
  private readonly uniform: GPUBuffer;
  private readonly kernels: Record<Kernel, Compiled>;
  private readonly rowDot: GPUComputePipeline;
  private readonly sizes: ReturnType<typeof attentionSizes>;
  /** Tk or kvRows differ from T: a forward-only (decoding) configuration. */
  private readonly decoding: boolean;

  constructor(
    private readonly gpu: Gpu,
    readonly shape: AttentionShape,
    tiles: AttentionTiles = {},
  ) {
    validate(gpu, shape);
    const { B, T, NH, NKV, HS } = shape;
    this.scale = shape.scale ?? 1 / Math.sqrt(HS);
    this.sizes = attentionSizes(shape);
    const plan = planVariants(gpu, HS, keysOf(shape), tiles);
    const get = (v: Variant): Compiled => ({ pipeline: gpu.pipelines.get(v.source, v.entry, v.params), rows: v.rows, staged: v.staged });
    this.kernels = { forward: get(plan.forward), dq: get(plan.dq), dkdv: get(plan.dkdv) };
    this.rowDot = get(plan.rowDot).pipeline;
    const Tk = shape.Tk ?? T;
    const kvRows = shape.kvRows ?? Tk;
    this.decoding = Tk !== T || kvRows !== T;
    // Uniform layout (32 bytes): B, T, NH, NKV u32; scale f32; group, TK, KVR u32.
    this.uniform = gpu.uniform(
      packUniform([['u32', B], ['u32', T], ['u32', NH], ['u32', NKV], ['f32', this.scale], ['u32', NH / NKV], ['u32', Tk], ['u32', kvRows]]),
      `attention B=${B} T=${T} NH=${NH} NKV=${NKV} HS=${HS}`,
    );
  }

  /**
   * KV-cache decoding: the T queries are now the last T of `Tk` positions (T <= Tk <= kvRows). Rewrites the
   * uniform, so it applies to command buffers submitted after the call.
   */
  setVisibleKeys(Tk: number): void {
    const { B, T, NH, NKV } = this.shape;
    const kvRows = this.shape.kvRows ?? this.shape.Tk ?? T;
    check(Number.isInteger(Tk) && Tk >= T && Tk <= kvRows, () => `attention: visible keys ${Tk} must be an integer in [T ${T}, kvRows ${kvRows}]`);
    this.gpu.queue.writeBuffer(this.uniform, 0, packUniform([['u32', B], ['u32', T], ['u32', NH], ['u32', NKV], ['f32', this.scale], ['u32', NH / NKV], ['u32', Tk], ['u32', kvRows]]));
  }

  /**
   * Compiles the pipelines for this head size and tiles in the background, all at once (the constructor
   * compiles them one after another, blocking; SwiftShader takes seconds for each). Give T (and Tk, kvRows when
   * decoding) to prepare the tiles the constructor will pick for them; without, the long-sequence tiles.
   */
  static async prepare(gpu: Gpu, shape: Pick<AttentionShape, 'HS'> & Partial<AttentionShape>, tiles: AttentionTiles = {}): Promise<void> {
    const plan = planVariants(gpu, shape.HS, keysOf(shape), tiles);
    await Promise.all(Object.values(plan).map((v) => gpu.pipelines.prepare(v.source, v.entry, v.params)));
  }

  /** Floats of scratch the backward needs (D, laid out (B, NH, T)). */
  static scratchFloats(shape: AttentionShape): number {
    return attentionSizes(shape).scratch;
  }

  /** The (rows, staged) tiles each kernel runs with on this device. */
  get tiles(): Record<Kernel, { rows: number; staged: number }> {
    const t = (k: Kernel) => ({ rows: this.kernels[k].rows, staged: this.kernels[k].staged });
    return { forward: t('forward'), dq: t('dq'), dkdv: t('dkdv') };
  }

  /** y = softmax(scale q kᵀ + causal mask) v per head; lse = per-row log-sum-exp of the masked scores, kept for the backward. */
  encodeForward(pass: GPUComputePassEncoder, q: Binding, k: Binding, v: Binding, y: Binding, lse: Binding): void {
    const s = this.sizes;
    const kernel = 'attention forward';
    for (const [name, b, n] of [['q', q, s.q], ['k', k, s.kv], ['v', v, s.kv], ['y', y, s.q], ['lse', lse, s.lse]] as const) {
      assertHolds(kernel, name, b, n);
    }
    assertNoAlias(kernel, 'y', y, { q, k, v });
    assertNoAlias(kernel, 'lse', lse, { q, k, v, y });
    const { T, NH, B } = this.shape;
    const f = this.kernels.forward;
    dispatch(this.gpu, pass, f.pipeline, [this.uniform, q, k, v, y, lse], [ceilDiv(T, f.rows), NH, B]);
  }

  /**
   * dq, dk, dv from dy, given the forward's inputs and its outputs y and lse. `dScratch` holds scratchFloats()
   * floats; dk and dv are written (not accumulated), summed over each kv head's group of query heads.
   */
  encodeBackward(
    pass: GPUComputePassEncoder,
    q: Binding,
    k: Binding,
    v: Binding,
    y: Binding,
    lse: Binding,
    dy: Binding,
    dq: Binding,
    dk: Binding,
    dv: Binding,
    dScratch: Binding,
  ): void {
    check(!this.decoding, () => `attention backward: needs Tk = kvRows = T (training); this layer was made with Tk ${this.shape.Tk}, kvRows ${this.shape.kvRows}, T ${this.shape.T}`);
    const s = this.sizes;
    const kernel = 'attention backward';
    for (const [name, b, n] of [['q', q, s.q], ['k', k, s.kv], ['v', v, s.kv], ['y', y, s.q], ['lse', lse, s.lse], ['dy', dy, s.q],
      ['dq', dq, s.q], ['dk', dk, s.kv], ['dv', dv, s.kv], ['dScratch', dScratch, s.scratch]] as const) {
      assertHolds(kernel, name, b, n);
    }
    // rowDot writes dScratch from dy and y; the dq and dk/dv passes then read it.
    assertNoAlias(kernel, 'dScratch', dScratch, { dy, y });
    const reads = { q, k, v, dy, lse, dScratch };
    assertNoAlias(kernel, 'dq', dq, reads);
    assertNoAlias(kernel, 'dk', dk, reads);
    assertNoAlias(kernel, 'dv', dv, { ...reads, dk });
    const { B, T, NH, NKV } = this.shape;
    const { dq: kq, dkdv: kkv } = this.kernels;
    dispatch(this.gpu, pass, this.rowDot, [this.uniform, dy, y, dScratch], grid1d(this.gpu, ceilDiv(B * T * NH, 64)));
    dispatch(this.gpu, pass, kq.pipeline, [this.uniform, q, k, v, dy, lse, dScratch, dq], [ceilDiv(T, kq.rows), NH, B]);
    dispatch(this.gpu, pass, kkv.pipeline, [this.uniform, q, k, v, dy, lse, dScratch, dk, dv], [ceilDiv(T, kkv.rows), NKV, B]);
  }

  destroy(): void {
    this.gpu.release(this.uniform);
  }
}
