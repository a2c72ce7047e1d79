// Bootstrap intervals of the fits and the iso-loss compute multiplier, on synthetic recipes whose answer is known.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/lib/rng';
import type { Run } from '../../src/scaling/envelope';
import type { SizeTokensLoss } from '../../src/scaling/fit';
import { fitNDWithIntervals, fitRecipe, FLOOR_MARGIN, isoLossMultiplier, quantile, resampleRuns, type Interval } from '../../src/scaling/multiplier';
import { randn } from '../util/random';
import { planted, refusal, syntheticRuns, trainingCurves } from '../util/scaling-synthetic';

const inside = (x: number, [lo, hi]: Interval): boolean => lo <= x && x <= hi;
const law = planted(2, 0.3, 3);
const recipe = (k: number, seed: number, noise = 0.005): Run[] => syntheticRuns(law, { runs: 10, perRun: 6, noise, seed, k });

describe('resampling', () => {
  it('keeps each seed\'s number of runs and draws only that seed\'s runs', () => {
    const items = [...[0, 1, 2].map((i) => ({ id: `a${i}`, seed: 7 })), ...[0, 1, 2, 3, 4].map((i) => ({ id: `b${i}`, seed: 9 }))];
    const rng = new Rng(3);
    const seen = new Set<string>();
    for (let t = 0; t < 50; t++) {
      const s = resampleRuns(items, rng);
      expect(s.filter((x) => x.seed === 7)).toHaveLength(3);
      expect(s.filter((x) => x.seed === 9)).toHaveLength(5);
      for (const x of s) expect(x.id.startsWith(x.seed === 7 ? 'a' : 'b')).toBe(true);
      s.forEach((x) => seen.add(x.id));
    }
    expect(seen.size, 'with replacement, every run is drawn sometimes').toBe(8);
  });

  it('takes percentiles between order statistics, infinite ones included', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4], 0)).toBe(1);
    expect(quantile([1, 2, 3, 4], 1)).toBe(4);
    expect(quantile([1, 2, Infinity, Infinity], 0.9)).toBe(Infinity);
  });
});

describe('fitRecipe', () => {
  it('is deterministic for a seed and different across seeds', () => {
    const runs = recipe(1, 4);
    const a = fitRecipe(runs, { resamples: 40, seed: 5 });
    const b = fitRecipe(runs, { resamples: 40, seed: 5 });
    const c = fitRecipe(runs, { resamples: 40, seed: 6 });
    expect(b.intervals).toEqual(a.intervals);
    expect(c.intervals).not.toEqual(a.intervals);
    expect(a.samples).toHaveLength(40);
    expect(a.level).toBe(0.95);
    expect(a.lossRange[0]).toBe(Math.min(...a.envelope.map((p) => p.loss)));
  });

  it('puts the planted E, A and α inside its 95% intervals in most of 10 seeded trials', () => {
    const hits = { E: 0, A: 0, alpha: 0 };
    for (let trial = 0; trial < 10; trial++) {
      const f = fitRecipe(recipe(1, 100 + trial, 0.01), { resamples: 100, seed: trial });
      expect(f.failed).toBe(0);
      hits.E += +inside(law.E, f.intervals.E);
      hits.A += +inside(law.A, f.intervals.A);
      hits.alpha += +inside(law.alpha, f.intervals.alpha);
    }
    // 95% intervals would miss about one in 20; 7 of 10 leaves room for a bootstrap that runs a little narrow.
    for (const [k, n] of Object.entries(hits)) expect(n, `${k} covered in ${n} of 10`).toBeGreaterThanOrEqual(7);
  });

  it('resamples within seeds when runs carry them', () => {
    const runs = syntheticRuns(law, { runs: 8, perRun: 5, noise: 0.005, seed: 8, seeds: [1, 2] });
    const f = fitRecipe(runs, { resamples: 30 });
    expect(f.failed).toBe(0);
    expect(inside(law.alpha, f.intervals.alpha)).toBe(true);
  });

  it('fits a steep law whose A overflows a double (α ≈ 30 over a narrow FLOP range: toy runs do this) without throwing', () => {
    // The bootstrap's steeper start has A = amplitude·reference^(2α) ≈ 10^1250: it must be built in log form (a study
    // on SwiftShader stopped with "fit starts must be … finite" before the fix).
    const z = randn(40, 3);
    const runs: Run[] = Array.from({ length: 8 }, (_, j) => ({
      id: `r${j}`,
      seed: 1 + (j % 2),
      points: Array.from({ length: 5 }, (_, i) => {
        const flops = 1e9 * (1 + 0.05 * (j + i / 5));
        return { flops, loss: (2 + (flops / 1e9) ** -30) * Math.exp(0.001 * z[j * 5 + i]!) };
      }),
    }));
    const f = fitRecipe(runs, { resamples: 30, seed: 1 });
    expect(Number.isFinite(f.fit.params.logA)).toBe(true);
    expect(f.fit.params.alpha).toBeGreaterThan(15);
    expect(f.intervals.E[0]).toBeLessThanOrEqual(f.fit.params.E);
  });

  it('refuses a recipe whose resamples often cannot be fitted', () => {
    // Four one-point runs: a resample often holds fewer than 3 distinct FLOP counts.
    const runs: Run[] = [1e9, 1e10, 1e11, 1e12].map((flops) => ({ points: [{ flops, loss: 2 + 3 * (flops / 1e9) ** -0.3 }] }));
    const e = refusal(() => fitRecipe(runs, { resamples: 50 }));
    expect(e.code).toBe('unstable');
    expect(e.message).toMatch(/of 50 bootstrap resamples.*add runs/);
  });

  it('refuses bootstrap settings it cannot honour', () => {
    expect(() => fitRecipe(recipe(1, 1), { resamples: 3 })).toThrow(/from 10 to 10000/);
    expect(() => fitRecipe(recipe(1, 1), { resamples: 1e9 })).toThrow(/from 10 to 10000/);
    expect(() => fitRecipe(recipe(1, 1), { resamples: 20.5 })).toThrow(/whole number/);
    expect(() => fitRecipe(recipe(1, 1), { level: 95 })).toThrow(/between 0 and 1/);
  });
});

describe('isoLossMultiplier', () => {
  const baseline = fitRecipe(recipe(1, 200));

  it.each([0.5, 2, 10])('finds exactly k = %d on noise-free curves of a recipe that reaches each loss with 1/k of the compute', (k) => {
    const m = isoLossMultiplier(fitRecipe(recipe(1, 1, 0), { resamples: 20 }), fitRecipe(recipe(k, 2, 0), { resamples: 20 }));
    expect(m.multiplier).toBeCloseTo(k, 6);
    expect(m.interval[0]).toBeCloseTo(k, 6);
    expect(m.interval[1]).toBeCloseTo(k, 6);
  });

  // Near the floor C(L) = (A/(L − E))^(1/α) magnifies loss errors: with 0.5% noise and L* − E ≈ 0.1 nats the
  // interval spans about a factor of 3, so the point estimate is held to 30% and the interval must contain k.
  it.each([0.5, 2, 10])('brackets k = %d with its interval on noisy curves', (k) => {
    const m = isoLossMultiplier(baseline, fitRecipe(recipe(k, 300 + k)));
    expect(Math.abs(m.multiplier / k - 1), `multiplier ${m.multiplier}`).toBeLessThan(0.3);
    expect(inside(k, m.interval), `interval ${m.interval}`).toBe(true);
    expect(m.target).toBe('default');
    expect(m.extrapolated).toBe(false);
    expect(m.pairs).toBe(200);
    expect(m.computeBaseline / m.computeRecipe).toBeCloseTo(m.multiplier, 12);
  });

  it('defaults L* to the lowest loss both recipes reached (the larger of their lowest envelope losses), kept off their floors', () => {
    const r = fitRecipe(recipe(3, 41));
    const m = isoLossMultiplier(baseline, r);
    const lo = Math.max(baseline.lossRange[0], r.lossRange[0]);
    const clear = (f: typeof r) => f.fit.params.E + FLOOR_MARGIN * (f.lossRange[1] - f.fit.params.E);
    expect(m.targetLoss).toBe(Math.max(lo, clear(baseline), clear(r)));
    // these curves reach to within ~3% of their reducible loss: the margin moves the target a little, and a
    // recipe stopped further from its floor keeps the lowest loss both reached
    expect(m.targetLoss - lo).toBeLessThan(0.1);
    const short = fitRecipe(recipe(3, 41).slice(0, 6));
    const ms = isoLossMultiplier(baseline, short);
    expect(clear(short)).toBeLessThan(short.lossRange[0]);
    expect(ms.targetLoss).toBe(Math.max(baseline.lossRange[0], short.lossRange[0], clear(baseline)));
    expect(m.overlap).toEqual([lo, Math.min(baseline.lossRange[1], r.lossRange[1])]);
    const narrow = isoLossMultiplier(baseline, r, { level: 0.5 });
    expect(narrow.interval[0]).toBeGreaterThan(m.interval[0]);
    expect(narrow.interval[1]).toBeLessThan(m.interval[1]);
    for (const f of [baseline, r]) expect(inside(m.targetLoss, f.lossRange)).toBe(true);
  });

  it('raises the default L* off a recipe that reached its floor (a plateau), and refuses when both meet only near a floor', () => {
    // the baseline flattens onto its floor within the data (reducible 2 nats at 1e9 FLOPs, 0.006 at 1e14)
    const flat = planted(3.1, 0.5, 2);
    const plateau = fitRecipe(syntheticRuns(flat, { runs: 10, perRun: 6, noise: 0.002, seed: 51 }));
    const r = fitRecipe(recipe(1, 52, 0.002));
    const lo = Math.max(plateau.lossRange[0], r.lossRange[0]);
    expect(lo - plateau.fit.params.E, 'the lowest loss both reached is on the plateau').toBeLessThan(0.02);
    const m = isoLossMultiplier(plateau, r);
    const clear = plateau.fit.params.E + FLOOR_MARGIN * (plateau.lossRange[1] - plateau.fit.params.E);
    expect(m.targetLoss).toBeCloseTo(clear, 12);
    expect(m.targetLoss).toBeGreaterThan(lo + 0.05);
    // the planted answer at that loss: C(L) = (A / (L − E))^(1/α) of each law
    const planted_ = (p: typeof law, L: number) => (p.A / (L - p.E)) ** (1 / p.alpha);
    const truth = planted_(flat, m.targetLoss) / planted_(law, m.targetLoss);
    expect(Math.abs(m.multiplier / truth - 1), `multiplier ${m.multiplier}, planted ${truth}`).toBeLessThan(0.2);
    expect(m.interval[1]).toBeLessThan(Infinity);
    // a given target on the plateau is still read, as asked
    expect(isoLossMultiplier(plateau, r, { targetLoss: lo }).targetLoss).toBe(lo);
    // losses both reached only near a floor: refused, saying why
    const near = { ...r, fit: { ...r.fit, params: { ...r.fit.params, E: r.lossRange[1] - 0.01 } } };
    const e = refusal(() => isoLossMultiplier(baseline, near));
    expect(e.code).toBe('near-floor');
    expect(e.message).toMatch(/within 5% of a fit's floor .* give a targetLoss/);
  });

  it('refuses a target outside either measured range unless asked to extrapolate, and then marks it', () => {
    const r = fitRecipe(recipe(2, 42));
    const below = 0.5 * (law.E + Math.min(baseline.lossRange[0], r.lossRange[0])); // above E, below every measured loss
    const e = refusal(() => isoLossMultiplier(baseline, r, { targetLoss: below }));
    expect(e.code).toBe('out-of-range');
    expect(e.message).toMatch(/extrapolate: true/);
    const m = isoLossMultiplier(baseline, r, { targetLoss: below, extrapolate: true });
    expect(m.extrapolated).toBe(true);
    expect(m.target).toBe('given');
    expect(Math.abs(m.multiplier / 2 - 1)).toBeLessThan(0.25);
    const within = isoLossMultiplier(baseline, r, { targetLoss: 0.5 * (baseline.lossRange[0] + baseline.lossRange[1]), extrapolate: true });
    expect(within.extrapolated, 'a target inside both ranges is not marked').toBe(false);
  });

  it('counts resamples whose fit never reaches L* as needing unbounded compute, and refuses when most are unknown', () => {
    const r = fitRecipe(recipe(2, 44));
    const floorAbove = <T extends { E: number }>(s: T | null, i: number, every: number): T | null => (s && i % every === 0 ? { ...s, E: 10 } : s);
    const slowBase = { ...baseline, samples: baseline.samples.map((s, i) => floorAbove(s, i, 10)) };
    const m = isoLossMultiplier(slowBase, r);
    expect(m.unreached).toBe(20);
    expect(m.pairs).toBe(200);
    expect(m.interval[1], 'a tenth of the baseline resamples never get there').toBe(Infinity);
    const slowRecipe = isoLossMultiplier(baseline, { ...r, samples: r.samples.map((s, i) => floorAbove(s, i, 10)) });
    expect(slowRecipe.interval[0]).toBe(0);
    const neither = { ...r, samples: r.samples.map((s, i) => floorAbove(s, i, 1)) };
    const e = refusal(() => isoLossMultiplier({ ...baseline, samples: baseline.samples.map((s, i) => floorAbove(s, i, 1)) }, neither));
    expect(e.code).toBe('unstable');
    expect(e.message).toMatch(/only 0 of 200 bootstrap pairs/);
  });

  it('refuses recipes whose losses never overlap, a target below a fitted floor, and a target that is not a loss', () => {
    const far = fitRecipe(recipe(1e7, 43), { resamples: 20 }); // reaches every baseline loss with far less compute: disjoint ranges
    const e = refusal(() => isoLossMultiplier(baseline, far));
    expect(e.code).toBe('no-overlap');
    expect(e.message).toMatch(/do not overlap.*targetLoss/);
    const floor = refusal(() => isoLossMultiplier(baseline, far, { targetLoss: 0.9 * baseline.fit.params.E, extrapolate: true }));
    expect(floor.code).toBe('below-floor');
    expect(floor.message).toMatch(/^baseline: /);
    expect(refusal(() => isoLossMultiplier(baseline, far, { targetLoss: NaN })).code).toBe('non-finite');
    expect(refusal(() => isoLossMultiplier(baseline, far, { targetLoss: -1 })).code).toBe('non-positive');
  });
});

describe('on training curves of a size grid with two seeds', () => {
  const nd = { E: 1.7, A: 400, alpha: 0.34, B: 410, beta: 0.28 };
  const curves = (k: number, seed: number): Run[] => trainingCurves(nd, { sizes: 8, seeds: [1, 2], noise: 0.003, seed, k });

  it('fits the frontier\'s exponent αβ/(α+β) and floor E, and finds the multiplier of a recipe k times as efficient', () => {
    const base = fitRecipe(curves(1, 1), { resamples: 100 });
    const expected = (nd.alpha * nd.beta) / (nd.alpha + nd.beta);
    expect(Math.abs(base.fit.params.alpha / expected - 1), `α ${base.fit.params.alpha}`).toBeLessThan(0.05);
    expect(Math.abs(base.fit.params.E / nd.E - 1), `E ${base.fit.params.E}`).toBeLessThan(0.05);
    expect(inside(expected, base.intervals.alpha), `α interval ${base.intervals.alpha}`).toBe(true);
    for (const k of [0.5, 3]) {
      const m = isoLossMultiplier(base, fitRecipe(curves(k, 100 * k), { resamples: 100 }));
      expect(Math.abs(m.multiplier / k - 1), `k ${k}: multiplier ${m.multiplier}`).toBeLessThan(0.1);
      expect(inside(k, m.interval), `k ${k}: interval ${m.interval}`).toBe(true);
    }
  });
});

describe('fitNDWithIntervals', () => {
  it('brackets the planted L(N, D) exponents and is deterministic for a seed', () => {
    const nd = { E: 1.7, A: 400, alpha: 0.34, B: 410, beta: 0.28 };
    const points: SizeTokensLoss[] = [];
    for (const params of [1e6, 3e6, 1e7, 3e7, 1e8]) for (const tokens of [1e8, 3e8, 1e9, 3e9, 1e10]) points.push({ params, tokens, loss: 0 });
    const z = randn(points.length, 61);
    const noisy = points.map((q, i) => ({ ...q, loss: (nd.E + nd.A / q.params ** nd.alpha + nd.B / q.tokens ** nd.beta) * Math.exp(0.005 * z[i]) }));
    const f = fitNDWithIntervals(noisy, { resamples: 40, seed: 2 });
    expect(inside(nd.alpha, f.intervals.alpha), `α interval ${f.intervals.alpha}`).toBe(true);
    expect(inside(nd.beta, f.intervals.beta), `β interval ${f.intervals.beta}`).toBe(true);
    expect(fitNDWithIntervals(noisy, { resamples: 40, seed: 2 }).intervals).toEqual(f.intervals);
  });
});
