/** float64 references for shaders/reduce.wgsl (Reduce, GlobalNorm). */

export function sumRef(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s;
}

/** Σ x², the squared L2 norm (GlobalNorm's output). */
export function sumSqRef(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

/** max |x|; NaN if any element is NaN (Math.max propagates NaN), 0 for an empty array. */
export function maxAbsRef(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

export const reduceRef = { sum: sumRef, sumsq: sumSqRef, maxabs: maxAbsRef } as const;

/** Σ x² over each segment (SegmentNorms' per-tensor output) and the sum of those (its total). */
export function segmentSumSqRef(x: ArrayLike<number>, segments: readonly { offset: number; length: number }[]): { perSegment: Float64Array; total: number } {
  const perSegment = Float64Array.from(segments, (s) => sumSqRef(Array.prototype.slice.call(x, s.offset, s.offset + s.length) as number[]));
  return { perSegment, total: sumRef(perSegment) };
}
