/**
 * Compares a kernel's output with a float64 reference by ‖out − ref‖ / ‖ref‖ and, on failure, reports
 * the first mismatching indices (as llm.c's validate_result does), non-finite values included.
 */
export interface CompareReport {
  relError: number;
  firstMismatches: string[];
  nonFinite: number;
}

export function compare(out: ArrayLike<number>, ref: ArrayLike<number>, tol: number, magnitude: ArrayLike<number> = ref): CompareReport {
  if (out.length < ref.length) throw new Error(`output has ${out.length} values, reference ${ref.length}`);
  let num = 0;
  let den = 0;
  let nonFinite = 0;
  const firstMismatches: string[] = [];
  for (let i = 0; i < ref.length; i++) {
    const d = out[i] - ref[i];
    if (!Number.isFinite(out[i])) nonFinite++;
    num += d * d;
    den += magnitude[i] * magnitude[i];
    const scale = Math.max(Math.abs(magnitude[i]), 1e-3);
    if ((!Number.isFinite(out[i]) || Math.abs(d) / scale > Math.max(tol * 100, 1e-3)) && firstMismatches.length < 10) {
      firstMismatches.push(`[${i}] got ${out[i]} want ${ref[i]}`);
    }
  }
  const relError = den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
  return { relError: nonFinite ? Infinity : relError, firstMismatches, nonFinite };
}

/** Throws with a readable report if the relative error exceeds `tol`. */
export function expectClose(name: string, out: ArrayLike<number>, ref: ArrayLike<number>, tol: number, context = ''): number {
  const r = compare(out, ref, tol);
  if (!(r.relError <= tol)) {
    throw new Error(
      `${name}${context ? ` (${context})` : ''}: relative error ${r.relError.toExponential(3)} > ${tol}` +
        (r.nonFinite ? `, ${r.nonFinite} non-finite values` : '') +
        `\n  first mismatches: ${r.firstMismatches.join('; ') || '(none large; error is spread)'}`,
    );
  }
  return r.relError;
}

/**
 * Like expectClose, but the error is measured against `magnitude` (e.g. the same sums taken over absolute
 * values) instead of the result itself: the right yardstick for short dot products, whose float32 error is
 * bounded by the size of their terms, not of their (possibly cancelled) sum.
 */
export function expectCloseToScale(
  name: string,
  out: ArrayLike<number>,
  ref: ArrayLike<number>,
  magnitude: ArrayLike<number>,
  tol: number,
  context = '',
): number {
  const r = compare(out, ref, tol, magnitude);
  if (!(r.relError <= tol)) {
    throw new Error(
      `${name}${context ? ` (${context})` : ''}: error relative to the terms' magnitude ${r.relError.toExponential(3)} > ${tol}` +
        (r.nonFinite ? `, ${r.nonFinite} non-finite values` : '') +
        `\n  first mismatches: ${r.firstMismatches.join('; ') || '(none large; error is spread)'}`,
    );
  }
  return r.relError;
}

/** Exact equality for integer outputs, with the first differences listed. */
export function expectEqualInts(name: string, out: ArrayLike<number>, ref: ArrayLike<number>, context = ''): void {
  const bad: string[] = [];
  for (let i = 0; i < ref.length && bad.length < 10; i++) if (out[i] !== ref[i]) bad.push(`[${i}] got ${out[i]} want ${ref[i]}`);
  if (bad.length) throw new Error(`${name}${context ? ` (${context})` : ''}: ${bad.join('; ')}`);
}

/** Central finite difference of a scalar float64 function f at x (in place), for each index in `indices`. */
export function finiteDifference(f: () => number, x: Float64Array, indices: Iterable<number>, h = 1e-5): Map<number, number> {
  const out = new Map<number, number>();
  for (const i of indices) {
    const old = x[i];
    x[i] = old + h;
    const fp = f();
    x[i] = old - h;
    const fm = f();
    x[i] = old;
    out.set(i, (fp - fm) / (2 * h));
  }
  return out;
}
