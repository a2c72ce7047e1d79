/**
 * The transformer on the GPU: forward() and backward() are straight-line schedules of kernel calls in the
 * order of the math (as llm.c's gpt2_forward), so reading them is reading the model.
 *
 *   x = wte[tokens]  (+ wpe[t] with learned positions)          (B·T, C)
 *   for each block l:
 *     x = x + wo · attention(rope(wq·n1), rope(wk·n1), wv·n1)     with n1 = norm(x); no rope with learned positions
 *                                      (qkNorm: rope(rmsnorm_per_head(wq·n1)), the same for k; see qk-norm.ts)
 *     x = x + mlp(n2)  or  moe(n2)                                 with n2 = norm(x)
 *   logits = norm(x) · wteᵀ (tied) or · lm_head                  (B·T, V)
 *
 * norm is RMSNorm (gain) or LayerNorm (gain and bias, which also keeps each row's mean), as the config says.
 * With model.bias every attention and dense-MLP linear adds its bias (the matmul's epilogue); a bias's gradient is
 * the column sum of its output's gradient over the B·T rows, added into the flat gradients as the weights' are.
 *
 * Activation policy: every activation the backward needs is kept (no recomputation); at toy sizes memory is
 * cheap and the step is faster. Attention keeps only y and the log-sum-exp per row (O(T) memory). QK-norm keeps the
 * pre-norm q and k and their rstd beside the normed, roped q and k that attention's backward reads.
 * Gradients accumulate into the flat gradient buffer (zero it once per optimisation step), so gradient
 * accumulation over micro-batches is simply several forward/backward pairs.
 */
import type { Gpu } from '../gpu/device';
import { Attention } from '../kernels/attention';
import type { Binding } from '../kernels/dispatch';
import { Add, Fill, GeluBackward, GeluForward, Rope, SwigluBackward, SwigluForward } from '../kernels/elementwise';
import { EmbeddingBackward, EmbeddingForward, PositionEmbeddingBackward } from '../kernels/embed';
import { CrossEntropyForward, FusedCrossEntropy } from '../kernels/loss';
import { Matmul } from '../kernels/matmul';
import { MoeLayer } from './moe-layer';
import { ColumnSum, LayerNormBackward, LayerNormForward, RmsNormBackward, RmsNormForward } from '../kernels/norm';
import { isMoeLayer, modelDims, type ModelConfig } from './config';
import { buildLayout, type ParamLayout } from './layout';
import { QkNorm, qkNormNames } from './qk-norm';

export interface BatchShape {
  /** Sequences per micro-batch. */
  B: number;
  /** Tokens per sequence (≤ contextLength). */
  T: number;
}

interface LayerActs {
  xIn: GPUBuffer; // (N, C) residual stream entering the block
  n1: GPUBuffer; // (N, C)
  rstd1: GPUBuffer; // (N)
  mean1: GPUBuffer | null; // (N) LayerNorm only
  q: GPUBuffer; // (N, NH·HS) after RoPE
  k: GPUBuffer; // (N, NKV·HS) after RoPE
  v: GPUBuffer; // (N, NKV·HS)
  att: GPUBuffer; // (N, NH·HS)
  lse: GPUBuffer; // (B, NH, T)
  qPre: GPUBuffer | null; // (N, NH·HS) before QK-norm (qkNorm only)
  kPre: GPUBuffer | null; // (N, NKV·HS) before QK-norm
  rstdQ: GPUBuffer | null; // (N·NH) QK-norm's rstd per head
  rstdK: GPUBuffer | null; // (N·NKV)
  xMid: GPUBuffer; // (N, C) after the attention residual
  n2: GPUBuffer; // (N, C)
  rstd2: GPUBuffer; // (N)
  mean2: GPUBuffer | null; // (N) LayerNorm only
  u: GPUBuffer | null; // (N, ffnIn) MLP pre-activation (dense blocks)
  a: GPUBuffer | null; // (N, H) MLP activation (dense blocks)
  moe: MoeLayer | null;
}

interface LayerKernels {
  qProj: Matmul; kProj: Matmul; vProj: Matmul; oProj: Matmul;
  up: Matmul | null; down: Matmul | null;
  // backward
  dAtt: Matmul; dWo: Matmul; dLnQ: Matmul; dLnK: Matmul; dLnV: Matmul; dWq: Matmul; dWk: Matmul; dWv: Matmul;
  dA: Matmul | null; dWdown: Matmul | null; dLnUp: Matmul | null; dWup: Matmul | null;
}

export class Model {
  readonly layout: ParamLayout;
  readonly N: number;
  /** Flat parameters and their gradients (see layout.ts). */
  readonly params: GPUBuffer;
  readonly grads: GPUBuffer;
  /** (N) u32 token ids and next-token targets of the current micro-batch; write them with setBatch. */
  readonly tokens: GPUBuffer;
  readonly targets: GPUBuffer;
  /** (N, V) logits; after lossAndGrad, dlogits in place. */
  readonly logits: GPUBuffer;
  /** (N) per-token losses of the last lossAndGrad or evalLoss. */
  readonly losses: GPUBuffer;
  private readonly acts: LayerActs[];
  private readonly lk: LayerKernels[];
  private readonly buffers: GPUBuffer[] = [];
  private readonly k: {
    embed: EmbeddingForward; embedBack: EmbeddingBackward; posBack: PositionEmbeddingBackward | null;
    norm: RmsNormForward | LayerNormForward; normBack: RmsNormBackward | LayerNormBackward; normBackFinal: RmsNormBackward | LayerNormBackward;
    attention: Attention; ropeQ: Rope | null; ropeK: Rope | null; qkNorm: QkNorm | null; add: Add;
    gelu: GeluForward | null; geluBack: GeluBackward | null; swiglu: SwigluForward | null; swigluBack: SwigluBackward | null;
    head: Matmul; dHeadIn: Matmul; dHeadW: Matmul; loss: FusedCrossEntropy; evalLoss: CrossEntropyForward; zeroGrads: Fill;
    // model.bias: the biases' gradients, by output width (q; k and v; C for wo and mlp.wo; the MLP's input projection)
    dbQ: ColumnSum | null; dbKv: ColumnSum | null; dbC: ColumnSum | null; dbF: ColumnSum | null;
  };
  // final norm and scratch
  private readonly xOut: GPUBuffer;
  private readonly nf: GPUBuffer;
  private readonly rstdf: GPUBuffer;
  private readonly meanf: GPUBuffer | null;
  private readonly proj: GPUBuffer;
  private readonly dres: GPUBuffer;
  private readonly dln: GPUBuffer;
  private readonly datt: GPUBuffer;
  private readonly dq: GPUBuffer;
  private readonly dk: GPUBuffer;
  private readonly dv: GPUBuffer;
  private readonly du: GPUBuffer | null;
  private readonly da: GPUBuffer | null;
  private readonly attScratch: GPUBuffer;

  constructor(
    private readonly gpu: Gpu,
    readonly config: ModelConfig,
    readonly shape: BatchShape,
    /**
     * 1 / (tokens per optimisation step): the mean's normaliser for the loss gradient. gradScale · B·T is the
     * micro-batch's share of the step (1/gradAccum), which also scales the MoE load-balancing gradient.
     */
    gradScale = 1 / (shape.B * shape.T),
    /** Use this parameter buffer instead of allocating one (a sampler sharing a trainer's weights). */
    sharedParams?: GPUBuffer,
  ) {
    const c = config;
    const { B, T } = shape;
    if (T > c.contextLength) throw new RangeError(`Cannot forward sequences of length ${T}: contextLength is only ${c.contextLength}`);
    const N = (this.N = B * T);
    const { C, hs, qDim, kvDim, H, ffnIn } = modelDims(c);
    const V = c.vocabSize;
    this.layout = buildLayout(c);
    const buf = (floats: number, label: string) => {
      const b = gpu.createBuffer(4 * floats, label);
      this.buffers.push(b);
      return b;
    };
    this.params = sharedParams ?? buf(this.layout.totalLength, 'params');
    if (sharedParams && sharedParams.size < this.layout.totalLength * 4) throw new RangeError(`shared parameter buffer holds ${sharedParams.size / 4} floats; the model needs ${this.layout.totalLength}`);
    this.grads = buf(this.layout.totalLength, 'grads');
    this.tokens = buf(N, 'tokens');
    this.targets = buf(N, 'targets');
    this.logits = buf(N * V, 'logits');
    this.losses = buf(N, 'losses');
    const anyDense = Array.from({ length: c.nLayer }, (_, l) => !isMoeLayer(c, l)).some(Boolean);
    const layerNorm = c.norm === 'layernorm';
    const learned = c.positions === 'learned';
    this.acts = [];
    this.lk = [];
    for (let l = 0; l < c.nLayer; l++) {
      const moe = isMoeLayer(c, l);
      this.acts.push({
        xIn: buf(N * C, `h.${l}.xIn`), n1: buf(N * C, `h.${l}.n1`), rstd1: buf(N, `h.${l}.rstd1`), mean1: layerNorm ? buf(N, `h.${l}.mean1`) : null,
        q: buf(N * qDim, `h.${l}.q`), k: buf(N * kvDim, `h.${l}.k`), v: buf(N * kvDim, `h.${l}.v`),
        att: buf(N * qDim, `h.${l}.att`), lse: buf(B * c.nHead * T, `h.${l}.lse`),
        qPre: c.qkNorm ? buf(N * qDim, `h.${l}.qPre`) : null, kPre: c.qkNorm ? buf(N * kvDim, `h.${l}.kPre`) : null,
        rstdQ: c.qkNorm ? buf(N * c.nHead, `h.${l}.rstdQ`) : null, rstdK: c.qkNorm ? buf(N * c.nKvHead, `h.${l}.rstdK`) : null,
        xMid: buf(N * C, `h.${l}.xMid`), n2: buf(N * C, `h.${l}.n2`), rstd2: buf(N, `h.${l}.rstd2`), mean2: layerNorm ? buf(N, `h.${l}.mean2`) : null,
        u: moe ? null : buf(N * ffnIn, `h.${l}.u`), a: moe ? null : buf(N * H, `h.${l}.a`),
        moe: moe
          ? new MoeLayer(gpu, {
              tokens: N, width: C, experts: c.moeExperts, topK: c.moeTopK as 1 | 2, hidden: H,
              capacityFactor: c.moeCapacityFactor, auxLossWeight: c.moeAuxLossWeight, activation: c.mlp, accumulateGrads: true,
              // this micro-batch's share of the step (1/gradAccum), as gradScale gives the cross-entropy
              auxGradScale: gradScale * N,
            })
          : null,
      });
      const mm = (s: ConstructorParameters<typeof Matmul>[1]) => new Matmul(gpu, s);
      const bias = c.bias;
      this.lk.push({
        qProj: mm({ M: N, N: qDim, K: C, bias }), kProj: mm({ M: N, N: kvDim, K: C, bias }), vProj: mm({ M: N, N: kvDim, K: C, bias }),
        oProj: mm({ M: N, N: C, K: qDim, bias }),
        up: moe ? null : mm({ M: N, N: ffnIn, K: C, bias }), down: moe ? null : mm({ M: N, N: C, K: H, bias }),
        dAtt: mm({ M: N, N: qDim, K: C, transB: true }),
        dWo: mm({ M: qDim, N: C, K: N, transA: true, accumulate: true }),
        dLnQ: mm({ M: N, N: C, K: qDim, transB: true }),
        dLnK: mm({ M: N, N: C, K: kvDim, transB: true, accumulate: true }),
        dLnV: mm({ M: N, N: C, K: kvDim, transB: true, accumulate: true }),
        dWq: mm({ M: C, N: qDim, K: N, transA: true, accumulate: true }),
        dWk: mm({ M: C, N: kvDim, K: N, transA: true, accumulate: true }),
        dWv: mm({ M: C, N: kvDim, K: N, transA: true, accumulate: true }),
        dA: moe ? null : mm({ M: N, N: H, K: C, transB: true }),
        dWdown: moe ? null : mm({ M: H, N: C, K: N, transA: true, accumulate: true }),
        dLnUp: moe ? null : mm({ M: N, N: C, K: ffnIn, transB: true }),
        dWup: moe ? null : mm({ M: C, N: ffnIn, K: N, transA: true, accumulate: true }),
      });
    }
    this.xOut = buf(N * C, 'xOut');
    this.nf = buf(N * C, 'nf');
    this.rstdf = buf(N, 'rstdf');
    this.meanf = layerNorm ? buf(N, 'meanf') : null;
    this.proj = buf(N * C, 'proj');
    this.dres = buf(N * C, 'dres');
    this.dln = buf(N * C, 'dln');
    this.datt = buf(N * qDim, 'datt');
    this.dq = buf(N * qDim, 'dq');
    this.dk = buf(N * kvDim, 'dk');
    this.dv = buf(N * kvDim, 'dv');
    this.du = anyDense ? buf(N * ffnIn, 'du') : null;
    this.da = anyDense ? buf(N * H, 'da') : null;
    const attShape = { B, T, NH: c.nHead, NKV: c.nKvHead, HS: hs };
    this.attScratch = buf(Attention.scratchFloats(attShape), 'attention scratch');
    const tied = c.tiedEmbeddings;
    this.k = {
      embed: new EmbeddingForward(gpu, { N, V, C }, learned ? { positions: { T, contextLength: c.contextLength } } : {}),
      embedBack: new EmbeddingBackward(gpu, { N, V, C }),
      posBack: learned ? new PositionEmbeddingBackward(gpu, { N, C }, { T, contextLength: c.contextLength }) : null,
      norm: layerNorm ? new LayerNormForward(gpu, { N, C, eps: c.normEps }) : new RmsNormForward(gpu, { N, C, eps: c.normEps }),
      // block norms add their dx into the residual gradient; the final norm starts it
      normBack: layerNorm
        ? new LayerNormBackward(gpu, { N, C, eps: c.normEps }, { accumulateDx: true, accumulateDparams: true })
        : new RmsNormBackward(gpu, { N, C, eps: c.normEps }, { accumulateDx: true, accumulateDweight: true }),
      normBackFinal: layerNorm
        ? new LayerNormBackward(gpu, { N, C, eps: c.normEps }, { accumulateDx: false, accumulateDparams: true })
        : new RmsNormBackward(gpu, { N, C, eps: c.normEps }, { accumulateDx: false, accumulateDweight: true }),
      attention: new Attention(gpu, attShape),
      ropeQ: learned ? null : new Rope(gpu, { B, T, NH: c.nHead, HS: hs, theta: c.ropeTheta }),
      ropeK: learned ? null : new Rope(gpu, { B, T, NH: c.nKvHead, HS: hs, theta: c.ropeTheta }),
      qkNorm: c.qkNorm ? new QkNorm(gpu, c, N, true) : null,
      add: new Add(gpu, N * C),
      gelu: anyDense && c.mlp === 'gelu' ? new GeluForward(gpu, N * H) : null,
      geluBack: anyDense && c.mlp === 'gelu' ? new GeluBackward(gpu, N * H) : null,
      swiglu: anyDense && c.mlp === 'swiglu' ? new SwigluForward(gpu, { N, H }) : null,
      swigluBack: anyDense && c.mlp === 'swiglu' ? new SwigluBackward(gpu, { N, H }) : null,
      head: new Matmul(gpu, tied ? { M: N, N: V, K: C, transB: true } : { M: N, N: V, K: C }),
      dHeadIn: new Matmul(gpu, tied ? { M: N, N: C, K: V } : { M: N, N: C, K: V, transB: true }),
      dHeadW: new Matmul(gpu, tied ? { M: V, N: C, K: N, transA: true, accumulate: true } : { M: C, N: V, K: N, transA: true, accumulate: true }),
      loss: new FusedCrossEntropy(gpu, { rows: N, vocab: V, targets: 'hard', gradScale, dlogits: 'inPlace' }),
      evalLoss: new CrossEntropyForward(gpu, { rows: N, vocab: V, targets: 'hard' }),
      zeroGrads: new Fill(gpu, this.layout.totalLength, 0),
      dbQ: c.bias ? new ColumnSum(gpu, { rows: N, cols: qDim, accumulate: true }) : null,
      dbKv: c.bias ? new ColumnSum(gpu, { rows: N, cols: kvDim, accumulate: true }) : null,
      dbC: c.bias ? new ColumnSum(gpu, { rows: N, cols: C, accumulate: true }) : null,
      dbF: c.bias && anyDense ? new ColumnSum(gpu, { rows: N, cols: ffnIn, accumulate: true }) : null,
    };
  }

  /** A parameter tensor as a binding into the flat buffer. */
  param(name: string): Binding {
    return this.range(this.params, name);
  }

  /** The bias of linear `name` (model.bias), or undefined for a model without biases: the matmul's fifth binding. */
  private bias(name: string): Binding | undefined {
    return this.config.bias ? this.param(`${name}.bias`) : undefined;
  }

  /** A parameter's gradient as a binding into the flat gradient buffer. */
  grad(name: string): Binding {
    return this.range(this.grads, name);
  }

  private range(buffer: GPUBuffer, name: string): Binding {
    const s = this.layout.byName.get(name);
    if (!s) throw new Error(`model has no parameter '${name}'`);
    return { buffer, offset: s.offset * 4, size: s.length * 4 };
  }

  /** Uploads a micro-batch (queued: it lands before work submitted after this call). */
  setBatch(tokens: Uint32Array<ArrayBuffer>, targets: Uint32Array<ArrayBuffer>): void {
    if (tokens.length !== this.N || targets.length !== this.N) throw new RangeError(`batch must hold B·T = ${this.N} tokens and targets, got ${tokens.length} and ${targets.length}`);
    this.gpu.queue.writeBuffer(this.tokens, 0, tokens);
    this.gpu.queue.writeBuffer(this.targets, 0, targets);
  }

  setParams(flat: Float32Array<ArrayBuffer>): void {
    if (flat.length !== this.layout.totalLength) throw new RangeError(`parameters must hold ${this.layout.totalLength} floats, got ${flat.length}`);
    this.gpu.queue.writeBuffer(this.params, 0, flat);
  }

  zeroGrads(pass: GPUComputePassEncoder): void {
    this.k.zeroGrads.encode(pass, this.grads);
  }

  /** tokens → logits (N, V), keeping activations for backward. */
  forward(pass: GPUComputePassEncoder): void {
    const { k, acts, lk } = this;
    const P = (n: string) => this.param(n);
    const Pb = (n: string) => this.bias(n);
    k.embed.encode(pass, this.tokens, P('wte'), acts[0].xIn, k.embed.positions ? P('wpe') : undefined);
    for (let l = 0; l < acts.length; l++) {
      const a = acts[l];
      const m = lk[l];
      const p = `h.${l}`;
      pass.pushDebugGroup(p); // scopes for the step profiler (and GPU debuggers)
      const xNext = l + 1 < acts.length ? acts[l + 1].xIn : this.xOut;
      this.normForward(pass, a.xIn, `${p}.ln1`, a.n1, a.mean1, a.rstd1);
      m.qProj.encode(pass, a.n1, P(`${p}.wq`), a.qPre ?? a.q, Pb(`${p}.wq`));
      m.kProj.encode(pass, a.n1, P(`${p}.wk`), a.kPre ?? a.k, Pb(`${p}.wk`));
      m.vProj.encode(pass, a.n1, P(`${p}.wv`), a.v, Pb(`${p}.wv`));
      k.qkNorm?.forward(pass, this.qkGains(l, P), { q: a.qPre!, k: a.kPre! }, { q: a.q, k: a.k }, { q: a.rstdQ!, k: a.rstdK! });
      k.ropeQ?.encodeForward(pass, a.q);
      k.ropeK?.encodeForward(pass, a.k);
      k.attention.encodeForward(pass, a.q, a.k, a.v, a.att, a.lse);
      m.oProj.encode(pass, a.att, P(`${p}.wo`), this.proj, Pb(`${p}.wo`));
      k.add.encode(pass, a.xIn, this.proj, a.xMid);
      this.normForward(pass, a.xMid, `${p}.ln2`, a.n2, a.mean2, a.rstd2);
      if (a.moe) {
        a.moe.forward(pass, a.n2, { wr: P(`${p}.moe.router`), w1: P(`${p}.moe.wi`), w2: P(`${p}.moe.wo`) }, this.proj);
      } else {
        m.up!.encode(pass, a.n2, P(`${p}.mlp.wi`), a.u!, Pb(`${p}.mlp.wi`));
        if (k.gelu) k.gelu.encode(pass, a.u!, a.a!);
        else k.swiglu!.encode(pass, a.u!, a.a!);
        m.down!.encode(pass, a.a!, P(`${p}.mlp.wo`), this.proj, Pb(`${p}.mlp.wo`));
      }
      k.add.encode(pass, a.xMid, this.proj, xNext);
      pass.popDebugGroup();
    }
    this.normForward(pass, this.xOut, 'lnf', this.nf, this.meanf, this.rstdf);
    k.head.encode(pass, this.nf, this.config.tiedEmbeddings ? P('wte') : P('lm_head'), this.logits);
  }

  /** Per-token losses and dlogits (in place of the logits), for training. */
  lossAndGrad(pass: GPUComputePassEncoder): void {
    this.k.loss.encode(pass, { logits: this.logits, targets: this.targets, losses: this.losses });
  }

  /** Per-token losses only (evaluation); logits are kept. */
  evalLoss(pass: GPUComputePassEncoder): void {
    this.k.evalLoss.encode(pass, { logits: this.logits, targets: this.targets, losses: this.losses });
  }

  /** Accumulates every parameter's gradient; follows forward + lossAndGrad of the same batch. */
  backward(pass: GPUComputePassEncoder): void {
    const { k, acts, lk } = this;
    const P = (n: string) => this.param(n);
    const G = (n: string) => this.grad(n);
    const headW = this.config.tiedEmbeddings ? 'wte' : 'lm_head';
    // head: dlogits (in this.logits) → d nf, d head weight
    k.dHeadIn.encode(pass, this.logits, P(headW), this.dln);
    if (this.config.tiedEmbeddings) k.dHeadW.encode(pass, this.logits, this.nf, G(headW));
    else k.dHeadW.encode(pass, this.nf, this.logits, G(headW));
    this.normBackward(pass, k.normBackFinal, this.xOut, 'lnf', this.meanf, this.rstdf);
    for (let l = acts.length - 1; l >= 0; l--) {
      const a = acts[l];
      const m = lk[l];
      const p = `h.${l}`;
      pass.pushDebugGroup(p);
      // MLP or MoE: dres is d(out of the block) = d(mlp out) = d(xMid) so far
      if (a.moe) {
        a.moe.backward(pass, a.n2, { wr: P(`${p}.moe.router`), w1: P(`${p}.moe.wi`), w2: P(`${p}.moe.wo`) }, this.dres, this.dln,
          { wr: G(`${p}.moe.router`), w1: G(`${p}.moe.wi`), w2: G(`${p}.moe.wo`) });
      } else {
        m.dA!.encode(pass, this.dres, P(`${p}.mlp.wo`), this.da!);
        m.dWdown!.encode(pass, a.a!, this.dres, G(`${p}.mlp.wo`));
        k.dbC?.encode(pass, this.dres, G(`${p}.mlp.wo.bias`));
        if (k.geluBack) k.geluBack.encode(pass, a.u!, this.da!, this.du!);
        else k.swigluBack!.encode(pass, a.u!, this.da!, this.du!);
        k.dbF?.encode(pass, this.du!, G(`${p}.mlp.wi.bias`));
        m.dLnUp!.encode(pass, this.du!, P(`${p}.mlp.wi`), this.dln);
        m.dWup!.encode(pass, a.n2, this.du!, G(`${p}.mlp.wi`));
      }
      this.normBackward(pass, k.normBack, a.xMid, `${p}.ln2`, a.mean2, a.rstd2);
      // attention
      m.dAtt.encode(pass, this.dres, P(`${p}.wo`), this.datt);
      m.dWo.encode(pass, a.att, this.dres, G(`${p}.wo`));
      k.dbC?.encode(pass, this.dres, G(`${p}.wo.bias`));
      k.attention.encodeBackward(pass, a.q, a.k, a.v, a.att, a.lse, this.datt, this.dq, this.dk, this.dv, this.attScratch);
      k.ropeQ?.encodeBackward(pass, this.dq);
      k.ropeK?.encodeBackward(pass, this.dk);
      // QK-norm: d(pre-norm q) into datt and d(pre-norm k) into dq, both dead by now (kvDim ≤ qDim)
      const dq = k.qkNorm ? this.datt : this.dq;
      const dk = k.qkNorm ? this.dq : this.dk;
      k.qkNorm?.backward(pass, this.qkGains(l, P), { q: a.qPre!, k: a.kPre! }, { q: a.rstdQ!, k: a.rstdK! }, { q: this.dq, k: this.dk }, { q: dq, k: dk }, this.qkGains(l, G));
      // the biases are added before RoPE and QK-norm, so their gradients are the column sums of the un-rotated,
      // pre-norm dq, dk
      k.dbQ?.encode(pass, dq, G(`${p}.wq.bias`));
      k.dbKv?.encode(pass, dk, G(`${p}.wk.bias`));
      k.dbKv?.encode(pass, this.dv, G(`${p}.wv.bias`));
      m.dLnQ.encode(pass, dq, P(`${p}.wq`), this.dln);
      m.dLnK.encode(pass, dk, P(`${p}.wk`), this.dln);
      m.dLnV.encode(pass, this.dv, P(`${p}.wv`), this.dln);
      m.dWq.encode(pass, a.n1, dq, G(`${p}.wq`));
      m.dWk.encode(pass, a.n1, dk, G(`${p}.wk`));
      m.dWv.encode(pass, a.n1, this.dv, G(`${p}.wv`));
      this.normBackward(pass, k.normBack, a.xIn, `${p}.ln1`, a.mean1, a.rstd1);
      pass.popDebugGroup();
    }
    k.embedBack.encode(pass, this.tokens, this.dres, G('wte'));
    k.posBack?.encode(pass, this.dres, G('wpe'));
  }

  /** y = norm(x) with the parameters `name` (and `name`.bias for LayerNorm, which also keeps the row means). */
  private normForward(pass: GPUComputePassEncoder, x: GPUBuffer, name: string, y: GPUBuffer, mean: GPUBuffer | null, rstd: GPUBuffer): void {
    const norm = this.k.norm;
    if (norm instanceof LayerNormForward) norm.encode(pass, x, this.param(name), this.param(`${name}.bias`), y, mean!, rstd);
    else norm.encode(pass, x, this.param(name), y, rstd);
  }

  /** d(norm input) from this.dln into this.dres (added or written, as the kernel was made), and the parameters' gradients. */
  private normBackward(
    pass: GPUComputePassEncoder, kernel: RmsNormBackward | LayerNormBackward, x: GPUBuffer, name: string, mean: GPUBuffer | null, rstd: GPUBuffer,
  ): void {
    if (kernel instanceof LayerNormBackward) {
      kernel.encode(pass, x, this.param(name), mean!, rstd, this.dln, this.dres, this.grad(name), this.grad(`${name}.bias`));
    } else {
      kernel.encode(pass, x, this.param(name), rstd, this.dln, this.dres, this.grad(name));
    }
  }

  /** Block `layer`'s QK-norm gains (P: parameters) or their gradients (G). */
  private qkGains(layer: number, at: (name: string) => Binding): { q: Binding; k: Binding } {
    const n = qkNormNames(layer);
    return { q: at(n.q), k: at(n.k) };
  }

  /** Routing statistics buffers of the MoE blocks (for the load view), in layer order. */
  get moeLayers(): { layer: number; moe: MoeLayer }[] {
    return this.acts.flatMap((a, layer) => (a.moe ? [{ layer, moe: a.moe }] : []));
  }

  destroy(): void {
    for (const a of this.acts) a.moe?.destroy();
    for (const kernels of [...this.lk, this.k]) for (const kernel of Object.values(kernels)) kernel?.destroy();
    for (const b of this.buffers) this.gpu.release(b);
  }
}
