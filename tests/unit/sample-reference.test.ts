import { describe, expect, it } from 'vitest';
import { chiSquare, chiSquareBound, f32Key, filteredProbsRef, sampleRowRef, uniform01, type SampleSettingsRef } from '../reference/sample';
import { randn } from '../util/random';

describe('sampling reference: random numbers', () => {
  it('uniform01 is deterministic, 24-bit, in [0, 1)', () => {
    expect(uniform01(1, 2, 3)).toBe(uniform01(1, 2, 3));
    for (let i = 0; i < 1000; i++) {
      const u = uniform01(i * 7919, i % 13, i);
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      expect(Number.isInteger(u * 16777216)).toBe(true);
    }
  });

  it.each([
    ['step', (i: number) => uniform01(42, 3, i)],
    ['row', (i: number) => uniform01(42, i, 0)],
    ['seed', (i: number) => uniform01(i, 0, 0)],
  ] as const)('is uniform along %s (64-bin chi-square) and uncorrelated between neighbours', (_, draw) => {
    const n = 64_000;
    const counts = new Float64Array(64);
    let prev = draw(0);
    let corr = 0;
    for (let i = 0; i < n; i++) {
      const u = draw(i);
      counts[Math.floor(u * 64)]++;
      if (i > 0) corr += (u - 0.5) * (prev - 0.5);
      prev = u;
    }
    expect(chiSquare(counts, new Float64Array(64).fill(1 / 64), n)).toBeLessThan(chiSquareBound(63));
    expect(Math.abs(corr / n / (1 / 12))).toBeLessThan(0.03); // lag-1 autocorrelation
  });

  it('f32Key preserves float order', () => {
    const xs = [-Infinity, -1e30, -2, -1.5, -1e-30, -0, 0, 1e-30, 1, 1.5, 3e38, Infinity];
    for (let i = 1; i < xs.length; i++) expect(f32Key(xs[i])).toBeGreaterThan(f32Key(xs[i - 1]));
  });
});

describe('sampling reference: filters', () => {
  const z = Float32Array.from([0.5, 2, -1, 2, 1, 0, 3, -3]);
  const V = z.length;

  it('greedy takes the lowest index among tied maxima; top-k = 1 and a tiny top-p equal greedy', () => {
    const tied = Float32Array.from([1, 5, 2, 5]);
    expect(sampleRowRef(tied, 0, 4, { temperature: 0, seed: 1 }, 0, 0).token).toBe(1);
    for (let seed = 0; seed < 50; seed++) {
      expect(sampleRowRef(z, 0, V, { temperature: 1, topK: 1, seed }, 0, seed).token).toBe(6);
      expect(sampleRowRef(z, 0, V, { temperature: 1.5, topP: 1e-6, seed }, 0, seed).token).toBe(6);
    }
  });

  it('top-k keeps the k largest and everything tied with the k-th; top-p keeps the smallest set reaching p', () => {
    const keep = (s: SampleSettingsRef) => [...filteredProbsRef(z, V, s)].flatMap((p, j) => (p > 0 ? [j] : []));
    expect(keep({ temperature: 1, topK: 2, seed: 0 })).toEqual([1, 3, 6]); // 2 ties with 2
    expect(keep({ temperature: 1, topK: 4, seed: 0 })).toEqual([1, 3, 4, 6]);
    // softmax(z) sorted: 3 -> .494, 2 -> .182 each (tied; cumulative .858), 1 -> .067 (.925), ...
    expect(keep({ temperature: 1, topP: 0.4, seed: 0 })).toEqual([6]);
    expect(keep({ temperature: 1, topP: 0.5, seed: 0 })).toEqual([1, 3, 6]);
    expect(keep({ temperature: 1, topP: 0.9, seed: 0 })).toEqual([1, 3, 4, 6]);
    expect(keep({ temperature: 1, topK: 2, topP: 0.99, seed: 0 })).toEqual([1, 3, 6]);
    const p = filteredProbsRef(z, V, { temperature: 1, topK: 4, seed: 0 });
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('logprob is log softmax(z / T) of the drawn token, unfiltered', () => {
    const r = sampleRowRef(z, 0, V, { temperature: 0.7, topK: 3, seed: 9 }, 0, 4);
    const lse = Math.log(Array.from(z, (x) => Math.exp(x / 0.7)).reduce((a, b) => a + b, 0));
    expect(r.logprob).toBeCloseTo(z[r.token] / 0.7 - lse, 12);
  });

  it.each<SampleSettingsRef>([
    { temperature: 1, seed: 3 },
    { temperature: 0.6, topK: 5, seed: 4 },
    { temperature: 1.3, topP: 0.8, seed: 5 },
  ])('draws follow the filtered distribution (chi-square), settings %o', (s) => {
    const V2 = 12;
    const logits = randn(V2, 77, 1.5);
    const probs = filteredProbsRef(logits, V2, s);
    const n = 20_000;
    const counts = new Float64Array(V2);
    for (let step = 0; step < n; step++) counts[sampleRowRef(logits, 0, V2, s, 0, step).token]++;
    const dof = probs.filter((p) => p > 0).length - 1;
    expect(chiSquare(counts, probs, n)).toBeLessThan(chiSquareBound(dof));
  });
});
