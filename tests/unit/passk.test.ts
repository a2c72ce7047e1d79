import { describe, expect, it } from 'vitest';
import {
  accuracy,
  defaultKs,
  meanPassAtK,
  normalCdf,
  passAtK,
  passAtKCurve,
  wilsonInterval,
  zForConfidence,
} from '../../src/eval/passk';

/** Fraction of k-subsets of n samples (the first c correct) that hold a correct one, by enumeration. */
function bruteForce(n: number, c: number, k: number): number {
  let hit = 0;
  let all = 0;
  for (let mask = 0; mask < 1 << n; mask++) {
    let bits = 0;
    for (let m = mask; m; m &= m - 1) bits++;
    if (bits !== k) continue;
    all++;
    if (mask & ((1 << c) - 1)) hit++;
  }
  return hit / all;
}

function binomial(n: number, k: number): bigint {
  let r = 1n;
  for (let i = 0; i < k; i++) r = (r * BigInt(n - i)) / BigInt(i + 1);
  return r;
}

describe('passAtK', () => {
  it('matches enumeration over all k-subsets for small n', () => {
    for (let n = 1; n <= 10; n++) {
      for (let c = 0; c <= n; c++) {
        for (let k = 1; k <= n; k++) expect(passAtK(n, c, k), `n=${n} c=${c} k=${k}`).toBeCloseTo(bruteForce(n, c, k), 12);
      }
    }
  });

  it('handles the edges: no correct, all correct, k = n, too few wrong samples', () => {
    expect(passAtK(10, 0, 1)).toBe(0);
    expect(passAtK(10, 0, 10)).toBe(0);
    expect(passAtK(10, 10, 1)).toBe(1);
    expect(passAtK(10, 1, 10)).toBe(1); // k = n: every sample is drawn
    expect(passAtK(10, 3, 8)).toBe(1); // only 7 wrong samples, so 8 draws must include a correct one
    expect(passAtK(10, 3, 1)).toBeCloseTo(0.3, 15); // pass@1 is the fraction correct
    expect(passAtK(1, 1, 1)).toBe(1);
  });

  it('stays exact where the binomials overflow doubles', () => {
    expect(passAtK(1000, 1, 1)).toBeCloseTo(0.001, 15);
    for (const [n, c, k] of [[200, 100, 50], [1200, 7, 300], [2000, 1990, 5]]) {
      const scale = 10n ** 40n;
      const exact = 1 - Number((binomial(n - c, k) * scale) / binomial(n, k)) / 1e40;
      expect(passAtK(n, c, k)).toBeCloseTo(exact, 12);
    }
  });

  it('rejects impossible counts with a message', () => {
    expect(() => passAtK(0, 0, 1)).toThrow(/n \(samples\) must be a positive integer/);
    expect(() => passAtK(5, 6, 1)).toThrow(/c \(correct samples\) must be an integer in \[0, n=5\]/);
    expect(() => passAtK(5, 2, 6)).toThrow(/k must be an integer in \[1, n=5\], got 6 \(draw at least k samples\)/);
    expect(() => passAtK(5, 2, 1.5)).toThrow(RangeError);
  });

  it('agrees with a term-by-term sum beyond the exact range (Euler–Maclaurin), to 1e-12', () => {
    // Reference: the product over the c factors ∏ (1 − k/i), i = n−c+1..n, as a compensated sum of logarithms.
    const reference = (n: number, c: number, k: number) => {
      let sum = 0;
      let carry = 0;
      for (let i = n - c + 1; i <= n; i++) {
        const y = Math.log1p(-k / i) - carry;
        const t = sum + y;
        carry = t - sum - y;
        sum = t;
      }
      return -Math.expm1(sum);
    };
    const cases = [[1e10, 1e5, 1e5], [3e9, 65_537, 65_537], [1e11, 66_000, 1e6], [1e15, 3e5, 1e8], [2 ** 40, 3e5, 1e6], [1e12, 2e5, 2e5]];
    for (const [n, c, k] of cases) {
      const want = reference(n, c, k);
      expect(want).toBeGreaterThan(0.01);
      expect(Math.abs(passAtK(n, c, k) - want) / want, `n=${n} c=${c} k=${k}`).toBeLessThan(1e-12);
      expect(Math.abs(passAtK(n, k, c) - want) / want, `n=${n} c=${k} k=${c} (symmetric)`).toBeLessThan(1e-12);
    }
  });

  it('handles counts up to 2^53 − 1 without long loops, and refuses larger ones', () => {
    const max = Number.MAX_SAFE_INTEGER;
    expect(passAtK(max, 2 ** 52, 2 ** 52)).toBe(1); // 2^51 expected correct draws: certain
    expect(passAtK(max, 1, 1)).toBeCloseTo(1 / max, 30);
    expect(passAtK(max, max - 1, 1)).toBe(1 - 1 / max); // one wrong sample in 2^53 − 1
    expect(passAtK(max, 0, max)).toBe(0);
    // 2^26 factors, summed in closed form: the work is a handful of logarithms, not one per factor.
    const log1p = Math.log1p;
    let calls = 0;
    Math.log1p = (x) => {
      if (++calls > 1000) throw new Error('passAtK took over 1000 logarithms');
      return log1p(x);
    };
    try {
      expect(passAtK(max, 2 ** 26, 2 ** 26)).toBeCloseTo(-Math.expm1(-(2 ** 52) / max), 8);
    } finally {
      Math.log1p = log1p;
    }
    expect(calls).toBeLessThan(10);
    for (const [n, c, k] of [[2 ** 53, 1, 1], [1e300, 1, 1], [Infinity, 1, 1]]) {
      expect(() => passAtK(n, c, k)).toThrow(/n \(samples\) must be a positive integer of at most 2\^53 - 1/);
    }
    expect(() => passAtK(10, NaN, 1)).toThrow(/c \(correct samples\)/);
    expect(() => passAtK(10, 1, NaN)).toThrow(/k must be an integer/);
  });

  it('averages over problems and draws curves', () => {
    const problems = [{ n: 4, c: 0 }, { n: 4, c: 1 }, { n: 4, c: 4 }];
    expect(meanPassAtK(problems, 1)).toBeCloseTo((0 + 0.25 + 1) / 3, 15);
    expect(meanPassAtK(problems, 4)).toBeCloseTo(2 / 3, 15);
    const curve = passAtKCurve(problems, defaultKs(4));
    expect(curve.map((p) => p.k)).toEqual([1, 2, 4]);
    for (let i = 1; i < curve.length; i++) expect(curve[i].passAtK).toBeGreaterThanOrEqual(curve[i - 1].passAtK);
    expect(() => meanPassAtK([], 1)).toThrow(/no problems/);
    expect(defaultKs(10)).toEqual([1, 2, 4, 8, 10]);
    expect(defaultKs(1)).toEqual([1]);
    expect(defaultKs(Number.MAX_SAFE_INTEGER)).toHaveLength(54);
  });

  it.each([0, -5, NaN, 2.5, Infinity, 2 ** 53])('defaultKs(%s) is refused with a RangeError naming n', (n) => {
    expect(() => defaultKs(n)).toThrow(RangeError);
    expect(() => defaultKs(n)).toThrow(new RegExp(`defaultKs: n \\(samples per problem\\) must be a positive whole number, got ${n}`));
  });
});

describe('Wilson interval', () => {
  it('matches known values', () => {
    const r = wilsonInterval(8, 10);
    expect(r.estimate).toBe(0.8);
    expect(r.low).toBeCloseTo(0.4902, 4);
    expect(r.high).toBeCloseTo(0.9433, 4);
    const none = wilsonInterval(0, 10);
    expect([none.low, none.high]).toEqual([0, expect.closeTo(0.2775, 4)]);
    const all = wilsonInterval(10, 10);
    expect([all.low, all.high]).toEqual([expect.closeTo(0.7225, 4), 1]);
    expect(wilsonInterval(0, 0)).toEqual({ estimate: NaN, low: 0, high: 1 });
  });

  it('contains the estimate, narrows with more trials and widens with confidence', () => {
    for (let n = 1; n <= 40; n++) {
      for (let s = 0; s <= n; s++) {
        const r = wilsonInterval(s, n);
        expect(r.low).toBeLessThanOrEqual(r.estimate);
        expect(r.high).toBeGreaterThanOrEqual(r.estimate);
        expect(r.low).toBeGreaterThanOrEqual(0);
        expect(r.high).toBeLessThanOrEqual(1);
      }
    }
    const width = (s: number, n: number, z?: number) => {
      const r = wilsonInterval(s, n, z);
      return r.high - r.low;
    };
    expect(width(50, 100)).toBeLessThan(width(5, 10));
    expect(width(5, 10, zForConfidence(0.99))).toBeGreaterThan(width(5, 10));
    expect(() => wilsonInterval(3, 2)).toThrow(/successes must be an integer in \[0, trials=2\]/);
    expect(() => wilsonInterval(1, -1)).toThrow(/trials must be a non-negative integer/);
  });

  it('reports accuracy of verdicts with its interval', () => {
    const a = accuracy([true, true, false, true, false, true, true, true, true, true]);
    expect(a).toMatchObject({ correct: 8, total: 10, estimate: 0.8 });
    expect(a.low).toBeCloseTo(0.4902, 4);
    expect(accuracy([]).total).toBe(0);
  });
});

describe('normal quantiles', () => {
  it('computes Φ and two-sided z values', () => {
    expect(normalCdf(0)).toBe(0.5);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 12);
    expect(normalCdf(-1)).toBeCloseTo(1 - normalCdf(1), 12);
    expect(zForConfidence(0.95)).toBeCloseTo(1.959963984540054, 9);
    expect(zForConfidence(0.99)).toBeCloseTo(2.5758293035489, 9);
    expect(zForConfidence(0.9)).toBeCloseTo(1.6448536269514722, 9);
    expect(() => zForConfidence(95)).toThrow(/confidence must be in \(0, 1\)/);
  });
});
