/**
 * The whole model in float64, forward only, written independently of the kernels from the math:
 * embedding (+ learned positions) → L × [x += attn(norm(x)); x += mlp_or_moe(norm(x))] → norm → head → cross-entropy,
 * norm being RMSNorm or LayerNorm (gain and bias), attention rotating q and k by RoPE unless positions are learned,
 * the attention and dense-MLP linears adding their biases with model.bias (before RoPE; experts have none), and with
 * qkNorm each head's q and k RMS-normed over its HS channels (gains q_norm, k_norm) before RoPE (after the biases).
 * Used to check the GPU model's logits and loss (as llm.c's test_gpt2 checks against golden tensors) and,
 * by finite differences, its gradients.
 */
import { headSize, isMoeLayer, type ModelConfig } from '../../src/model/config';

export type RefParams = Map<string, Float64Array>;

/** y (N, out) = x (N, in) · W (in, out), optionally batched by expert offset. */
function linear(x: Float64Array, N: number, inDim: number, w: Float64Array, outDim: number, wOffset = 0): Float64Array {
  const y = new Float64Array(N * outDim);
  for (let n = 0; n < N; n++)
    for (let k = 0; k < inDim; k++) {
      const xv = x[n * inDim + k];
      if (xv === 0) continue;
      const row = wOffset + k * outDim;
      for (let o = 0; o < outDim; o++) y[n * outDim + o] += xv * w[row + o];
    }
  return y;
}

function rmsnorm(x: Float64Array, N: number, C: number, w: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[n * C + c] ** 2;
    const rstd = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) y[n * C + c] = x[n * C + c] * rstd * w[c];
  }
  return y;
}

/** LayerNorm with the biased variance: (x − mean) / √(var + eps) · w + bias. */
function layernorm(x: Float64Array, N: number, C: number, w: Float64Array, bias: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[n * C + c] / C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[n * C + c] - mean) ** 2 / C;
    const rstd = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < C; c++) y[n * C + c] = (x[n * C + c] - mean) * rstd * w[c] + bias[c];
  }
  return y;
}

/** GPT-NeoX rotary embedding on (B, T, H, HS): pairs (i, i + HS/2), angle t · theta^(−2i/HS). */
function rope(x: Float64Array, B: number, T: number, H: number, hs: number, theta: number): void {
  const half = hs / 2;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++) {
        const base = ((b * T + t) * H + h) * hs;
        for (let i = 0; i < half; i++) {
          const ang = t * Math.pow(theta, (-2 * i) / hs);
          const c = Math.cos(ang);
          const s = Math.sin(ang);
          const x1 = x[base + i];
          const x2 = x[base + i + half];
          x[base + i] = x1 * c - x2 * s;
          x[base + i + half] = x1 * s + x2 * c;
        }
      }
}

/** Causal attention with grouped-query heads; q (B,T,NH,HS), k/v (B,T,NKV,HS) → (B,T,NH,HS). */
function attention(q: Float64Array, k: Float64Array, v: Float64Array, B: number, T: number, NH: number, NKV: number, hs: number): Float64Array {
  const y = new Float64Array(B * T * NH * hs);
  const scale = 1 / Math.sqrt(hs);
  const group = NH / NKV;
  const p = new Float64Array(T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < NH; h++) {
      const kh = Math.floor(h / group);
      for (let t = 0; t < T; t++) {
        const qo = ((b * T + t) * NH + h) * hs;
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          const ko = ((b * T + s) * NKV + kh) * hs;
          let d = 0;
          for (let i = 0; i < hs; i++) d += q[qo + i] * k[ko + i];
          p[s] = d * scale;
          max = Math.max(max, p[s]);
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) sum += p[s] = Math.exp(p[s] - max);
        for (let s = 0; s <= t; s++) {
          const vo = ((b * T + s) * NKV + kh) * hs;
          const w = p[s] / sum;
          for (let i = 0; i < hs; i++) y[qo + i] += w * v[vo + i];
        }
      }
    }
  return y;
}

const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const silu = (x: number) => x / (1 + Math.exp(-x));

/** The MLP activation: GELU on (N, H), or SwiGLU on (N, 2H) laid out [gate | up] → (N, H). */
function activate(u: Float64Array, N: number, H: number, kind: string): Float64Array {
  const out = new Float64Array(N * H);
  for (let n = 0; n < N; n++)
    for (let j = 0; j < H; j++) {
      out[n * H + j] = kind === 'gelu' ? gelu(u[n * H + j]) : silu(u[n * 2 * H + j]) * u[n * 2 * H + H + j];
    }
  return out;
}

export interface MoeRouting {
  /** (N, K) chosen experts. */
  experts: Uint32Array;
  /** (N, K) gate weights. */
  gates: Float64Array;
  /** (N, K) whether the (token, choice) got a capacity slot. */
  kept: Uint8Array;
  auxLoss: number;
}

/**
 * Router: softmax over experts, top-k (ties → lower index), gates renormalised for k = 2 and raw for k = 1,
 * capacity ceil(factor · N · K / E) filled by choice rank then token index; the Switch aux loss
 * E · Σ_e f_e · P_e with f_e the fraction of tokens whose first choice is e.
 */
export function moeRoute(logits: Float64Array, N: number, E: number, K: number, capacityFactor: number): MoeRouting {
  const experts = new Uint32Array(N * K);
  const gates = new Float64Array(N * K);
  const kept = new Uint8Array(N * K);
  const meanProb = new Float64Array(E);
  const firstCount = new Float64Array(E);
  for (let n = 0; n < N; n++) {
    const row = logits.subarray(n * E, n * E + E);
    const max = Math.max(...row);
    const p = Array.from(row, (z) => Math.exp(z - max));
    const sum = p.reduce((a, b) => a + b, 0);
    for (let e = 0; e < E; e++) {
      p[e] /= sum;
      meanProb[e] += p[e] / N;
    }
    const order = [...p.keys()].sort((a, b) => p[b] - p[a] || a - b);
    let gsum = 0;
    for (let k = 0; k < K; k++) gsum += p[order[k]];
    for (let k = 0; k < K; k++) {
      experts[n * K + k] = order[k];
      gates[n * K + k] = K === 1 ? p[order[k]] : p[order[k]] / gsum;
    }
    firstCount[order[0]] += 1;
  }
  const cap = Math.ceil((capacityFactor * N * K) / E);
  const used = new Uint32Array(E);
  for (let k = 0; k < K; k++)
    for (let n = 0; n < N; n++) {
      const e = experts[n * K + k];
      if (used[e] < cap) {
        used[e]++;
        kept[n * K + k] = 1;
      }
    }
  let aux = 0;
  for (let e = 0; e < E; e++) aux += (firstCount[e] / N) * meanProb[e];
  return { experts, gates, kept, auxLoss: E * aux };
}

export interface RefForward {
  logits: Float64Array;
  /** Mean cross-entropy over the B·T positions. */
  ceLoss: number;
  /** Sum over MoE layers of weight · aux loss. */
  auxLoss: number;
  /** ceLoss + auxLoss: what training minimises. */
  loss: number;
}

export function referenceForward(c: ModelConfig, params: RefParams, tokens: ArrayLike<number>, targets: ArrayLike<number>, B: number, T: number): RefForward {
  const P = (name: string) => {
    const p = params.get(name);
    if (!p) throw new Error(`reference model: no parameter '${name}'`);
    return p;
  };
  const C = c.nEmbd;
  const N = B * T;
  const hs = headSize(c);
  const wte = P('wte');
  let x = new Float64Array(N * C);
  for (let n = 0; n < N; n++) for (let j = 0; j < C; j++) x[n * C + j] = wte[tokens[n] * C + j];
  const learned = c.positions === 'learned';
  if (learned) {
    const wpe = P('wpe');
    for (let n = 0; n < N; n++) for (let j = 0; j < C; j++) x[n * C + j] += wpe[(n % T) * C + j];
  }
  const norm = (h: Float64Array, name: string) =>
    c.norm === 'layernorm' ? layernorm(h, N, C, P(name), P(`${name}.bias`), c.normEps) : rmsnorm(h, N, C, P(name), c.normEps);
  // a linear of the block: x · W, plus its bias with model.bias
  const dense = (h: Float64Array, inDim: number, name: string, outDim: number) => {
    const y = linear(h, N, inDim, P(name), outDim);
    if (c.bias) {
      const b = P(`${name}.bias`);
      for (let i = 0; i < y.length; i++) y[i] += b[i % outDim];
    }
    return y;
  };
  let auxLoss = 0;
  const ffnIn = c.mlp === 'swiglu' ? 2 * c.mlpHidden : c.mlpHidden;
  for (let l = 0; l < c.nLayer; l++) {
    const p = `h.${l}`;
    const h1 = norm(x, `${p}.ln1`);
    let q = dense(h1, C, `${p}.wq`, c.nHead * hs);
    let k = dense(h1, C, `${p}.wk`, c.nKvHead * hs);
    const v = dense(h1, C, `${p}.wv`, c.nKvHead * hs);
    if (c.qkNorm) {
      // (N, H·HS) as (N·H, HS): one row per head
      q = rmsnorm(q, N * c.nHead, hs, P(`${p}.q_norm`), c.normEps);
      k = rmsnorm(k, N * c.nKvHead, hs, P(`${p}.k_norm`), c.normEps);
    }
    if (!learned) {
      rope(q, B, T, c.nHead, hs, c.ropeTheta);
      rope(k, B, T, c.nKvHead, hs, c.ropeTheta);
    }
    const att = attention(q, k, v, B, T, c.nHead, c.nKvHead, hs);
    const ao = dense(att, c.nHead * hs, `${p}.wo`, C);
    x = x.map((xv, i) => xv + ao[i]);
    const h2 = norm(x, `${p}.ln2`);
    if (isMoeLayer(c, l)) {
      const E = c.moeExperts;
      const K = c.moeTopK;
      const route = moeRoute(linear(h2, N, C, P(`${p}.moe.router`), E), N, E, K, c.moeCapacityFactor);
      auxLoss += c.moeAuxLossWeight * route.auxLoss;
      const wi = P(`${p}.moe.wi`);
      const wo = P(`${p}.moe.wo`);
      for (let n = 0; n < N; n++)
        for (let kk = 0; kk < K; kk++) {
          if (!route.kept[n * K + kk]) continue;
          const e = route.experts[n * K + kk];
          const u = linear(h2.subarray(n * C, n * C + C), 1, C, wi, ffnIn, e * C * ffnIn);
          const a = activate(u, 1, c.mlpHidden, c.mlp);
          const o = linear(a, 1, c.mlpHidden, wo, C, e * c.mlpHidden * C);
          const g = route.gates[n * K + kk];
          for (let j = 0; j < C; j++) x[n * C + j] += g * o[j];
        }
    } else {
      const u = dense(h2, C, `${p}.mlp.wi`, ffnIn);
      const a = activate(u, N, c.mlpHidden, c.mlp);
      const o = dense(a, c.mlpHidden, `${p}.mlp.wo`, C);
      x = x.map((xv, i) => xv + o[i]);
    }
  }
  const hf = norm(x, 'lnf');
  const V = c.vocabSize;
  let logits: Float64Array;
  if (c.tiedEmbeddings) {
    logits = new Float64Array(N * V);
    for (let n = 0; n < N; n++)
      for (let vv = 0; vv < V; vv++) {
        let d = 0;
        for (let j = 0; j < C; j++) d += hf[n * C + j] * wte[vv * C + j];
        logits[n * V + vv] = d;
      }
  } else {
    logits = linear(hf, N, C, P('lm_head'), V);
  }
  let ce = 0;
  for (let n = 0; n < N; n++) {
    const row = logits.subarray(n * V, n * V + V);
    const max = Math.max(...row);
    let sum = 0;
    for (let vv = 0; vv < V; vv++) sum += Math.exp(row[vv] - max);
    ce += Math.log(sum) + max - row[targets[n]];
  }
  const ceLoss = ce / N;
  return { logits, ceLoss, auxLoss, loss: ceLoss + auxLoss };
}
