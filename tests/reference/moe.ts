/**
 * float64 references for shaders/moe.wgsl (MoeRouting) and for a whole MoE feed-forward layer (MoeLayer):
 * the same policies as the kernels, written plainly. Legend: N tokens, C width, E experts, K choices, H hidden.
 */
import { geluBackwardRef, geluRef, swigluBackwardRef, swigluRef } from './elementwise';
import { matmulRef } from './matmul';

export const NO_SLOT = 0xffffffff;

export interface MoeDims {
  N: number;
  C: number;
  E: number;
  K: number;
  cap: number;
}

export interface RouterRef {
  /** (N, E) */
  probs: Float64Array;
  /** (N, K) */
  expertIndex: Uint32Array;
  /** (N, K) */
  gates: Float64Array;
}

/** Softmax, then top-K by logit with ties to the lowest index; gates renormalised when `normalize`. */
export function moeRouterRef(logits: ArrayLike<number>, d: MoeDims, normalize: boolean): RouterRef {
  const { N, E, K } = d;
  const probs = new Float64Array(N * E);
  const expertIndex = new Uint32Array(N * K);
  const gates = new Float64Array(N * K);
  for (let t = 0; t < N; t++) {
    const row = Array.from({ length: E }, (_, e) => logits[t * E + e]);
    const m = Math.max(...row);
    const ex = row.map((l) => Math.exp(l - m));
    const s = ex.reduce((a, b) => a + b, 0);
    ex.forEach((v, e) => (probs[t * E + e] = v / s));
    const order = row.map((l, e) => ({ l, e })).sort((a, b) => b.l - a.l || a.e - b.e);
    const chosen = order.slice(0, K).map((o) => o.e);
    const ps = chosen.map((e) => probs[t * E + e]);
    const norm = normalize ? ps.reduce((a, b) => a + b, 0) : 1;
    chosen.forEach((e, k) => {
      expertIndex[t * K + k] = e;
      gates[t * K + k] = ps[k] / norm;
    });
  }
  return { probs, expertIndex, gates };
}

export interface AssignRef {
  /** (N, K) slot within the chosen expert, or NO_SLOT. */
  slots: Uint32Array;
  /** (E, cap) pair t·K + k in each slot, or NO_SLOT. */
  slotSource: Uint32Array;
  load: Uint32Array;
  kept: Uint32Array;
  firstChoice: Uint32Array;
  probSum: Float64Array;
  dropped: number;
  /** E · Σ_e (firstChoice_e / N) · (probSum_e / N) */
  auxLoss: number;
}

/** Capacity assignment: choice rank first, then token index; pairs past capacity are dropped. */
export function moeAssignRef(expertIndex: ArrayLike<number>, probs: ArrayLike<number>, d: MoeDims): AssignRef {
  const { N, E, K, cap } = d;
  const slots = new Uint32Array(N * K).fill(NO_SLOT);
  const slotSource = new Uint32Array(E * cap).fill(NO_SLOT);
  const load = new Uint32Array(E);
  const firstChoice = new Uint32Array(E);
  for (let k = 0; k < K; k++) {
    for (let t = 0; t < N; t++) {
      const p = t * K + k;
      const e = expertIndex[p];
      const s = load[e]++;
      if (k === 0) firstChoice[e]++;
      if (s < cap) {
        slots[p] = s;
        slotSource[e * cap + s] = p;
      }
    }
  }
  const kept = load.map((l) => Math.min(l, cap));
  const probSum = new Float64Array(E);
  for (let t = 0; t < N; t++) for (let e = 0; e < E; e++) probSum[e] += probs[t * E + e];
  let dropped = 0;
  let aux = 0;
  for (let e = 0; e < E; e++) {
    dropped += load[e] - kept[e];
    aux += (firstChoice[e] / N) * (probSum[e] / N);
  }
  return { slots, slotSource, load, kept, firstChoice, probSum, dropped, auxLoss: E * aux };
}

/** x (N, C) → (E, cap, C) with empty slots zero. */
export function moeDispatchRef(x: ArrayLike<number>, slotSource: ArrayLike<number>, d: MoeDims): Float64Array {
  const { C, E, K, cap } = d;
  const out = new Float64Array(E * cap * C);
  for (let r = 0; r < E * cap; r++) {
    const p = slotSource[r];
    if (p === NO_SLOT) continue;
    const t = Math.floor(p / K);
    for (let c = 0; c < C; c++) out[r * C + c] = x[t * C + c];
  }
  return out;
}

/** The (E·cap) row pair p occupies, or -1 if dropped. */
function rowOf(expertIndex: ArrayLike<number>, slots: ArrayLike<number>, p: number, cap: number): number {
  return slots[p] === NO_SLOT ? -1 : expertIndex[p] * cap + slots[p];
}

/** y[t] = Σ_k gates[t, k] · expertOut[e_k, slot_k]. */
export function moeCombineRef(
  expertOut: ArrayLike<number>,
  expertIndex: ArrayLike<number>,
  slots: ArrayLike<number>,
  gates: ArrayLike<number>,
  d: MoeDims,
): Float64Array {
  const { N, C, K, cap } = d;
  const y = new Float64Array(N * C);
  for (let t = 0; t < N; t++) {
    for (let k = 0; k < K; k++) {
      const r = rowOf(expertIndex, slots, t * K + k, cap);
      if (r < 0) continue;
      for (let c = 0; c < C; c++) y[t * C + c] += gates[t * K + k] * expertOut[r * C + c];
    }
  }
  return y;
}

export function moeCombineBackwardRef(
  dy: ArrayLike<number>,
  expertOut: ArrayLike<number>,
  expertIndex: ArrayLike<number>,
  slots: ArrayLike<number>,
  gates: ArrayLike<number>,
  d: MoeDims,
): { dExpertOut: Float64Array; dGates: Float64Array } {
  const { N, C, E, K, cap } = d;
  const dExpertOut = new Float64Array(E * cap * C);
  const dGates = new Float64Array(N * K);
  for (let t = 0; t < N; t++) {
    for (let k = 0; k < K; k++) {
      const p = t * K + k;
      const r = rowOf(expertIndex, slots, p, cap);
      if (r < 0) continue;
      let dot = 0;
      for (let c = 0; c < C; c++) {
        dExpertOut[r * C + c] = gates[p] * dy[t * C + c];
        dot += dy[t * C + c] * expertOut[r * C + c];
      }
      dGates[p] = dot;
    }
  }
  return { dExpertOut, dGates };
}

type RouterBackwardArgs = [
  dGates: ArrayLike<number>,
  probs: ArrayLike<number>,
  expertIndex: ArrayLike<number>,
  firstChoice: ArrayLike<number>,
  d: MoeDims,
  normalize: boolean,
  auxWeight: number,
];

/**
 * dGates → dLogits through the gate policy and softmax, plus auxWeight · d aux / d logits with f_e (the
 * first-choice fractions) held constant.
 */
export function moeRouterBackwardRef(...args: RouterBackwardArgs): Float64Array {
  return routerBackward(false, ...args);
}

/**
 * The size of moeRouterBackwardRef's terms: the same sums taken over absolute values. The gate's gradient and the
 * aux loss's gradient can cancel in dp (and dp in dp − dot), so a float32 result's error is bounded by this, not by
 * the (possibly tiny) result: the yardstick for judging the kernel.
 */
export function moeRouterBackwardMagnitude(...args: RouterBackwardArgs): Float64Array {
  return routerBackward(true, ...args);
}

function routerBackward(abs: boolean, ...[dGates, probs, expertIndex, firstChoice, d, normalize, auxWeight]: RouterBackwardArgs): Float64Array {
  const { N, E, K } = d;
  const a = (x: number) => (abs ? Math.abs(x) : x);
  const sign = abs ? 1 : -1; // the terms' signs where the exact sums subtract
  const dLogits = new Float64Array(N * E);
  for (let t = 0; t < N; t++) {
    const dp = Array.from({ length: E }, (_, e) => a((auxWeight * E * firstChoice[e]) / (N * N)));
    const idx = Array.from({ length: K }, (_, k) => expertIndex[t * K + k]);
    const ps = idx.map((e) => probs[t * E + e]);
    const s = ps.reduce((x, y) => x + y, 0);
    for (let k = 0; k < K; k++) {
      const dg = a(dGates[t * K + k]);
      if (!normalize) {
        dp[idx[k]] += dg;
        continue;
      }
      // g_k = p_k / s: d g_k / d p_j = (δ_kj · s − p_k) / s².
      for (let j = 0; j < K; j++) dp[idx[j]] += (dg * ((k === j ? s : 0) + sign * ps[k])) / (s * s);
    }
    let dot = 0;
    for (let e = 0; e < E; e++) dot += probs[t * E + e] * dp[e];
    for (let e = 0; e < E; e++) dLogits[t * E + e] = probs[t * E + e] * (dp[e] + sign * dot);
  }
  return dLogits;
}

/** dx[t] = Σ_k dDispatched[e_k, slot_k]. */
export function moeDispatchBackwardRef(dDispatched: ArrayLike<number>, expertIndex: ArrayLike<number>, slots: ArrayLike<number>, d: MoeDims): Float64Array {
  const { N, C, K, cap } = d;
  const dx = new Float64Array(N * C);
  for (let t = 0; t < N; t++) {
    for (let k = 0; k < K; k++) {
      const r = rowOf(expertIndex, slots, t * K + k, cap);
      if (r < 0) continue;
      for (let c = 0; c < C; c++) dx[t * C + c] += dDispatched[r * C + c];
    }
  }
  return dx;
}

// ---- The whole layer: logits = x·Wr; y = combine(act(dispatch(x)·W1[e])·W2[e]), act GELU or SwiGLU. ----

export interface MoeLayerWeights {
  /** (C, E) router */
  wr: ArrayLike<number>;
  /** (E, C, F) up projection, F = H (GELU) or 2H (SwiGLU: [gate | up]) */
  w1: ArrayLike<number>;
  /** (E, H, C) down projection */
  w2: ArrayLike<number>;
}

/** Batched per-expert product: out[e] (M, P) = a[e] (M, Q) · b[e] (Q, P). */
const bmm = (a: ArrayLike<number>, b: ArrayLike<number>, E: number, M: number, Q: number, P: number) =>
  matmulRef({ M, N: P, K: Q, batch: E }, a, b, new Float64Array(E * M * P));

/** out[e] (Q, P) = a[e]ᵀ · b[e] with a[e] (M, Q), b[e] (M, P). */
const bmmTA = (a: ArrayLike<number>, b: ArrayLike<number>, E: number, M: number, Q: number, P: number) =>
  matmulRef({ M: Q, N: P, K: M, batch: E, transA: true }, a, b, new Float64Array(E * Q * P));

/** out[e] (M, Q) = a[e] (M, P) · b[e]ᵀ with b[e] (Q, P). */
const bmmTB = (a: ArrayLike<number>, b: ArrayLike<number>, E: number, M: number, P: number, Q: number) =>
  matmulRef({ M, N: Q, K: P, batch: E, transB: true }, a, b, new Float64Array(E * M * Q));

export interface MoeLayerForward {
  logits: Float64Array;
  router: RouterRef;
  assign: AssignRef;
  dispatched: Float64Array;
  /** (E, cap, F) before and (E, cap, H) after the activation */
  preact: Float64Array;
  hidden: Float64Array;
  /** (E, cap, C) */
  expertOut: Float64Array;
  y: Float64Array;
}

export interface MoeLayerOptions {
  /** Hidden width after the activation. */
  H: number;
  normalize: boolean;
  activation: 'gelu' | 'swiglu';
}

/** Forward of the layer (no biases; the residual is the caller's). */
export function moeLayerForwardRef(x: ArrayLike<number>, w: MoeLayerWeights, d: MoeDims, o: MoeLayerOptions): MoeLayerForward {
  const { N, C, E, cap } = d;
  const { H, normalize } = o;
  const F = o.activation === 'swiglu' ? 2 * H : H;
  const logits = bmm(x, w.wr, 1, N, C, E);
  const router = moeRouterRef(logits, d, normalize);
  const assign = moeAssignRef(router.expertIndex, router.probs, d);
  const dispatched = moeDispatchRef(x, assign.slotSource, d);
  const preact = bmm(dispatched, w.w1, E, cap, C, F);
  const hidden = o.activation === 'swiglu' ? swigluRef(preact, E * cap, H) : geluRef(preact);
  const expertOut = bmm(hidden, w.w2, E, cap, H, C);
  const y = moeCombineRef(expertOut, router.expertIndex, assign.slots, router.gates, d);
  return { logits, router, assign, dispatched, preact, hidden, expertOut, y };
}

export interface MoeLayerGrads {
  dx: Float64Array;
  dwr: Float64Array;
  dw1: Float64Array;
  dw2: Float64Array;
  dLogits: Float64Array;
}

/** Gradients of Σ dy·y + auxWeight · aux with respect to x and the weights. */
export function moeLayerBackwardRef(
  x: ArrayLike<number>,
  w: MoeLayerWeights,
  f: MoeLayerForward,
  dy: ArrayLike<number>,
  d: MoeDims,
  o: MoeLayerOptions,
  auxWeight: number,
): MoeLayerGrads {
  const { N, C, E, cap } = d;
  const { H, normalize } = o;
  const F = o.activation === 'swiglu' ? 2 * H : H;
  const { router, assign } = f;
  const { dExpertOut, dGates } = moeCombineBackwardRef(dy, f.expertOut, router.expertIndex, assign.slots, router.gates, d);
  const dw2 = bmmTA(f.hidden, dExpertOut, E, cap, H, C);
  const dHidden = bmmTB(dExpertOut, w.w2, E, cap, C, H);
  const dPreact = o.activation === 'swiglu' ? swigluBackwardRef(f.preact, dHidden, E * cap, H) : geluBackwardRef(f.preact, dHidden);
  const dw1 = bmmTA(f.dispatched, dPreact, E, cap, C, F);
  const dDispatched = bmmTB(dPreact, w.w1, E, cap, F, C);
  const dx = moeDispatchBackwardRef(dDispatched, router.expertIndex, assign.slots, d);
  const dLogits = moeRouterBackwardRef(dGates, router.probs, router.expertIndex, assign.firstChoice, d, normalize, auxWeight);
  const dwr = bmmTA(x, dLogits, 1, N, C, E);
  const dxRouter = bmmTB(dLogits, w.wr, 1, N, E, C);
  dx.forEach((v, i) => (dx[i] = v + dxRouter[i]));
  return { dx, dwr, dw1, dw2, dLogits };
}
