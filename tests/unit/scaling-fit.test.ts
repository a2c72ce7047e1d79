// The scaling-law fitter: its Huber objective and gradient, planted laws recovered from noisy points, and the
// refusals of points that cannot determine a fit.
import { describe, expect, it } from 'vitest';
import {
  computeForLoss, fitND, fitPowerLaw, huber, huberDerivative, huberGradient, huberObjective, powerLawLoss,
  type ComputeLoss, type SizeTokensLoss,
} from '../../src/scaling/fit';
import { randn } from '../util/random';
import { noisyPoints, planted, plantedLoss, refusal } from '../util/scaling-synthetic';

describe('the Huber objective', () => {
  it('has the derivative its finite differences give, inside and outside δ', () => {
    const delta = 1e-3;
    for (const r of [-0.05, -2e-3, -4e-4, 0, 3e-4, 9e-4, 1.5e-3, 0.2]) {
      const h = 1e-7;
      const fd = (huber(r + h, delta) - huber(r - h, delta)) / (2 * h);
      expect(huberDerivative(r, delta)).toBeCloseTo(fd, 9);
    }
  });

  it('has the gradient Jᵀψ(r) that finite differences of the objective give', () => {
    // r(θ) = Jθ − y, linear, with residuals on both sides of δ.
    const J = [[1, 2, 0.5], [0.3, -1, 2], [2, 0.1, -0.7], [-1, 1, 1], [0.5, 0.5, 0.5]];
    const y = [0.01, -0.003, 0.0005, 0.02, -0.0002];
    const theta = [0.001, 0.002, -0.001];
    const res = (t: number[]): number[] => J.map((row, i) => row.reduce((s, v, k) => s + v * t[k], 0) - y[i]);
    const g = huberGradient(res(theta), J, 1e-3);
    theta.forEach((_, k) => {
      const h = 1e-8;
      const up = theta.map((t, j) => (j === k ? t + h : t));
      const down = theta.map((t, j) => (j === k ? t - h : t));
      const fd = (huberObjective(res(up), 1e-3) - huberObjective(res(down), 1e-3)) / (2 * h);
      expect(g[k]).toBeCloseTo(fd, 8);
    });
  });
});

// (E, α, reducible loss at 1e9 FLOPs) and the relative errors allowed on E and α and the absolute one on log A,
// from 40 points over 1e9–1e14 FLOPs with 1% log-normal noise. Flatter laws separate E from A·C^−α less well
// over five decades, so their tolerances are wider; for α = 0.05 only the curve itself is pinned (below).
const PLANTED: { law: [number, number, number]; tol: { E: number; alpha: number; logA: number } }[] = [
  { law: [1.5, 0.3, 4], tol: { E: 0.03, alpha: 0.05, logA: 0.3 } },
  { law: [2, 0.5, 3.16], tol: { E: 0.02, alpha: 0.07, logA: 0.6 } },
  { law: [2.5, 0.15, 2], tol: { E: 0.1, alpha: 0.25, logA: 0.6 } },
  { law: [1.8, 0.1, 1.5], tol: { E: 0.2, alpha: 0.4, logA: 0.8 } },
];

describe('fitPowerLaw', () => {
  it.each(PLANTED)('recovers E, A and α planted at $law from noisy points', ({ law, tol }) => {
    const p = planted(...law);
    for (const seed of [11, 12, 13]) {
      const fit = fitPowerLaw(noisyPoints(p, 40, 0.01, seed));
      const q = fit.params;
      const where = `seed ${seed}: fitted E ${q.E}, α ${q.alpha}, A ${q.A}`;
      expect(Math.abs(q.E / p.E - 1), where).toBeLessThan(tol.E);
      expect(Math.abs(q.alpha / p.alpha - 1), where).toBeLessThan(tol.alpha);
      expect(Math.abs(q.logA - Math.log(p.A)), where).toBeLessThan(tol.logA);
      expect(q.A).toBeCloseTo(Math.exp(q.logA), 6);
      expect(fit.residuals).toHaveLength(40);
      expect(fit.inits).toBe(48);
      expect(fit.converged, 'most starts reach the best objective').toBeGreaterThan(fit.inits / 2);
    }
  });

  it('pins a nearly flat law (α = 0.05) along the measured range (within twice the noise) even where E and A trade off', () => {
    const p = planted(3, 0.05, 3);
    for (const seed of [21, 22]) {
      const law = fitPowerLaw(noisyPoints(p, 40, 0.01, seed)).params;
      for (const flops of [1e9, 1e10, 1e11, 1e12, 1e13, 1e14]) {
        expect(Math.abs(powerLawLoss(law, flops) / plantedLoss(p, flops) - 1)).toBeLessThan(0.02);
      }
    }
  });

  it('returns the residuals and objective of the law it reports', () => {
    const points = noisyPoints(planted(2, 0.3, 3), 25, 0.005, 5);
    const fit = fitPowerLaw(points);
    points.forEach((pt, i) => expect(fit.residuals[i]).toBeCloseTo(Math.log(powerLawLoss(fit.params, pt.flops) / pt.loss), 12));
    expect(fit.objective).toBeCloseTo(huberObjective(fit.residuals, 1e-3), 15);
  });

  it('is robust to a few outliers where least squares is not (the Huber loss at work)', () => {
    const p = planted(2, 0.3, 3);
    // Every 7th point 50% too high (6 of 40), as a diverged evaluation or a logging slip would leave.
    const points = noisyPoints(p, 40, 0.005, 7).map((pt, i) => (i % 7 === 6 ? { ...pt, loss: pt.loss * 1.5 } : pt));
    const robust = fitPowerLaw(points).params;
    const squares = fitPowerLaw(points, { delta: 10 }).params; // δ beyond every residual: plain least squares
    expect(Math.abs(robust.alpha / p.alpha - 1)).toBeLessThan(0.03);
    expect(Math.abs(robust.E / p.E - 1)).toBeLessThan(0.01);
    expect(Math.abs(squares.alpha / p.alpha - 1), 'least squares is pulled by the outliers').toBeGreaterThan(0.08);
  });

  it('inverts the law: C(L) gives back the FLOPs that reach L, and refuses L at or below E', () => {
    const law = fitPowerLaw(noisyPoints(planted(2, 0.3, 3), 20, 0.005, 3)).params;
    for (const flops of [3e8, 1e10, 4e12, 1e16]) expect(computeForLoss(law, powerLawLoss(law, flops)) / flops).toBeCloseTo(1, 9);
    // Against the closed form in the user's units, not only against powerLawLoss.
    expect(computeForLoss(law, 2.5) / (law.A / (2.5 - law.E)) ** (1 / law.alpha)).toBeCloseTo(1, 9);
    for (const loss of [law.E, law.E * 0.9]) {
      const e = refusal(() => computeForLoss(law, loss));
      expect(e.code).toBe('below-floor');
      expect(e.message).toMatch(/choose a target above/);
    }
  });

  it('accepts starts in the user\'s units and converges from a good one', () => {
    const p = planted(2, 0.3, 3);
    const fit = fitPowerLaw(noisyPoints(p, 30, 0.005, 9), { starts: [p] });
    expect(fit.inits).toBe(1);
    expect(fit.converged).toBe(1);
    expect(Math.abs(fit.params.alpha / p.alpha - 1)).toBeLessThan(0.05);
    const points = noisyPoints(p, 10, 0.005, 9);
    expect(() => fitPowerLaw(points, { starts: [] })).toThrow(/non-empty list/);
    expect(() => fitPowerLaw(points, { starts: [{ ...p, E: -1 }] })).toThrow(/positive, finite E/);
    expect(() => fitPowerLaw(points, { delta: 0 })).toThrow(/Huber delta must be a positive number/);
  });
});

describe('fitND', () => {
  const grid = (law: { E: number; A: number; alpha: number; B: number; beta: number }, noise: number, seed: number): SizeTokensLoss[] => {
    const points: SizeTokensLoss[] = [];
    for (const params of [1e6, 3e6, 1e7, 3e7, 1e8]) for (const tokens of [1e8, 3e8, 1e9, 3e9, 1e10]) points.push({ params, tokens, loss: 0 });
    const z = randn(points.length, seed);
    return points.map((q, i) => ({ ...q, loss: (law.E + law.A / q.params ** law.alpha + law.B / q.tokens ** law.beta) * Math.exp(noise * z[i]) }));
  };

  it('recovers E, α and β planted on a 5 × 5 grid of sizes and token budgets', () => {
    const law = { E: 1.7, A: 400, alpha: 0.34, B: 410, beta: 0.28 };
    for (const seed of [31, 32]) {
      const fit = fitND(grid(law, 0.005, seed));
      const q = fit.params;
      const where = `seed ${seed}: ${JSON.stringify(q)}`;
      expect(Math.abs(q.E / law.E - 1), where).toBeLessThan(0.12);
      expect(Math.abs(q.alpha / law.alpha - 1), where).toBeLessThan(0.08);
      expect(Math.abs(q.beta / law.beta - 1), where).toBeLessThan(0.12);
      expect(fit.residuals).toHaveLength(25);
      expect(fit.converged).toBeGreaterThan(fit.inits / 2);
    }
  });

  it('refuses a grid with too few sizes or budgets, losses that do not fall with tokens, and a size term too small to see', () => {
    const law = { E: 1.7, A: 400, alpha: 0.34, B: 410, beta: 0.28 };
    const two = grid(law, 0, 1).filter((q) => q.params <= 3e6);
    expect(refusal(() => fitND(two)).code).toBe('too-few-points');
    expect(refusal(() => fitND(two)).message).toMatch(/2 sizes.*add runs/);
    const noTokens = grid({ ...law, B: 0 }, 0, 1).map((q) => ({ ...q, loss: q.loss * (1 + 1e-3 * Math.log(q.tokens)) }));
    const e = refusal(() => fitND(noTokens));
    expect(e.code).toBe('flat');
    expect(e.message).toMatch(/training tokens/);
    const tinySize = refusal(() => fitND(grid({ ...law, A: 1e-6 }, 0, 1)));
    expect(tinySize.code).toBe('flat');
    expect(tinySize.message).toMatch(/flat in size/);
    expect(refusal(() => fitND([{ params: 1e6, tokens: NaN, loss: 3 }])).message).toMatch(/points\[0\]\.tokens is NaN/);
  });
});

describe('fitPowerLaw refuses points that cannot determine a fit', () => {
  const good = noisyPoints(planted(2, 0.3, 3), 10, 0.005, 1);
  const cases: { name: string; points: ComputeLoss[]; code: string; message: RegExp }[] = [
    { name: 'three points', points: good.slice(0, 3), code: 'too-few-points', message: /at least 4 points.*got 3 points/ },
    { name: 'two FLOP scales', points: [...good.slice(0, 2), ...good.slice(0, 2).map((q) => ({ ...q, loss: q.loss * 1.01 }))], code: 'too-few-points', message: /2 FLOP counts.*add runs/ },
    { name: 'a NaN loss', points: good.map((q, i) => (i === 4 ? { ...q, loss: NaN } : q)), code: 'non-finite', message: /points\[4\]\.loss is NaN/ },
    { name: 'infinite FLOPs', points: good.map((q, i) => (i === 2 ? { ...q, flops: Infinity } : q)), code: 'non-finite', message: /points\[2\]\.flops is Infinity/ },
    { name: 'a zero loss', points: good.map((q, i) => (i === 0 ? { ...q, loss: 0 } : q)), code: 'non-positive', message: /points\[0\]\.loss is 0.*positive/ },
    { name: 'negative FLOPs', points: good.map((q, i) => (i === 7 ? { ...q, flops: -1 } : q)), code: 'non-positive', message: /points\[7\]\.flops is -1/ },
    { name: 'equal losses', points: good.map((q) => ({ ...q, loss: 3 })), code: 'flat', message: /do not fall as compute grows/ },
    { name: 'a fall of 1e-5 nats, log-linear', points: good.map((q) => ({ ...q, loss: 3 - 1e-6 * Math.log(q.flops) })), code: 'flat', message: /best fit is flat/ },
    { name: 'a fall of 1e-5 nats, steep', points: good.map((q) => ({ ...q, loss: 3 + 1e-5 * (q.flops / 1e9) ** -0.5 })), code: 'flat', message: /best fit is flat/ },
    { name: 'rising losses', points: good.map((q) => ({ ...q, loss: 2 + 1e-12 * q.flops ** 0.3 })), code: 'flat', message: /do not fall/ },
  ];
  it.each(cases)('$name: $code', ({ points, code, message }) => {
    const e = refusal(() => fitPowerLaw(points));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
  });
});
