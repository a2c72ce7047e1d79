import { ConfigError, resolve, type Resolved, type Schema } from './validate';

/**
 * The model part of a run's config. One plain object, validated once at the boundary; the same object is
 * stored in checkpoints, shared URLs and regression baselines.
 */
export const modelSchema = {
  vocabSize: {
    type: 'int', default: 256, min: 2, max: 262_144,
    doc: "tokens in the vocabulary; in a run it is derived from the tokenizer (259 for the byte tokenizer, data.bpeVocabSize or fewer for BPE), so leave it out",
  },
  contextLength: { type: 'int', default: 128, min: 1, max: 8192, doc: 'tokens per sequence (T)' },
  nLayer: { type: 'int', default: 4, min: 1, max: 96, doc: 'transformer blocks' },
  nEmbd: { type: 'int', default: 128, min: 2, max: 8192, doc: 'model width (C)' },
  nHead: { type: 'int', default: 4, min: 1, max: 128, doc: 'query heads (NH)' },
  nKvHead: { type: 'int', default: 0, min: 0, max: 128, doc: 'key/value heads for grouped-query attention; 0 means equal to nHead' },
  mlp: { type: 'enum', default: 'swiglu', values: ['swiglu', 'gelu'], doc: 'MLP activation' },
  mlpHidden: { type: 'int', default: 0, min: 0, max: 65_536, doc: 'MLP hidden width; 0 means 4·C for GELU and 8/3·C (rounded up to 8) for SwiGLU' },
  moeEvery: { type: 'int', default: 0, min: 0, max: 96, doc: 'every k-th block uses a mixture-of-experts MLP; 0 means a dense model' },
  moeExperts: { type: 'int', default: 4, min: 1, max: 64, doc: 'experts per MoE block (E)' },
  moeTopK: { type: 'int', default: 2, min: 1, max: 2, doc: 'experts each token is routed to (K)' },
  moeCapacityFactor: { type: 'number', default: 1.25, min: 0.1, max: 64, doc: 'expert capacity as a multiple of the even share of tokens' },
  moeAuxLossWeight: { type: 'number', default: 0.01, min: 0, max: 10, doc: 'weight of the load-balancing loss' },
  tiedEmbeddings: { type: 'bool', default: true, doc: 'share the token embedding with the output head' },
  initScale: { type: 'number', default: 0.02, min: 1e-6, max: 10, doc: 'standard deviation of the initial weights' },
  norm: { type: 'enum', default: 'rmsnorm', values: ['rmsnorm', 'layernorm'], doc: 'normalisation of every block and the final norm: RMSNorm (a gain) or LayerNorm (a gain and a bias, as GPT-2)' },
  normEps: { type: 'number', default: 1e-5, min: 1e-12, max: 1, doc: 'epsilon of the norms (RMSNorm or LayerNorm)' },
  positions: { type: 'enum', default: 'rope', values: ['rope', 'learned'], doc: 'position information: rotary embeddings in attention, or a learned table of contextLength rows added to the token embedding (as GPT-2)' },
  bias: { type: 'bool', default: false, doc: 'biases on the attention (q, k, v, output) and dense MLP (in, out) linears, as GPT-2: zeros at init, no weight decay; MoE experts and the router stay without' },
  qkNorm: { type: 'bool', default: false, doc: "RMSNorm of each head's query and key over the head size (eps normEps; learned gains q_norm and k_norm shared by the layer's heads, not decayed) before RoPE, or before the scores with learned positions" },
  zeroInitProjections: { type: 'bool', default: false, doc: "the attention and MLP output projections (wo, mlp.wo, and each expert's moe.wo) start at exactly zero instead of GPT-2's scaled normal" },
  ropeTheta: { type: 'number', default: 10_000, min: 1, max: 1e9, doc: 'RoPE base (unused with learned positions)' },
} as const satisfies Schema;

export type ModelConfig = Resolved<typeof modelSchema>;

/** Validates a (partial) model config and fills in defaults; throws ConfigError naming the field and the fix. */
export function resolveModelConfig(input: unknown, path = 'model'): ModelConfig {
  const c = resolve(modelSchema, input, path);
  if (c.nKvHead === 0) c.nKvHead = c.nHead;
  if (c.nEmbd % c.nHead !== 0) {
    throw new ConfigError(`${path}.nEmbd ${c.nEmbd} is not divisible by ${path}.nHead ${c.nHead}: choose a width that is a multiple of the head count`, `${path}.nEmbd`);
  }
  const hs = c.nEmbd / c.nHead;
  // RoPE rotates pairs of a head's channels; learned positions have no such need
  if (c.positions === 'rope' && hs % 2 !== 0) {
    throw new ConfigError(`head size nEmbd/nHead = ${hs} must be even for RoPE: change ${path}.nEmbd or ${path}.nHead, or set ${path}.positions to 'learned'`, `${path}.nHead`);
  }
  if (hs > 256) throw new ConfigError(`head size nEmbd/nHead = ${hs} is above 256, which the attention kernel does not support: raise ${path}.nHead`, `${path}.nHead`);
  if (c.nHead % c.nKvHead !== 0) {
    throw new ConfigError(`${path}.nHead ${c.nHead} is not divisible by ${path}.nKvHead ${c.nKvHead}: each key/value head must serve a whole group of query heads`, `${path}.nKvHead`);
  }
  if (c.moeEvery > 0 && c.moeTopK > c.moeExperts) {
    throw new ConfigError(`${path}.moeTopK ${c.moeTopK} exceeds ${path}.moeExperts ${c.moeExperts}: a token cannot pick more experts than exist`, `${path}.moeTopK`);
  }
  if (c.mlpHidden === 0) c.mlpHidden = c.mlp === 'gelu' ? 4 * c.nEmbd : Math.ceil((8 * c.nEmbd) / 3 / 8) * 8;
  return c;
}

export const headSize = (c: ModelConfig): number => c.nEmbd / c.nHead;

/** The widths every part of the model derives from the config: one place, so the model, the decoder, the layout
 *  and the memory estimate cannot disagree. ffnIn is the MLP's input projection (SwiGLU: gate and up side by side). */
export function modelDims(c: ModelConfig): { C: number; hs: number; qDim: number; kvDim: number; H: number; ffnIn: number } {
  const hs = headSize(c);
  const H = c.mlpHidden;
  return { C: c.nEmbd, hs, qDim: c.nHead * hs, kvDim: c.nKvHead * hs, H, ffnIn: c.mlp === 'swiglu' ? 2 * H : H };
}

/** True when block `layer` (0-based) uses a mixture-of-experts MLP. */
export const isMoeLayer = (c: ModelConfig, layer: number): boolean => c.moeEvery > 0 && (layer + 1) % c.moeEvery === 0;

export interface ParamCounts {
  /** Every parameter. */
  total: number;
  /** Parameters a single token passes through (MoE: K of E experts). */
  activePerToken: number;
  /** Embedding parameters: wte (counted once when tied) and wpe with learned positions. */
  embedding: number;
  /** Of `embedding`, the learned position table wpe (contextLength·C; 0 with RoPE). */
  positionEmbedding: number;
}

/** Parameter counts from the config alone. */
export function countParams(c: ModelConfig): ParamCounts {
  const { C, hs, kvDim, ffnIn } = modelDims(c);
  const attn = C * C + 2 * C * kvDim + C * C + (c.bias ? C + 2 * kvDim + C : 0); // wq, wk, wv, wo (and their biases)
  const ffn = C * ffnIn + c.mlpHidden * C;
  const denseFfn = ffn + (c.bias ? ffnIn + C : 0); // experts have no biases
  const normWidth = c.norm === 'layernorm' ? 2 * C : C; // gain, and LayerNorm's bias
  const norms = 2 * normWidth;
  const qkNorm = c.qkNorm ? 2 * hs : 0; // q_norm and k_norm gains
  let total = 0;
  let active = 0;
  for (let l = 0; l < c.nLayer; l++) {
    total += attn + norms + qkNorm;
    active += attn + norms + qkNorm;
    if (isMoeLayer(c, l)) {
      total += c.moeExperts * ffn + C * c.moeExperts; // experts + router
      active += c.moeTopK * ffn + C * c.moeExperts;
    } else {
      total += denseFfn;
      active += denseFfn;
    }
  }
  const wpe = c.positions === 'learned' ? c.contextLength * C : 0;
  const embedding = c.vocabSize * C + wpe;
  const head = c.tiedEmbeddings ? 0 : c.vocabSize * C;
  total += embedding + head + normWidth; // + final norm
  active += embedding + head + normWidth;
  return { total, activePerToken: active, embedding, positionEmbedding: wpe };
}

/**
 * Training FLOPs per token: 6·N_active (forward 2, backward 4 per weight; the embedding lookups, wte's and
 * the learned positions' wpe, are not matmuls, but a tied head is) plus the causal attention term 6·L·T·C (QKᵀ and PV, halved for causality,
 * times 3 for forward and backward). N is Kaplan et al.'s non-embedding count: norm parameters (QK-norm gains
 * included) and linear biases count at 6 like weights although they cost about 2 (an add, a column sum): GPT-2's
 * ~9·C biases per block against ~12·C² weights overcount by about 0.5/C (0.4% at C = 128), and one rule holds for
 * every recipe.
 */
export function flopsPerToken(c: ModelConfig): number {
  const p = countParams(c);
  const matmulParams = p.activePerToken - p.positionEmbedding - (c.tiedEmbeddings ? 0 : p.embedding - p.positionEmbedding);
  return 6 * matmulParams + 6 * c.nLayer * c.contextLength * c.nEmbd;
}
