// Fixture scaling studies for the page's tests: a StudyState with runs on planted laws L(C) = E + A·C^−α (each
// run a curve that falls onto the law at its end), and StudyFits as the runner would send them, error rows included.
import { lowerEnvelope } from '../../src/scaling/envelope';
import type { Multiplier } from '../../src/scaling/multiplier';
import type { MultiplierRow, RecipeFitSummary, StudyFits, StudyRun, StudyState } from '../../src/scaling/study';

export const LAWS: Record<string, { E: number; A: number; alpha: number; k: number }> = {
  baseline: { E: 1.6, A: 60, alpha: 0.16, k: 1 },
  modern: { E: 1.6, A: 60, alpha: 0.16, k: 2 },
  muon: { E: 1.6, A: 60, alpha: 0.16, k: 1.4 },
};

/** The law's loss at `flops` for a recipe `k` times as efficient. */
export const lawLoss = (recipe: string, flops: number): number => {
  const l = LAWS[recipe] ?? LAWS.baseline;
  return l.E + l.A * (l.k * flops) ** -l.alpha;
};

export interface FixtureOptions {
  recipes?: string[];
  sizes?: number;
  seeds?: number[];
  budgets?: number[];
  /** Points per run curve. */
  points?: number;
  /** Runs of the first recipe left queued (a study interrupted part-way). */
  queued?: number;
  status?: StudyState['status'];
}

/** A study of grid runs (sizes × budgets × seeds per recipe) plus two learning-rate search runs per recipe. */
export function fixtureStudy(o: FixtureOptions = {}): StudyState {
  const recipes = o.recipes ?? ['baseline', 'modern'];
  const seeds = o.seeds ?? [1, 2];
  const budgets = o.budgets ?? [5, 20];
  const sizes = o.sizes ?? 4;
  const points = o.points ?? 8;
  const runs: StudyRun[] = [];
  const run = (recipe: string, kind: StudyRun['kind'], size: number, tpp: number, seed: number, lr: number, status: StudyRun['status']): StudyRun => {
    const nonEmbedding = Math.round(20_000 * 2.2 ** size);
    const tokens = Math.round(nonEmbedding * tpp);
    const steps = Math.max(points, Math.round(tokens / 256));
    const fpt = 6 * nonEmbedding;
    const evalSteps = Array.from({ length: points }, (_, k) => Math.max(1, Math.round(steps ** ((k + 1) / points))));
    // A run's loss is above the law until its end: an early, still-falling curve.
    const curve = status === 'queued' ? [] : evalSteps.map((step) => {
      const flops = step * 256 * fpt;
      const jitter = 1 + 0.01 * Math.sin(seed * 7 + size * 3 + step);
      return { step, flops, loss: lawLoss(recipe, flops) * (1 + 0.25 * (1 - step / steps) ** 2) * jitter + 0.02 * size ** 0.5 * (seed - 1), seconds: flops / 2e9 };
    });
    return {
      id: `${recipe}-${kind === 'grid' ? 'g' : 's'}${size}-t${tpp}-s${seed}-lr${lr}`, kind, recipe, size, nonEmbedding, tokens, steps, seed, lr, evalSteps,
      trainFlops: tokens * fpt, evalFlops: tokens * fpt * 0.01, seconds: (tokens * fpt) / 2e9, tokensPerParam: tpp, status, curve,
      optimizerFlops: recipe === 'muon' ? tokens * fpt * 0.3 : 0, wallSeconds: status === 'done' ? (tokens * fpt) / 2e9 + 1 : 0,
    };
  };
  for (const recipe of recipes) for (const size of [0, sizes - 1]) for (const lr of [1e-3, 1e-2]) runs.push(run(recipe, 'lr-search', size, budgets[0], seeds[0], lr, 'done'));
  let queued = o.queued ?? 0;
  for (let size = 0; size < sizes; size++) {
    for (const recipe of recipes) for (const tpp of budgets) for (const seed of seeds) {
      const left = recipe === recipes[0] && size === sizes - 1 && queued > 0;
      if (left) queued--;
      runs.push(run(recipe, 'grid', size, tpp, seed, 3e-3 / (1 + size), left ? 'queued' : 'done'));
    }
  }
  return {
    id: 'study-fixture', spec: { recipes, grid: 'classroom', baseline: 'baseline' }, phase: 'grid', status: o.status ?? 'done', runs,
    tunedLr: {}, adapter: 'SwiftShader (fixture)', createdAt: 1, updatedAt: 2,
  };
}

const mult = (m: number, lo: number, hi: number, targetLoss: number, extrapolated = false): Multiplier => ({
  multiplier: m, interval: [lo, hi], level: 0.95, targetLoss, target: 'default', overlap: [targetLoss - 0.1, targetLoss + 0.3],
  extrapolated, computeBaseline: 1e12 * m, computeRecipe: 1e12, pairs: 200, unreached: 0,
} as Multiplier);

/** Fits as the runner sends them: baseline and modern fitted; muon too few sizes; spark and a leave-one-out row. */
export function fixtureFits(study: StudyState): StudyFits {
  const recipes: RecipeFitSummary[] = study.spec.recipes.map((recipe) => {
    const done = study.runs.filter((r) => r.recipe === recipe && r.kind === 'grid' && r.status === 'done');
    const env = done.length ? lowerEnvelope(done.map((r) => ({ points: r.curve.map((p) => ({ flops: p.flops, loss: p.loss })) }))) : [];
    const envelope = env.map((p) => ({ flops: p.flops, loss: p.loss }));
    if (recipe === 'muon' || !envelope.length) return { recipe, envelope, error: 'needs ≥ 4 finished sizes (has 2)' };
    const l = LAWS[recipe] ?? LAWS.baseline;
    const A = l.A * l.k ** -l.alpha;
    return {
      recipe, envelope,
      fit: { E: l.E, A, alpha: l.alpha, intervals: { E: [l.E - 0.2, l.E + 0.15], A: [A * 0.7, A * 1.4], alpha: [l.alpha - 0.03, l.alpha + 0.04] } },
      lossRange: [envelope.at(-1)!.loss, envelope[0].loss], flopsRange: [envelope[0].flops, envelope.at(-1)!.flops],
    };
  });
  const multipliers: MultiplierRow[] = [
    { recipe: 'baseline', group: 'baseline' },
    { recipe: 'modern', group: 'single', flops: mult(2.04, 1.62, 2.71, 2.85), allIn: mult(1.97, 1.55, 2.6, 2.85), wallClock: mult(1.31, 0.88, 1.9, 2.85) },
    { recipe: 'muon', group: 'single', error: 'needs ≥ 4 finished sizes (has 2)' },
    { recipe: 'spark', group: 'all', flops: mult(3.1, 2.2, Infinity, 2.6, true), allIn: mult(2.5, 1.7, 4.1, 2.6, true), wallClock: mult(0.74, 0.5, 1.1, 2.6, true) },
    { recipe: 'spark-no-moe', group: 'leave-one-out', error: 'no overlap: the two recipes reach no common loss; run larger sizes' },
  ];
  return { recipes, multipliers };
}
