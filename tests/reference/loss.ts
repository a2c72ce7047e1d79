/** float64 references for shaders/loss.wgsl (softmax cross-entropy: hard, soft and weighted targets). */

export const IGNORE_INDEX = 0xffffffff;

export interface CrossEntropyRefInput {
  /** (N, V) */
  logits: ArrayLike<number>;
  rows: number;
  vocab: number;
  /** Hard targets (N); IGNORE_INDEX rows give loss 0 and gradient 0; other indices >= V give loss NaN, gradient 0. */
  targets?: ArrayLike<number>;
  /** Soft targets (N, V); used instead of `targets`. */
  soft?: ArrayLike<number>;
  /** Per-row weights (N). */
  weights?: ArrayLike<number>;
  /** dlogits = gradScale * d(sum of losses)/dlogits. */
  gradScale?: number;
}

export interface CrossEntropyRefOutput {
  /** (N) per-row loss, times its weight. */
  losses: Float64Array;
  /** (N, V) */
  dlogits: Float64Array;
  /** (N) max softmax probability. */
  maxProb: Float64Array;
  /** (N) softmax entropy in nats. */
  entropy: Float64Array;
}

/** log-softmax of one row in float64 (max-subtracted). */
export function logSoftmaxRow(z: ArrayLike<number>, offset: number, V: number): Float64Array {
  let m = -Infinity;
  for (let j = 0; j < V; j++) m = Math.max(m, z[offset + j]);
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(z[offset + j] - m);
  const logS = Math.log(s);
  const out = new Float64Array(V);
  for (let j = 0; j < V; j++) out[j] = z[offset + j] - m - logS;
  return out;
}

export function crossEntropyRef(x: CrossEntropyRefInput): CrossEntropyRefOutput {
  const { logits, rows: N, vocab: V, targets, soft, weights } = x;
  const gradScale = x.gradScale ?? 1;
  if (!targets === !soft) throw new Error('crossEntropyRef: give exactly one of targets (hard) or soft');
  const losses = new Float64Array(N);
  const dlogits = new Float64Array(N * V);
  const maxProb = new Float64Array(N);
  const entropy = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const lsm = logSoftmaxRow(logits, i * V, V);
    let h = 0;
    let pmax = 0;
    for (let j = 0; j < V; j++) {
      const p = Math.exp(lsm[j]);
      pmax = Math.max(pmax, p);
      if (p > 0) h -= p * lsm[j];
    }
    maxProb[i] = pmax;
    entropy[i] = h;
    const w = weights ? weights[i] : 1;
    if (soft) {
      let ce = 0;
      let sp = 0;
      for (let j = 0; j < V; j++) {
        const p = soft[i * V + j];
        sp += p;
        if (p !== 0) ce -= p * lsm[j];
      }
      losses[i] = w * ce;
      for (let j = 0; j < V; j++) dlogits[i * V + j] = gradScale * w * (sp * Math.exp(lsm[j]) - soft[i * V + j]);
    } else {
      const t = targets![i];
      if (t === IGNORE_INDEX) continue;
      if (!(t < V)) {
        losses[i] = NaN;
        continue;
      }
      losses[i] = -w * lsm[t];
      for (let j = 0; j < V; j++) dlogits[i * V + j] = gradScale * w * (Math.exp(lsm[j]) - (j === t ? 1 : 0));
    }
  }
  return { losses, dlogits, maxProb, entropy };
}

/** The scalar the backward differentiates: gradScale * sum of per-row (weighted) losses. */
export function crossEntropyObjective(x: CrossEntropyRefInput): number {
  const { losses } = crossEntropyRef(x);
  let sum = 0;
  for (const l of losses) sum += l;
  return (x.gradScale ?? 1) * sum;
}
