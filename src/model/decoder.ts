/**
 * Inference with a KV cache: S sequences decode together. A prefill runs the prompt (P tokens per sequence,
 * all sequences padded to one length) through the model and fills the cache; each step then runs one new
 * token per sequence against the cached keys and values. Only the last position's logits are computed.
 *
 * Legend: S sequences, Tn new tokens per sequence this pass (P at prefill, 1 per step), N = S·Tn rows,
 * Tc cache capacity (positions), C width, V vocabulary. Caches k, v (S, Tc, NKV, HS) per layer.
 * MoE layers run with capacity N (no token is dropped at inference), unlike training's capacity factor, and route
 * sparsely: each expert's matmuls cover only the rows routed to it (MoeLayer's inference mode). All MoE layers of a
 * pass share one MoeLayer (same shape, weights passed per layer), as the dense layers share their activations.
 *
 * With learned positions each pass embeds its tokens at their positions (the embedding's offset) and attention
 * applies no RoPE; with LayerNorm each norm also keeps its rows' means; with model.bias the attention and dense-MLP
 * linears add their biases (the matmul's epilogue), as the training model does. With QK-norm the projections write
 * qPre and kPre, normed per head into q and k before RoPE: the cache holds the normed, rotated keys, as training's
 * attention sees them.
 *
 * Kernels and activations are kept for the step shape (Tn = 1) and for one prefill length at a time: a prefill of
 * another length frees the previous one, so a decoder's memory is estimateBytes(config, S, P) whatever it ran before.
 */
import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import { Attention } from '../kernels/attention';
import type { Binding } from '../kernels/dispatch';
import { Add, GeluForward, Rope, SwigluForward } from '../kernels/elementwise';
import { EmbeddingForward } from '../kernels/embed';
import { Matmul } from '../kernels/matmul';
import { MoeLayer, moeInferenceBytes, moeUpWidth } from './moe-layer';
import { LayerNormForward, RmsNormForward } from '../kernels/norm';
import { headSize, isMoeLayer, modelDims, type ModelConfig } from './config';
import { buildLayout, type ParamLayout } from './layout';
import { QkNorm, qkNormNames } from './qk-norm';

/** Kernels and activations for one pass shape (Tn new tokens per sequence). */
interface Stage {
  Tn: number;
  /** What the stage owns, freed together. */
  buffers: GPUBuffer[];
  kernels: { destroy(): void }[];
  tokens: GPUBuffer;
  x: GPUBuffer; n: GPUBuffer; rstd: GPUBuffer; mean: GPUBuffer | null; q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; att: GPUBuffer; lse: GPUBuffer;
  mid: GPUBuffer; proj: GPUBuffer; u: GPUBuffer | null; a: GPUBuffer | null; last: GPUBuffer;
  qPre: GPUBuffer | null; kPre: GPUBuffer | null; rstdQ: GPUBuffer | null; rstdK: GPUBuffer | null; qkNorm: QkNorm | null;
  embed: EmbeddingForward; norm: RmsNormForward | LayerNormForward; add: Add;
  qProj: Matmul; kProj: Matmul; vProj: Matmul; oProj: Matmul; up: Matmul | null; down: Matmul | null;
  ropeQ: Rope | null; ropeK: Rope | null; attention: Attention;
  gelu: GeluForward | null; swiglu: SwigluForward | null; moe: MoeLayer | null;
}

/** What a decoder allocates, from its shape alone (see Decoder.estimateBytes). */
export interface DecoderEstimate {
  totalBytes: number;
  /** The largest single buffer, which must fit the device's per-buffer limit. */
  largest: { name: string; bytes: number };
}

/** Float counts of one stage's activation buffers (Tn new tokens for each of S sequences). */
function stageFloats(c: ModelConfig, S: number, Tn: number): [string, number][] {
  const N = S * Tn;
  const { C, qDim, kvDim, H, ffnIn } = modelDims(c);
  const dense = anyDense(c);
  return [
    ['tokens', N], ['x', N * C], ['n', N * C], ['rstd', N], ['mean', c.norm === 'layernorm' ? N : 0], ['q', N * qDim], ['k', N * kvDim], ['v', N * kvDim], ['att', N * qDim],
    ['lse', S * c.nHead * Tn], ['mid', N * C], ['proj', N * C], ['u', dense ? N * ffnIn : 0], ['a', dense ? N * H : 0], ['last', S * C],
    ['qPre', c.qkNorm ? N * qDim : 0], ['kPre', c.qkNorm ? N * kvDim : 0], ['rstdQ', c.qkNorm ? N * c.nHead : 0], ['rstdK', c.qkNorm ? N * c.nKvHead : 0],
  ];
}

const anyMoe = (c: ModelConfig) => Array.from({ length: c.nLayer }, (_, l) => isMoeLayer(c, l)).some(Boolean);
const anyDense = (c: ModelConfig) => Array.from({ length: c.nLayer }, (_, l) => !isMoeLayer(c, l)).some(Boolean);

// Uniform bytes as the kernels pack them: a matmul 64, attention, RoPE and MoE routing 32, the rest 16; RoPE also
// holds an HS-float frequency table. (tests/gpu/inference.test.ts holds the estimate to what is allocated.)
const MATMUL_UNIFORM = 64;
const SMALL_UNIFORM = 16;

/** Uniforms and tables of one stage's kernels: embed, norm, add, 4 projections, 2 RoPE (none with learned positions), 2 QK-norms, attention, FFN / MoE. */
function stageKernelBytes(c: ModelConfig): number {
  const rope = c.positions === 'rope' ? 2 * 32 + 4 * headSize(c) : 0;
  let bytes = 3 * SMALL_UNIFORM + 4 * MATMUL_UNIFORM + 2 * rope + 32 + (c.qkNorm ? 2 * SMALL_UNIFORM : 0);
  if (anyDense(c)) bytes += 2 * MATMUL_UNIFORM + SMALL_UNIFORM;
  if (anyMoe(c)) bytes += (1 + 2 * c.moeExperts) * MATMUL_UNIFORM + 32 + SMALL_UNIFORM;
  return bytes;
}

export class Decoder {
  readonly layout: ParamLayout;
  /** Logits of the last position of each sequence after the latest pass: (S, V). */
  readonly logits: GPUBuffer;
  /** Positions filled in the cache (the same for every sequence). */
  position = 0;
  private readonly kCache: GPUBuffer[] = [];
  private readonly vCache: GPUBuffer[] = [];
  /** The step stage (Tn = 1) and at most one prefill stage. */
  private readonly stages = new Map<number, Stage>();
  private readonly buffers: GPUBuffer[] = [];
  private readonly headNorm: RmsNormForward | LayerNormForward;
  private readonly head: Matmul;
  private readonly nLast: GPUBuffer;
  private readonly rstdLast: GPUBuffer;
  private readonly meanLast: GPUBuffer | null;

  /**
   * Bytes a decoder of S sequences allocates once it has run a prefill of P tokens and single steps: the caches,
   * the step and prefill activations (MoE expert rows included) and the kernels' uniforms; and its largest buffer.
   * Pure arithmetic: check it against the device's limits and a budget before constructing a decoder.
   */
  static estimateBytes(config: ModelConfig, sequences: number, prefill: number, capacity = config.contextLength): DecoderEstimate {
    const c = config;
    const S = sequences;
    const stageTns = prefill === 1 ? [1] : [1, prefill];
    const moe = (Tn: number) =>
      anyMoe(c) ? moeInferenceBytes({ tokens: S * Tn, width: c.nEmbd, experts: c.moeExperts, topK: c.moeTopK, hidden: c.mlpHidden, activation: c.mlp }) : 0;
    const kv = 4 * S * capacity * c.nKvHead * headSize(c);
    // caches, logits, final norm, rstd (and LayerNorm's mean)
    let totalBytes = 2 * c.nLayer * kv + 4 * S * (c.vocabSize + c.nEmbd + 1 + (c.norm === 'layernorm' ? 1 : 0));
    for (const Tn of stageTns) totalBytes += 4 * stageFloats(c, S, Tn).reduce((a, [, f]) => a + f, 0) + moe(Tn);
    totalBytes += SMALL_UNIFORM + MATMUL_UNIFORM + stageTns.length * stageKernelBytes(c); // the head's norm and matmul, the stages'
    const P = Math.max(...stageTns);
    const candidates: [string, number][] = [
      ['a KV cache (S, Tc, NKV, HS)', kv],
      ['the logits (S, V)', 4 * S * c.vocabSize],
      ...stageFloats(c, S, P).map(([n, f]): [string, number] => [`the prefill's ${n} activation`, 4 * f]),
    ];
    if (anyMoe(c)) candidates.push(['the MoE expert rows (E, S·P, F)', 4 * c.moeExperts * S * P * Math.max(moeUpWidth({ hidden: c.mlpHidden, activation: c.mlp }), c.nEmbd)]);
    const [name, bytes] = candidates.reduce((a, b) => (b[1] > a[1] ? b : a));
    return { totalBytes, largest: { name, bytes } };
  }

  constructor(
    private readonly gpu: Gpu,
    readonly config: ModelConfig,
    /** The flat parameter buffer (shared with a trainer). */
    private readonly params: GPUBuffer,
    /** S: sequences decoded together. */
    readonly sequences: number,
    /** Tc: cache positions (prompt + generated); at most the model's context length. */
    readonly capacity = config.contextLength,
  ) {
    const c = config;
    check(Number.isInteger(sequences) && sequences >= 1, () => `decoder: sequences must be a positive integer, got ${sequences}`);
    check(Number.isInteger(capacity) && capacity >= 1 && capacity <= c.contextLength, () => `decoder: capacity ${capacity} must be in 1..contextLength ${c.contextLength}`);
    this.layout = buildLayout(c);
    const kv = sequences * capacity * c.nKvHead * headSize(c);
    let headNorm: RmsNormForward | LayerNormForward | undefined;
    try {
      for (let l = 0; l < c.nLayer; l++) {
        this.kCache.push(this.buf(this.buffers, kv, `h.${l}.k cache`));
        this.vCache.push(this.buf(this.buffers, kv, `h.${l}.v cache`));
      }
      this.logits = this.buf(this.buffers, sequences * c.vocabSize, 'decoder logits');
      this.nLast = this.buf(this.buffers, sequences * c.nEmbd, 'decoder final norm');
      this.rstdLast = this.buf(this.buffers, sequences, 'decoder final rstd');
      this.meanLast = c.norm === 'layernorm' ? this.buf(this.buffers, sequences, 'decoder final mean') : null;
      const normShape = { N: sequences, C: c.nEmbd, eps: c.normEps };
      this.headNorm = headNorm = c.norm === 'layernorm' ? new LayerNormForward(gpu, normShape) : new RmsNormForward(gpu, normShape);
      const V = c.vocabSize;
      const C = c.nEmbd;
      this.head = new Matmul(gpu, c.tiedEmbeddings ? { M: sequences, N: V, K: C, transB: true } : { M: sequences, N: V, K: C });
    } catch (e) {
      headNorm?.destroy();
      for (const b of this.buffers) gpu.release(b);
      throw e;
    }
  }

  private buf(list: GPUBuffer[], floats: number, label: string): GPUBuffer {
    const b = this.gpu.createBuffer(4 * floats, label);
    list.push(b);
    return b;
  }

  private P(name: string): Binding {
    const s = this.layout.byName.get(name)!;
    return { buffer: this.params, offset: s.offset * 4, size: s.length * 4 };
  }

  private stage(Tn: number): Stage {
    let st = this.stages.get(Tn);
    if (st) return st;
    // one prefill shape at a time: a new prompt length frees the previous one's activations
    if (Tn !== 1) for (const [key, old] of this.stages) if (key !== 1) this.destroyStage(old);
    const c = this.config;
    const S = this.sequences;
    const N = S * Tn;
    const { C, hs, qDim, kvDim, H, ffnIn } = modelDims(c);
    const dense = anyDense(c);
    const learned = c.positions === 'learned';
    const gpu = this.gpu;
    const buffers: GPUBuffer[] = [];
    const kernels: { destroy(): void }[] = [];
    const k = <K extends { destroy(): void }>(kernel: K): K => (kernels.push(kernel), kernel);
    const mm = (s: ConstructorParameters<typeof Matmul>[1]) => k(new Matmul(gpu, { ...s, bias: c.bias }));
    const floats = new Map(stageFloats(c, S, Tn));
    const b = (name: string) => (floats.get(name)! > 0 ? this.buf(buffers, floats.get(name)!, `decoder ${name} Tn=${Tn}`) : null);
    try {
      st = {
        Tn,
        buffers,
        kernels,
        tokens: b('tokens')!,
        x: b('x')!, n: b('n')!, rstd: b('rstd')!, mean: b('mean'), q: b('q')!, k: b('k')!, v: b('v')!, att: b('att')!,
        lse: b('lse')!, mid: b('mid')!, proj: b('proj')!, u: b('u'), a: b('a'), last: b('last')!,
        qPre: b('qPre'), kPre: b('kPre'), rstdQ: b('rstdQ'), rstdK: b('rstdK'), qkNorm: c.qkNorm ? k(new QkNorm(gpu, c, N, false)) : null,
        embed: k(new EmbeddingForward(gpu, { N, V: c.vocabSize, C }, learned ? { positions: { T: Tn, contextLength: c.contextLength } } : {})),
        norm: k(c.norm === 'layernorm' ? new LayerNormForward(gpu, { N, C, eps: c.normEps }) : new RmsNormForward(gpu, { N, C, eps: c.normEps })),
        add: k(new Add(gpu, N * C)),
        qProj: mm({ M: N, N: qDim, K: C }), kProj: mm({ M: N, N: kvDim, K: C }), vProj: mm({ M: N, N: kvDim, K: C }),
        oProj: mm({ M: N, N: C, K: qDim }),
        up: dense ? mm({ M: N, N: ffnIn, K: C }) : null, down: dense ? mm({ M: N, N: C, K: H }) : null,
        ropeQ: learned ? null : k(new Rope(gpu, { B: S, T: Tn, NH: c.nHead, HS: hs, theta: c.ropeTheta })),
        ropeK: learned ? null : k(new Rope(gpu, { B: S, T: Tn, NH: c.nKvHead, HS: hs, theta: c.ropeTheta })),
        attention: k(new Attention(gpu, { B: S, T: Tn, NH: c.nHead, NKV: c.nKvHead, HS: hs, Tk: Tn, kvRows: this.capacity })),
        gelu: dense && c.mlp === 'gelu' ? k(new GeluForward(gpu, N * H)) : null,
        swiglu: dense && c.mlp === 'swiglu' ? k(new SwigluForward(gpu, { N, H })) : null,
        moe: anyMoe(c)
          ? k(new MoeLayer(gpu, { tokens: N, width: C, experts: c.moeExperts, topK: c.moeTopK as 1 | 2, hidden: H, activation: c.mlp, inference: true }))
          : null,
      };
    } catch (e) {
      // nothing of a stage that failed to build stays allocated
      for (const kernel of kernels) kernel.destroy();
      for (const buffer of buffers) gpu.release(buffer);
      throw e;
    }
    this.stages.set(Tn, st);
    return st;
  }

  private destroyStage(st: Stage): void {
    for (const kernel of st.kernels) kernel.destroy();
    for (const b of st.buffers) this.gpu.release(b);
    this.stages.delete(st.Tn);
  }

  /** Builds the kernels for a prefill of P tokens and for single steps, compiling their pipelines in parallel. */
  async prepare(P: number): Promise<void> {
    await this.gpu.pipelines.build(() => {
      this.stage(P);
      this.stage(1);
    });
  }

  /** Forgets the cache (a new batch of prompts). */
  reset(): void {
    this.position = 0;
  }

  /**
   * Runs `tokens` (S, Tn) u32, row-major by sequence, at the next Tn positions and leaves the last position's
   * logits in `logits`. Queues its uploads and submits; returns without waiting.
   */
  run(tokens: Uint32Array<ArrayBuffer>, Tn: number): void {
    const S = this.sequences;
    check(tokens.length === S * Tn, () => `decoder: expected ${S}×${Tn} tokens, got ${tokens.length}`);
    check(this.position + Tn <= this.capacity, () => `decoder: ${this.position + Tn} positions exceed the cache capacity ${this.capacity}`);
    const st = this.stage(Tn);
    this.gpu.queue.writeBuffer(st.tokens, 0, tokens);
    this.encodeAndSubmit(st);
  }

  /** Like `run` with Tn = 1, the tokens taken from a GPU buffer (S u32), e.g. the sampler's output. */
  step(tokens: GPUBuffer): void {
    const st = this.stage(1);
    check(this.position + 1 <= this.capacity, () => `decoder: the cache (${this.capacity} positions) is full`);
    const enc = this.gpu.device.createCommandEncoder({ label: 'decoder step tokens' });
    enc.copyBufferToBuffer(tokens, 0, st.tokens, 0, 4 * this.sequences);
    this.gpu.queue.submit([enc.finish()]);
    this.encodeAndSubmit(st);
  }

  private encodeAndSubmit(st: Stage): void {
    const c = this.config;
    const S = this.sequences;
    const { Tn } = st;
    const pos = this.position;
    const hs = headSize(c);
    const kvRow = c.nKvHead * hs * 4;
    st.ropeQ?.setPosOffset(pos);
    st.ropeK?.setPosOffset(pos);
    if (st.embed.positions) st.embed.setPositionOffset(pos);
    st.attention.setVisibleKeys(pos + Tn);
    const P = (n: string) => this.P(n);
    const Pb = (n: string) => (c.bias ? P(`${n}.bias`) : undefined);
    const norm = (kernel: RmsNormForward | LayerNormForward, x: GPUBuffer, name: string, y: GPUBuffer, mean: GPUBuffer | null, rstd: GPUBuffer) => {
      if (kernel instanceof LayerNormForward) kernel.encode(pass, x, P(name), P(`${name}.bias`), y, mean!, rstd);
      else kernel.encode(pass, x, P(name), y, rstd);
    };
    const enc = this.gpu.device.createCommandEncoder({ label: `decoder pass Tn=${Tn} at ${pos}` });
    let pass = enc.beginComputePass();
    st.embed.encode(pass, st.tokens, P('wte'), st.x, st.embed.positions ? P('wpe') : undefined);
    for (let l = 0; l < c.nLayer; l++) {
      const p = `h.${l}`;
      norm(st.norm, st.x, `${p}.ln1`, st.n, st.mean, st.rstd);
      st.qProj.encode(pass, st.n, P(`${p}.wq`), st.qPre ?? st.q, Pb(`${p}.wq`));
      st.kProj.encode(pass, st.n, P(`${p}.wk`), st.kPre ?? st.k, Pb(`${p}.wk`));
      st.vProj.encode(pass, st.n, P(`${p}.wv`), st.v, Pb(`${p}.wv`));
      if (st.qkNorm) {
        const gain = qkNormNames(l);
        st.qkNorm.forward(pass, { q: P(gain.q), k: P(gain.k) }, { q: st.qPre!, k: st.kPre! }, { q: st.q, k: st.k }, { q: st.rstdQ!, k: st.rstdK! });
      }
      st.ropeQ?.encodeForward(pass, st.q);
      st.ropeK?.encodeForward(pass, st.k);
      pass.end();
      // append this pass's keys and values to each sequence's cache rows [pos, pos + Tn)
      for (let s = 0; s < S; s++) {
        const dst = (s * this.capacity + pos) * kvRow;
        enc.copyBufferToBuffer(st.k, s * Tn * kvRow, this.kCache[l], dst, Tn * kvRow);
        enc.copyBufferToBuffer(st.v, s * Tn * kvRow, this.vCache[l], dst, Tn * kvRow);
      }
      pass = enc.beginComputePass();
      st.attention.encodeForward(pass, st.q, this.kCache[l], this.vCache[l], st.att, st.lse);
      st.oProj.encode(pass, st.att, P(`${p}.wo`), st.proj, Pb(`${p}.wo`));
      st.add.encode(pass, st.x, st.proj, st.mid);
      norm(st.norm, st.mid, `${p}.ln2`, st.n, st.mean, st.rstd);
      if (isMoeLayer(c, l)) {
        st.moe!.forward(pass, st.n, { wr: P(`${p}.moe.router`), w1: P(`${p}.moe.wi`), w2: P(`${p}.moe.wo`) }, st.proj);
      } else {
        st.up!.encode(pass, st.n, P(`${p}.mlp.wi`), st.u!, Pb(`${p}.mlp.wi`));
        if (st.gelu) st.gelu.encode(pass, st.u!, st.a!);
        else st.swiglu!.encode(pass, st.u!, st.a!);
        st.down!.encode(pass, st.a!, P(`${p}.mlp.wo`), st.proj, Pb(`${p}.mlp.wo`));
      }
      st.add.encode(pass, st.mid, st.proj, st.x);
    }
    pass.end();
    const rowBytes = c.nEmbd * 4;
    for (let s = 0; s < S; s++) enc.copyBufferToBuffer(st.x, ((s + 1) * Tn - 1) * rowBytes, st.last, s * rowBytes, rowBytes);
    pass = enc.beginComputePass();
    norm(this.headNorm, st.last, 'lnf', this.nLast, this.meanLast, this.rstdLast);
    this.head.encode(pass, this.nLast, c.tiedEmbeddings ? P('wte') : P('lm_head'), this.logits);
    pass.end();
    this.gpu.queue.submit([enc.finish()]);
    this.position = pos + Tn;
  }

  destroy(): void {
    for (const st of [...this.stages.values()]) this.destroyStage(st);
    for (const b of this.buffers) this.gpu.release(b);
    this.headNorm.destroy();
    this.head.destroy();
  }
}
