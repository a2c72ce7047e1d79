/**
 * float64 references for shaders/attention.wgsl: causal multi-head self-attention with grouped-query heads.
 * The plain O(T²) math, one query row at a time, written to be obviously right rather than fast.
 *
 * Legend: q, y, dy, dq (B, T, NH, HS); k, v, dk, dv (B, T, NKV, HS); lse (B, NH, T). Query head h uses
 * kv head h / (NH / NKV). s_ij = scale · q_i·k_j for j ≤ i, P = softmax_j(s), y_i = Σ_j P_ij v_j.
 * Decoding (forward only): the T queries are the last T of Tk positions, so query i sees keys j ≤ i + Tk − T,
 * and k, v are (B, kvRows, NKV, HS) with kvRows ≥ Tk.
 */

export interface AttentionDims {
  B: number;
  T: number;
  NH: number;
  NKV: number;
  HS: number;
  /** Defaults to 1/sqrt(HS). */
  scale?: number;
  /** Keys visible; defaults to T. */
  Tk?: number;
  /** Rows per batch of k and v; defaults to Tk. */
  kvRows?: number;
}

export interface AttentionForwardRef {
  y: Float64Array; // (B, T, NH, HS)
  lse: Float64Array; // (B, NH, T)
}

export interface AttentionGradsRef {
  dq: Float64Array; // (B, T, NH, HS)
  dk: Float64Array; // (B, T, NKV, HS)
  dv: Float64Array; // (B, T, NKV, HS)
}

type Vec = ArrayLike<number>;

const scaleOf = (d: AttentionDims): number => d.scale ?? 1 / Math.sqrt(d.HS);
const qIndex = (d: AttentionDims, b: number, t: number, h: number): number => ((b * d.T + t) * d.NH + h) * d.HS;
const kvRows = (d: AttentionDims): number => d.kvRows ?? d.Tk ?? d.T;
const kvIndex = (d: AttentionDims, b: number, t: number, g: number): number => ((b * kvRows(d) + t) * d.NKV + g) * d.HS;

/** P_i· for one query row: the softmax of scale · q_i·k_j over the keys it sees (j ≤ last), and its log-sum-exp. */
function rowProbs(d: AttentionDims, q: Vec, k: Vec, b: number, h: number, i: number): { p: Float64Array; lse: number } {
  const g = Math.floor(h / (d.NH / d.NKV));
  const scale = scaleOf(d);
  const last = i + (d.Tk ?? d.T) - d.T;
  const s = new Float64Array(last + 1);
  const qi = qIndex(d, b, i, h);
  let m = -Infinity;
  for (let j = 0; j <= last; j++) {
    const kj = kvIndex(d, b, j, g);
    let dot = 0;
    for (let c = 0; c < d.HS; c++) dot += q[qi + c] * k[kj + c];
    s[j] = scale * dot;
    m = Math.max(m, s[j]);
  }
  let sum = 0;
  for (let j = 0; j <= last; j++) sum += Math.exp(s[j] - m);
  for (let j = 0; j <= last; j++) s[j] = Math.exp(s[j] - m) / sum;
  return { p: s, lse: m + Math.log(sum) };
}

function checkDims(d: AttentionDims): void {
  if (d.NH % d.NKV !== 0) throw new Error(`attention reference: NH ${d.NH} is not divisible by NKV ${d.NKV}`);
  if ((d.Tk ?? d.T) < d.T || kvRows(d) < (d.Tk ?? d.T)) throw new Error('attention reference: needs T <= Tk <= kvRows');
}

export function attentionForwardRef(q: Vec, k: Vec, v: Vec, d: AttentionDims): AttentionForwardRef {
  checkDims(d);
  const { B, T, NH, HS } = d;
  const y = new Float64Array(B * T * NH * HS);
  const lse = new Float64Array(B * NH * T);
  const group = NH / d.NKV;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const g = Math.floor(h / group);
      for (let i = 0; i < T; i++) {
        const { p, lse: l } = rowProbs(d, q, k, b, h, i);
        lse[(b * NH + h) * T + i] = l;
        const yi = qIndex(d, b, i, h);
        for (let j = 0; j < p.length; j++) {
          const vj = kvIndex(d, b, j, g);
          for (let c = 0; c < HS; c++) y[yi + c] += p[j] * v[vj + c];
        }
      }
    }
  }
  return { y, lse };
}

/**
 * Gradients of L = Σ dy ∘ y with respect to q, k, v:
 * dv_j = Σ_i P_ij dy_i; dP_ij = dy_i·v_j; dS_ij = P_ij (dP_ij − Σ_j' P_ij' dP_ij'); dq_i = scale Σ_j dS_ij k_j;
 * dk_j = scale Σ_i dS_ij q_i (summed over the query heads that share the kv head).
 */
export function attentionBackwardRef(q: Vec, k: Vec, v: Vec, dy: Vec, d: AttentionDims): AttentionGradsRef {
  checkDims(d);
  if (kvRows(d) !== d.T) throw new Error('attention reference: the backward is for training shapes (Tk = kvRows = T)');
  const { B, T, NH, NKV, HS } = d;
  const scale = scaleOf(d);
  const group = NH / NKV;
  const dq = new Float64Array(B * T * NH * HS);
  const dk = new Float64Array(B * T * NKV * HS);
  const dv = new Float64Array(B * T * NKV * HS);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const g = Math.floor(h / group);
      for (let i = 0; i < T; i++) {
        const { p } = rowProbs(d, q, k, b, h, i);
        const qi = qIndex(d, b, i, h);
        const dP = new Float64Array(i + 1);
        let rowDot = 0; // Σ_j P_ij dP_ij, which equals dy_i·y_i
        for (let j = 0; j <= i; j++) {
          const vj = kvIndex(d, b, j, g);
          let dot = 0;
          for (let c = 0; c < HS; c++) dot += dy[qi + c] * v[vj + c];
          dP[j] = dot;
          rowDot += p[j] * dot;
        }
        for (let j = 0; j <= i; j++) {
          const kj = kvIndex(d, b, j, g);
          const dS = p[j] * (dP[j] - rowDot);
          for (let c = 0; c < HS; c++) {
            dv[kj + c] += p[j] * dy[qi + c];
            dq[qi + c] += scale * dS * k[kj + c];
            dk[kj + c] += scale * dS * q[qi + c];
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}

/** D_i = dy_i·y_i, laid out (B, NH, T): the first step of the kernel's backward. */
export function attentionRowDotRef(dy: Vec, y: Vec, d: AttentionDims): Float64Array {
  const { B, T, NH, HS } = d;
  const out = new Float64Array(B * NH * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < NH; h++) {
        const base = qIndex(d, b, t, h);
        let s = 0;
        for (let c = 0; c < HS; c++) s += dy[base + c] * y[base + c];
        out[(b * NH + h) * T + t] = s;
      }
    }
  }
  return out;
}
