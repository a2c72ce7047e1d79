/**
 * float64 reference for shaders/adamw.wgsl (AdamW): one step over the flat parameter buffer, walking the segment
 * list directly (not the kernel's block table), with the norm² of the whole gradient buffer as GlobalNorm gives it.
 */
import type { AdamWHyper, ParamSegment } from '../../src/kernels/adamw';
import { sumSqRef } from './reduce';

export interface AdamWState {
  params: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

export interface AdamWRefResult extends AdamWState {
  /** 1 when the step was skipped (non-finite norm²), else 0. */
  skipped: 0 | 1;
  normSq: number;
  /** The gradient scale the clipping applied (1 when off or inactive). */
  scale: number;
}

/**
 * New params, m and v after one AdamW step (inputs untouched). Floats outside every segment keep their values.
 * `normSq` defaults to Σ grads² over the whole buffer.
 */
export function adamwRef(
  state: { params: ArrayLike<number>; m: ArrayLike<number>; v: ArrayLike<number> },
  grads: ArrayLike<number>,
  segments: readonly ParamSegment[],
  h: AdamWHyper,
  normSq = sumSqRef(grads),
): AdamWRefResult {
  const out: AdamWState = { params: Float64Array.from(state.params), m: Float64Array.from(state.m), v: Float64Array.from(state.v) };
  if (!Number.isFinite(normSq)) return { ...out, skipped: 1, normSq, scale: NaN };
  const scale = h.maxNorm > 0 ? Math.min(1, h.maxNorm / (Math.sqrt(normSq) + 1e-6)) : 1;
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2 = 1 - h.beta2 ** h.step;
  for (const s of segments) {
    const wd = s.decay ? h.weightDecay : 0;
    for (let i = s.offset; i < s.offset + s.length; i++) {
      const g = grads[i] * scale;
      const m = h.beta1 * out.m[i] + (1 - h.beta1) * g;
      const v = h.beta2 * out.v[i] + (1 - h.beta2) * g * g;
      out.m[i] = m;
      out.v[i] = v;
      const p = out.params[i];
      out.params[i] = p - h.lr * (m / bc1 / (Math.sqrt(v / bc2) + h.eps) + wd * p);
    }
  }
  return { ...out, skipped: 0, normSq, scale };
}
