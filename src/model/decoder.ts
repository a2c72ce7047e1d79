/**
 * Inference with a KV cache: S sequences decode together. A prefill runs the prompt (P tokens per sequence,
 * all sequences padded to one length) through the model and fills the cache; each step then runs one new
 * token per sequence against the cached keys and values. Only the last position's logits are computed.
 *
 * Legend: S sequences, Tn new tokens per sequence this pass (P at prefill, 1 per step), N = S·Tn rows,
 * Tc cache capacity (positions), C width, V vocabulary. Caches k, v (S, Tc, NKV, HS) per layer.
 * MoE layers run with capacity N (no token is dropped at inference), unlike training's capacity factor.
 */
import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import { Attention } from '../kernels/attention';
import type { Binding } from '../kernels/dispatch';
import { Add, GeluForward, Rope, SwigluForward } from '../kernels/elementwise';
import { EmbeddingForward } from '../kernels/embed';
import { Matmul } from '../kernels/matmul';
import { MoeLayer } from '../kernels/moe-layer';
import { RmsNormForward } from '../kernels/norm';
import { headSize, isMoeLayer, type ModelConfig } from './config';
import { buildLayout, type ParamLayout } from './layout';

/** Kernels and activations for one pass shape (Tn new tokens per sequence). */
interface Stage {
  Tn: number;
  tokens: GPUBuffer;
  x: GPUBuffer; n: GPUBuffer; rstd: GPUBuffer; q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; att: GPUBuffer; lse: GPUBuffer;
  mid: GPUBuffer; proj: GPUBuffer; u: GPUBuffer | null; a: GPUBuffer | null; last: GPUBuffer;
  embed: EmbeddingForward; norm: RmsNormForward; add: Add;
  qProj: Matmul; kProj: Matmul; vProj: Matmul; oProj: Matmul; up: Matmul | null; down: Matmul | null;
  ropeQ: Rope; ropeK: Rope; attention: Attention;
  gelu: GeluForward | null; swiglu: SwigluForward | null; moe: (MoeLayer | null)[];
}

export class Decoder {
  readonly layout: ParamLayout;
  /** Logits of the last position of each sequence after the latest pass: (S, V). */
  readonly logits: GPUBuffer;
  /** Positions filled in the cache (the same for every sequence). */
  position = 0;
  private readonly kCache: GPUBuffer[] = [];
  private readonly vCache: GPUBuffer[] = [];
  private readonly stages = new Map<number, Stage>();
  private readonly buffers: GPUBuffer[] = [];
  private readonly headNorm: RmsNormForward;
  private readonly head: Matmul;
  private readonly nLast: GPUBuffer;
  private readonly rstdLast: GPUBuffer;

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
    for (let l = 0; l < c.nLayer; l++) {
      this.kCache.push(this.buf(kv, `h.${l}.k cache`));
      this.vCache.push(this.buf(kv, `h.${l}.v cache`));
    }
    this.logits = this.buf(sequences * c.vocabSize, 'decoder logits');
    this.nLast = this.buf(sequences * c.nEmbd, 'decoder final norm');
    this.rstdLast = this.buf(sequences, 'decoder final rstd');
    this.headNorm = new RmsNormForward(gpu, { N: sequences, C: c.nEmbd, eps: c.normEps });
    const V = c.vocabSize;
    const C = c.nEmbd;
    this.head = new Matmul(gpu, c.tiedEmbeddings ? { M: sequences, N: V, K: C, transB: true } : { M: sequences, N: V, K: C });
  }

  private buf(floats: number, label: string): GPUBuffer {
    const b = this.gpu.createBuffer(4 * floats, label);
    this.buffers.push(b);
    return b;
  }

  private P(name: string): Binding {
    const s = this.layout.byName.get(name)!;
    return { buffer: this.params, offset: s.offset * 4, size: s.length * 4 };
  }

  private stage(Tn: number): Stage {
    let st = this.stages.get(Tn);
    if (st) return st;
    const c = this.config;
    const S = this.sequences;
    const N = S * Tn;
    const C = c.nEmbd;
    const hs = headSize(c);
    const qDim = c.nHead * hs;
    const kvDim = c.nKvHead * hs;
    const H = c.mlpHidden;
    const ffnIn = c.mlp === 'swiglu' ? 2 * H : H;
    const anyDense = Array.from({ length: c.nLayer }, (_, l) => !isMoeLayer(c, l)).some(Boolean);
    const gpu = this.gpu;
    const mm = (s: ConstructorParameters<typeof Matmul>[1]) => new Matmul(gpu, s);
    st = {
      Tn,
      tokens: this.buf(N, `decoder tokens Tn=${Tn}`),
      x: this.buf(N * C, 'x'), n: this.buf(N * C, 'n'), rstd: this.buf(N, 'rstd'),
      q: this.buf(N * qDim, 'q'), k: this.buf(N * kvDim, 'k'), v: this.buf(N * kvDim, 'v'), att: this.buf(N * qDim, 'att'),
      lse: this.buf(S * c.nHead * Tn, 'lse'), mid: this.buf(N * C, 'mid'), proj: this.buf(N * C, 'proj'),
      u: anyDense ? this.buf(N * ffnIn, 'u') : null, a: anyDense ? this.buf(N * H, 'a') : null,
      last: this.buf(S * C, 'last rows'),
      embed: new EmbeddingForward(gpu, { N, V: c.vocabSize, C }),
      norm: new RmsNormForward(gpu, { N, C, eps: c.normEps }),
      add: new Add(gpu, N * C),
      qProj: mm({ M: N, N: qDim, K: C }), kProj: mm({ M: N, N: kvDim, K: C }), vProj: mm({ M: N, N: kvDim, K: C }),
      oProj: mm({ M: N, N: C, K: qDim }),
      up: anyDense ? mm({ M: N, N: ffnIn, K: C }) : null, down: anyDense ? mm({ M: N, N: C, K: H }) : null,
      ropeQ: new Rope(gpu, { B: S, T: Tn, NH: c.nHead, HS: hs, theta: c.ropeTheta }),
      ropeK: new Rope(gpu, { B: S, T: Tn, NH: c.nKvHead, HS: hs, theta: c.ropeTheta }),
      attention: new Attention(gpu, { B: S, T: Tn, NH: c.nHead, NKV: c.nKvHead, HS: hs, Tk: Tn, kvRows: this.capacity }),
      gelu: anyDense && c.mlp === 'gelu' ? new GeluForward(gpu, N * H) : null,
      swiglu: anyDense && c.mlp === 'swiglu' ? new SwigluForward(gpu, { N, H }) : null,
      moe: Array.from({ length: c.nLayer }, (_, l) =>
        isMoeLayer(c, l)
          ? new MoeLayer(gpu, { tokens: N, width: C, experts: c.moeExperts, topK: c.moeTopK as 1 | 2, hidden: H, capacity: N, activation: c.mlp })
          : null),
    };
    this.stages.set(Tn, st);
    return st;
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
    st.ropeQ.setPosOffset(pos);
    st.ropeK.setPosOffset(pos);
    st.attention.setVisibleKeys(pos + Tn);
    const P = (n: string) => this.P(n);
    const enc = this.gpu.device.createCommandEncoder({ label: `decoder pass Tn=${Tn} at ${pos}` });
    let pass = enc.beginComputePass();
    st.embed.encode(pass, st.tokens, P('wte'), st.x);
    for (let l = 0; l < c.nLayer; l++) {
      const p = `h.${l}`;
      st.norm.encode(pass, st.x, P(`${p}.ln1`), st.n, st.rstd);
      st.qProj.encode(pass, st.n, P(`${p}.wq`), st.q);
      st.kProj.encode(pass, st.n, P(`${p}.wk`), st.k);
      st.vProj.encode(pass, st.n, P(`${p}.wv`), st.v);
      st.ropeQ.encodeForward(pass, st.q);
      st.ropeK.encodeForward(pass, st.k);
      pass.end();
      // append this pass's keys and values to each sequence's cache rows [pos, pos + Tn)
      for (let s = 0; s < S; s++) {
        const dst = (s * this.capacity + pos) * kvRow;
        enc.copyBufferToBuffer(st.k, s * Tn * kvRow, this.kCache[l], dst, Tn * kvRow);
        enc.copyBufferToBuffer(st.v, s * Tn * kvRow, this.vCache[l], dst, Tn * kvRow);
      }
      pass = enc.beginComputePass();
      st.attention.encodeForward(pass, st.q, this.kCache[l], this.vCache[l], st.att, st.lse);
      st.oProj.encode(pass, st.att, P(`${p}.wo`), st.proj);
      st.add.encode(pass, st.x, st.proj, st.mid);
      st.norm.encode(pass, st.mid, P(`${p}.ln2`), st.n, st.rstd);
      const moe = st.moe[l];
      if (moe) {
        moe.forward(pass, st.n, { wr: P(`${p}.moe.router`), w1: P(`${p}.moe.wi`), w2: P(`${p}.moe.wo`) }, st.proj);
      } else {
        st.up!.encode(pass, st.n, P(`${p}.mlp.wi`), st.u!);
        if (st.gelu) st.gelu.encode(pass, st.u!, st.a!);
        else st.swiglu!.encode(pass, st.u!, st.a!);
        st.down!.encode(pass, st.a!, P(`${p}.mlp.wo`), st.proj);
      }
      st.add.encode(pass, st.mid, st.proj, st.x);
    }
    pass.end();
    const rowBytes = c.nEmbd * 4;
    for (let s = 0; s < S; s++) enc.copyBufferToBuffer(st.x, ((s + 1) * Tn - 1) * rowBytes, st.last, s * rowBytes, rowBytes);
    pass = enc.beginComputePass();
    this.headNorm.encode(pass, st.last, P('lnf'), this.nLast, this.rstdLast);
    this.head.encode(pass, this.nLast, c.tiedEmbeddings ? P('wte') : P('lm_head'), this.logits);
    pass.end();
    this.gpu.queue.submit([enc.finish()]);
    this.position = pos + Tn;
  }

  destroy(): void {
    for (const b of this.buffers) this.gpu.release(b);
    for (const st of this.stages.values()) {
      for (const [key, v] of Object.entries(st)) {
        if (key === 'moe') st.moe.forEach((m) => m?.destroy());
        else if (v && typeof v === 'object' && 'destroy' in v && !(v instanceof GPUBuffer)) (v as { destroy(): void }).destroy();
      }
    }
    this.headNorm.destroy();
    this.head.destroy();
    this.stages.clear();
  }
}
