/**
 * A study's fits (pure): per recipe the envelope and L(C) fit of its finished grid runs, L(N, D) on their final
 * losses, and the multiplier table against the baseline on three axes. Every failure is a row's `error` (too few runs yet, no overlap, an unstable
 * bootstrap), never a throw: the page shows the table as it fills in.
 *
 * Axes, per validation point of a run:
 *   flops      training FLOPs so far (flopsPerToken × tokens, active parameters), the training page's counter;
 *   all-in     those plus the run's optimizer FLOPs so far (Muon's Newton–Schulz, step/steps of the run's total).
 *              The learning-rate search and the evaluations are charged per recipe, not per point (a constant
 *              added to every point would bend the law), so they are in the plan summary's all-in total only;
 *   wall-clock training seconds so far on this adapter, evaluations excluded.
 */
import type { Run } from './envelope';
import { fitND, ScalingFitError } from './fit';
import { fitRecipe, isoLossMultiplier, type Multiplier, type RecipeFit } from './multiplier';
import { findRecipe } from './recipes';
import type { MultiplierRow, RecipeFitSummary, StudyFits, StudyPoint, StudyRun, StudyState } from './study';

export interface StudyFitOptions {
  /** Bootstrap resamples per fit; default 200. */
  resamples?: number;
  /** The bootstrap's seed; one seed for every recipe, so the multiplier's pairs compare like with like. Default 0. */
  seed?: number;
}

type Axis = 'flops' | 'allIn' | 'wallClock';

/** Fits kept between calls (the engine refits after every run; only the recipe whose runs changed is refitted). */
export type StudyFitCache = Map<string, { key: string; fits: Record<Axis, RecipeFit | string>; nd: Pick<RecipeFitSummary, 'nd' | 'ndError'> }>;
const AXES: readonly Axis[] = ['flops', 'allIn', 'wallClock'];
const AXIS_NAMES: Record<Axis, string> = { flops: 'training FLOPs', allIn: 'all-in FLOPs', wallClock: 'wall-clock' };

function axisValue(axis: Axis, run: StudyRun, p: StudyPoint): number {
  if (axis === 'flops') return p.flops;
  if (axis === 'allIn') return p.flops + (run.optimizerFlops * p.step) / run.steps;
  return p.seconds;
}

/** A finished grid run's finite points on one axis (a diverged run keeps the points before it diverged). */
function curves(runs: readonly StudyRun[], axis: Axis): Run[] {
  return runs
    .map((r) => ({ id: r.id, seed: r.seed, points: r.curve.filter((p) => Number.isFinite(p.loss) && p.loss > 0).map((p) => ({ flops: axisValue(axis, r, p), loss: p.loss })).filter((p) => p.flops > 0) }))
    .filter((r) => r.points.length > 0);
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function fitAxis(runs: readonly StudyRun[], total: number, axis: Axis, o: Required<StudyFitOptions>): RecipeFit | string {
  const data = curves(runs, axis);
  if (data.length < 2) return `${runs.length} of ${total} grid runs finished: a fit needs at least 2 with points`;
  try {
    return fitRecipe(data, { resamples: o.resamples, seed: o.seed });
  } catch (e) {
    if (!(e instanceof ScalingFitError)) throw e;
    return `${runs.length} of ${total} grid runs finished: ${e.message}`;
  }
}

/** L(N, D) on the final losses of the runs that trained to their last step (a diverged run has no final loss). */
function fitSizeTokens(done: readonly StudyRun[]): Pick<RecipeFitSummary, 'nd' | 'ndError'> {
  const points = done.flatMap((r) => {
    const last = r.curve[r.curve.length - 1];
    return last && last.step === r.steps && Number.isFinite(last.loss) && last.loss > 0 ? [{ params: r.nonEmbedding, tokens: r.tokens, loss: last.loss }] : [];
  });
  try {
    const { E, A, alpha, B, beta } = fitND(points).params;
    return { nd: { E, A, alpha, B, beta, runs: points.length } };
  } catch (e) {
    if (!(e instanceof ScalingFitError)) throw e;
    return { ndError: e.message };
  }
}

function summary(recipe: string, fit: RecipeFit | string, nd: Pick<RecipeFitSummary, 'nd' | 'ndError'>): RecipeFitSummary {
  if (typeof fit === 'string') return { recipe, envelope: [], error: fit, ...nd };
  const p = fit.fit.params;
  return {
    ...nd,
    recipe,
    envelope: fit.envelope.map(({ flops, loss }) => ({ flops, loss })),
    fit: { E: p.E, A: p.A, alpha: p.alpha, intervals: fit.intervals },
    lossRange: fit.lossRange,
    flopsRange: fit.flopsRange,
  };
}

/** The fits of a study so far (see the file's comment). */
export function studyFits(state: StudyState, options: StudyFitOptions = {}, cache?: StudyFitCache): StudyFits {
  const o = { resamples: options.resamples ?? 200, seed: options.seed ?? 0 };
  const baseline = state.spec.baseline ?? 'baseline';
  const fits = new Map<string, Record<Axis, RecipeFit | string>>();
  const nds = new Map<string, Pick<RecipeFitSummary, 'nd' | 'ndError'>>();
  for (const recipe of state.spec.recipes) {
    const grid = state.runs.filter((r) => r.recipe === recipe && r.kind === 'grid');
    const done = grid.filter((r) => r.status === 'done');
    const key = `${o.resamples}/${o.seed}/${grid.length}/${done.map((r) => `${r.id}:${r.curve.length}`).join(',')}`;
    const cached = cache?.get(recipe);
    const fit = cached?.key === key ? cached.fits : (Object.fromEntries(AXES.map((a) => [a, fitAxis(done, grid.length, a, o)])) as Record<Axis, RecipeFit | string>);
    const nd = cached?.key === key ? cached.nd : fitSizeTokens(done);
    cache?.set(recipe, { key, fits: fit, nd });
    fits.set(recipe, fit);
    nds.set(recipe, nd);
  }
  const recipes = state.spec.recipes.map((id) => summary(id, fits.get(id)!.flops, nds.get(id)!));
  const base = fits.get(baseline);
  const multipliers: MultiplierRow[] = state.spec.recipes.map((id) => {
    const group = id === baseline ? 'baseline' : (findRecipe(id)?.group ?? 'single');
    const row: MultiplierRow = { recipe: id, group };
    if (id === baseline) return row;
    const errors: string[] = [];
    for (const axis of AXES) {
      const b = base?.[axis];
      const r = fits.get(id)![axis];
      if (b === undefined || typeof b === 'string') errors.push(`${AXIS_NAMES[axis]}: no baseline fit yet (${b ?? 'the baseline is not in the study'})`);
      else if (typeof r === 'string') errors.push(`${AXIS_NAMES[axis]}: ${r}`);
      else {
        try {
          row[axis] = isoLossMultiplier(b, r) satisfies Multiplier;
        } catch (e) {
          if (!(e instanceof ScalingFitError)) throw e;
          errors.push(`${AXIS_NAMES[axis]}: ${message(e)}`);
        }
      }
    }
    if (errors.length) row.error = errors.join('; ');
    return row;
  });
  return { recipes, multipliers };
}
