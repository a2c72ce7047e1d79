/**
 * pass@k and accuracy with confidence intervals, for test-time scaling curves.
 *
 * pass@k (Chen et al. 2021, the unbiased estimator): draw n ≥ k samples of a problem, c of them correct; the chance
 * that k of them drawn without replacement contain a correct one is 1 − C(n−c, k) / C(n, k). The binomials overflow
 * quickly, so the ratio is taken as a product of m = min(c, k) factors, ∏_{j<m} (1 − M/(n−j)) with M = max(c, k)
 * (the ratio is symmetric in c and k), summed as logarithms. Past EXACT_FACTORS factors the sum comes from the
 * Euler–Maclaurin formula instead, so the work is bounded whatever the counts (any safe integers).
 */

/** Up to this many factors the product is taken term by term (well under a millisecond). */
const EXACT_FACTORS = 2 ** 16;

function checkCounts(n: number, c: number, k: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`pass@k: n (samples) must be a positive integer of at most 2^53 - 1, got ${n}`);
  if (!Number.isSafeInteger(c) || c < 0 || c > n) throw new RangeError(`pass@k: c (correct samples) must be an integer in [0, n=${n}], got ${c}`);
  if (!Number.isSafeInteger(k) || k < 1 || k > n) throw new RangeError(`pass@k: k must be an integer in [1, n=${n}], got ${k} (draw at least k samples)`);
}

/** log1p(−x) + x, accurate for small x (where the two terms nearly cancel). */
function log1pMinusPlus(x: number): number {
  if (x > 0.01) return Math.log1p(-x) + x;
  let power = x * x;
  let sum = 0;
  for (let i = 2; power / i > 1e-18 * Math.abs(sum) || i === 2; i++) {
    sum -= power / i;
    power *= x;
  }
  return sum;
}

/**
 * Σ_{y=a}^{b} log1p(−M/y) by Euler–Maclaurin: the integral plus half the end terms. Here (more than EXACT_FACTORS
 * terms, and m·M/n ≤ 45, so y ≥ n − m > 9e7) the derivative corrections are about 1/n² of the sum: below rounding.
 * The integral, (y−M)·ln(y−M) − y·ln y between a and b, is regrouped so that its large terms do not cancel.
 */
function logProductAsymptotic(M: number, a: number, b: number): number {
  const u = (y: number) => y * log1pMinusPlus(M / y); // y·log1p(−M/y) + M
  const integral = u(b) - u(a) - M * Math.log1p((b - a) / (a - M));
  return integral + (Math.log1p(-M / a) + Math.log1p(-M / b)) / 2;
}

/** Unbiased pass@k of one problem from n samples of which c are correct. */
export function passAtK(n: number, c: number, k: number): number {
  checkCounts(n, c, k);
  if (n - c < k) return 1; // every k-subset holds a correct sample
  if (c === 0) return 0;
  const m = Math.min(c, k);
  const M = Math.max(c, k);
  // log of the product ≤ −m·M/n; past −45 the product is below 1e-19 and pass@k rounds to exactly 1. This also
  // keeps the asymptotic sum where it is accurate (y far above M).
  if ((m / n) * M > 45) return 1;
  let logAllWrong = 0;
  if (m <= EXACT_FACTORS) for (let j = 0; j < m; j++) logAllWrong += Math.log1p(-M / (n - j));
  else logAllWrong = logProductAsymptotic(M, n - m + 1, n);
  return -Math.expm1(logAllWrong);
}

/** Samples and correct samples of one problem. */
export interface ProblemCounts {
  n: number;
  c: number;
}

/** Mean pass@k over problems (each needs n ≥ k). */
export function meanPassAtK(problems: readonly ProblemCounts[], k: number): number {
  if (problems.length === 0) throw new RangeError('pass@k: no problems to average over');
  let sum = 0;
  for (const p of problems) sum += passAtK(p.n, p.c, k);
  return sum / problems.length;
}

/** Mean pass@k for each k (e.g. 1, 2, 4, ... up to the smallest n): the points of a scaling curve. */
export function passAtKCurve(problems: readonly ProblemCounts[], ks: readonly number[]): { k: number; passAtK: number }[] {
  return ks.map((k) => ({ k, passAtK: meanPassAtK(problems, k) }));
}

/** Powers of two up to n, and n itself: the usual k values to plot. */
export function defaultKs(n: number): number[] {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`defaultKs: n (samples per problem) must be a positive whole number, got ${n}`);
  const ks: number[] = [];
  for (let k = 1; k <= n; k *= 2) ks.push(k);
  if (ks[ks.length - 1] !== n) ks.push(n);
  return ks;
}

/** A proportion with its confidence interval. */
export interface Interval {
  /** successes / trials (NaN when there are no trials). */
  estimate: number;
  low: number;
  high: number;
}

/**
 * Wilson score interval for a binomial proportion: unlike the normal (Wald) interval it stays inside [0, 1] and is
 * not empty at 0 or n successes, which is where small evaluation sets live. `z` defaults to the 95% value.
 */
export function wilsonInterval(successes: number, trials: number, z = zForConfidence(0.95)): Interval {
  if (!Number.isInteger(trials) || trials < 0) throw new RangeError(`wilsonInterval: trials must be a non-negative integer, got ${trials}`);
  if (!Number.isInteger(successes) || successes < 0 || successes > trials) {
    throw new RangeError(`wilsonInterval: successes must be an integer in [0, trials=${trials}], got ${successes}`);
  }
  if (!(z >= 0) || !Number.isFinite(z)) throw new RangeError(`wilsonInterval: z must be a finite number >= 0, got ${z}`);
  if (trials === 0) return { estimate: NaN, low: 0, high: 1 };
  const n = trials;
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // Exact at the ends (the formula gives them up to rounding).
  return {
    estimate: p,
    low: successes === 0 ? 0 : Math.max(0, centre - half),
    high: successes === n ? 1 : Math.min(1, centre + half),
  };
}

/** Accuracy of a list of verdicts, with its Wilson interval at the given confidence (default 0.95). */
export function accuracy(correct: readonly boolean[], confidence = 0.95): Interval & { correct: number; total: number } {
  const c = correct.reduce((s, x) => s + (x ? 1 : 0), 0);
  return { ...wilsonInterval(c, correct.length, zForConfidence(confidence)), correct: c, total: correct.length };
}

/** Standard normal CDF Φ(x), to about 1e-15 for |x| ≤ 8 (Taylor series of the integral; exact enough for z). */
export function normalCdf(x: number): number {
  if (x < -8) return 0;
  if (x > 8) return 1;
  // Φ(x) = 1/2 + φ(x) Σ x^(2j+1) / (1·3·5···(2j+1)); all terms positive for x > 0, so no cancellation.
  let term = x;
  let sum = x;
  for (let j = 1; j < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); j++) {
    term *= (x * x) / (2 * j + 1);
    sum += term;
  }
  return 0.5 + sum * Math.exp(-0.5 * x * x - 0.9189385332046728); // ln √(2π)
}

const zCache = new Map<number, number>();

/** The two-sided z for a confidence level, e.g. 0.95 → 1.95996; by bisection on Φ (cached: the default is hot). */
export function zForConfidence(confidence: number): number {
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be in (0, 1), e.g. 0.95, got ${confidence}`);
  let z = zCache.get(confidence);
  if (z === undefined) {
    z = bisectZ(confidence);
    if (zCache.size < 64) zCache.set(confidence, z);
  }
  return z;
}

function bisectZ(confidence: number): number {
  const target = 0.5 + confidence / 2;
  let lo = 0;
  let hi = 8;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
