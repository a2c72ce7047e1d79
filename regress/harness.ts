/**
 * Small helpers the checks share: turning a comparison with the float64 reference into a CheckResult, seeds
 * derived from check ids (so every run sees the same inputs). Timing lives in src/gpu/timing.ts.
 */
import { compare } from '../tests/util/compare';
import type { CheckResult } from './types';

/** Reference-relative tolerance of the kernel checks: ‖out − ref‖ / ‖ref‖ (float32 kernels land far below). */
export const TOL = 1e-4;

/** A u32 seed from a string (FNV-1a): inputs are fixed per check id, the same on every run and adapter. */
export function seedOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 1;
}

/** ‖out − ref‖ / ‖magnitude‖ against the float64 reference as a correctness check. */
export function relErrorCheck(
  id: string,
  kernel: string,
  out: ArrayLike<number>,
  ref: ArrayLike<number>,
  tol = TOL,
  magnitude?: ArrayLike<number>,
): CheckResult {
  const r = compare(out, ref, tol, magnitude);
  const finite = Number.isFinite(r.relError);
  const bad = !finite || r.relError > tol;
  return {
    id,
    kind: 'correctness',
    kernel,
    value: finite ? r.relError : null,
    unit: 'rel. error',
    tolerance: { rule: 'max', value: tol },
    message: bad
      ? `${r.nonFinite ? `${r.nonFinite} non-finite values; ` : ''}first mismatches: ${r.firstMismatches.slice(0, 5).join('; ') || '(none large; error is spread)'}`
      : undefined,
  };
}

/** Exact comparison of integer outputs: value = number of mismatching elements, tolerance 0. */
export function mismatchCheck(id: string, kernel: string, out: ArrayLike<number>, ref: ArrayLike<number>, skip?: (i: number) => boolean): CheckResult {
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < ref.length; i++) {
    if (skip?.(i) || out[i] === ref[i]) continue;
    count++;
    if (bad.length < 5) bad.push(`[${i}] got ${out[i]} want ${ref[i]}`);
  }
  return {
    id,
    kind: 'correctness',
    kernel,
    value: count,
    unit: 'mismatches',
    tolerance: { rule: 'max', value: 0 },
    message: count ? bad.join('; ') : undefined,
  };
}

/** A check that threw: its message, verdict 'error'. */
export function errorCheck(id: string, kernel: string, e: unknown): CheckResult {
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return { id, kind: 'correctness', kernel, value: null, unit: '', tolerance: { rule: 'max', value: 0 }, message, error: true };
}

