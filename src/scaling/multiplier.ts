/**
 * Bootstrap intervals for the fits and the iso-loss compute multiplier C_baseline(L*) / C_recipe(L*).
 *
 * The bootstrap resamples whole runs (a curve is one observation: its points are not independent) with
 * replacement, within each seed's group when the runs carry seeds, recomputes the envelope and the fit, and reports
 * percentile intervals. A run drawn twice adds no weight to an envelope (its points coincide), so the spread comes
 * from which runs a resample holds. Each resample's fit starts from the full fit's parameters and two spread starts
 * rather than the whole grid, so 200 resamples cost a few full fits.
 */
import { Rng } from '../lib/rng';
import { lowerEnvelope, type EnvelopePoint, type Run } from './envelope';
import {
  computeForLoss, fitND, fitPowerLaw, ScalingFitError, type FitResult, type NDLaw, type PowerLaw, type SizeTokensLoss,
} from './fit';

export interface BootstrapOptions {
  /** Resamples; default 200. */
  resamples?: number;
  /** Central interval level; default 0.95. */
  level?: number;
  /**
   * The resampling RNG's seed; the same seed gives the same intervals. Default 0. Two recipes fitted with the same
   * seed over grids of the same shape draw the same run positions in each resample, so the multiplier's pairs
   * compare like with like.
   */
  seed?: number;
  /** Huber threshold passed to the fits. */
  delta?: number;
}

export type Interval = [number, number];

/** A recipe's frontier, its fit, the measured range and the bootstrap fits the multiplier pairs up. */
export interface RecipeFit {
  envelope: EnvelopePoint[];
  fit: FitResult<PowerLaw>;
  /** Lowest and highest loss on the envelope: the losses this recipe was measured to reach. */
  lossRange: Interval;
  flopsRange: Interval;
  intervals: { E: Interval; A: Interval; alpha: Interval };
  level: number;
  /** One fit per resample, null where the resample could not be fitted (counted in `failed`). */
  samples: (PowerLaw | null)[];
  failed: number;
}

/** Percentile intervals settle by a few thousand resamples; more only costs time. */
export const MAX_RESAMPLES = 10_000;

function checkOptions(o: BootstrapOptions): Required<Omit<BootstrapOptions, 'delta'>> {
  const resamples = o.resamples ?? 200;
  const level = o.level ?? 0.95;
  const seed = o.seed ?? 0;
  if (!Number.isInteger(resamples) || resamples < 10 || resamples > MAX_RESAMPLES) {
    throw new RangeError(`bootstrap resamples must be a whole number from 10 to ${MAX_RESAMPLES} (200 is the usual), got ${resamples}`);
  }
  if (!(level > 0 && level < 1)) throw new RangeError(`bootstrap level must be between 0 and 1 (0.95 for a 95% interval), got ${level}`);
  if (!Number.isFinite(seed)) throw new RangeError(`bootstrap seed must be a finite number, got ${seed}`);
  return { resamples, level, seed };
}

/**
 * Draws as many items as given, with replacement; when any item has a seed, each seed's group (items without one
 * form their own group) is resampled within itself, so every resample keeps the seeds' proportions.
 */
export function resampleRuns<T extends { seed?: number }>(items: readonly T[], rng: Rng): T[] {
  const groups = new Map<number | undefined, T[]>();
  for (const item of items) {
    const g = groups.get(item.seed);
    if (g) g.push(item);
    else groups.set(item.seed, [item]);
  }
  const out: T[] = [];
  for (const g of groups.values()) for (let i = 0; i < g.length; i++) out.push(g[rng.nextInt(g.length)]);
  return out;
}

/** The q-quantile of ascending values, interpolating between order statistics (R's type 7). */
export function quantile(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  if (sorted[lo] === sorted[hi]) return sorted[lo]; // also keeps ±Infinity from giving NaN
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

function percentileInterval(values: readonly number[], level: number): Interval {
  const sorted = [...values].sort((a, b) => a - b);
  return [quantile(sorted, (1 - level) / 2), quantile(sorted, (1 + level) / 2)];
}

/** Fits each resample; a resample the fitter refuses counts as failed, and too many failures are refused. */
function bootstrap<T extends { seed?: number }, P>(items: readonly T[], fit: (sample: T[]) => P, resamples: number, seed: number, what: string): { samples: (P | null)[]; failed: number } {
  const rng = new Rng(seed);
  const samples: (P | null)[] = [];
  for (let i = 0; i < resamples; i++) {
    const sample = resampleRuns(items, rng);
    try {
      samples.push(fit(sample));
    } catch (e) {
      if (!(e instanceof ScalingFitError)) throw e;
      samples.push(null);
    }
  }
  const failed = samples.filter((s) => s === null).length;
  if (failed > resamples / 10) {
    throw new ScalingFitError('unstable', `${failed} of ${resamples} bootstrap resamples of ${what} could not be fitted, so its interval would say little; add runs (more sizes or seeds) so that a resample still spans enough compute`);
  }
  return { samples, failed };
}

/** Envelope, fit and bootstrap intervals of one recipe's runs. */
export function fitRecipe(runs: readonly Run[], options: BootstrapOptions = {}): RecipeFit {
  const { resamples, level, seed } = checkOptions(options);
  const envelope = lowerEnvelope(runs);
  const fit = fitPowerLaw(envelope, { delta: options.delta });
  const p = fit.params;
  // The full fit, a lower floor, and a steeper law through the same loss at the reference scale.
  // A in log form: at a steep fit, A = amplitude·reference^α overflows a double long before its logarithm does. A
  // start the fitter would refuse (a floor that underflowed to 0) is left out; with none left, the default starts.
  const starts = [p, { E: 0.5 * p.E, A: p.A, logA: p.logA, alpha: p.alpha }, { E: p.E, A: NaN, logA: Math.log(p.amplitude) + 2 * p.alpha * Math.log(p.reference), alpha: 2 * p.alpha }]
    .filter((l) => l.E > 0 && Number.isFinite(Math.log(l.E)) && Number.isFinite(l.logA) && Number.isFinite(l.alpha));
  const boot = bootstrap(runs, (sample) => fitPowerLaw(lowerEnvelope(sample), { delta: options.delta, starts: starts.length ? starts : undefined }).params, resamples, seed, 'the recipe');
  const ok = boot.samples.filter((s): s is PowerLaw => s !== null);
  return {
    envelope,
    fit,
    lossRange: [envelope[envelope.length - 1].loss, envelope[0].loss], // the envelope's loss falls with FLOPs
    flopsRange: [envelope[0].flops, envelope[envelope.length - 1].flops],
    intervals: {
      E: percentileInterval(ok.map((s) => s.E), level),
      A: percentileInterval(ok.map((s) => s.A), level),
      alpha: percentileInterval(ok.map((s) => s.alpha), level),
    },
    level,
    ...boot,
  };
}

export interface NDFit {
  fit: FitResult<NDLaw>;
  intervals: { E: Interval; A: Interval; alpha: Interval; B: Interval; beta: Interval };
  level: number;
  failed: number;
}

/** L(N, D) fit of a grid's final losses with bootstrap intervals (each run is one resampled observation). */
export function fitNDWithIntervals(points: readonly (SizeTokensLoss & { seed?: number })[], options: BootstrapOptions = {}): NDFit {
  const { resamples, level, seed } = checkOptions(options);
  const fit = fitND(points, { delta: options.delta });
  const p = fit.params;
  // as for L(C): a start the fitter would refuse (a floor or amplitude out of a double's range) is left out
  const starts = [p, { ...p, E: 0.5 * p.E }].filter((l) => [l.E, l.A, l.B].every((v) => v > 0 && Number.isFinite(Math.log(v))));
  const boot = bootstrap(points, (sample) => fitND(sample, { delta: options.delta, starts: starts.length ? starts : undefined }).params, resamples, seed, 'the grid');
  const ok = boot.samples.filter((s): s is NDLaw => s !== null);
  const interval = (k: 'E' | 'A' | 'alpha' | 'B' | 'beta'): Interval => percentileInterval(ok.map((s) => s[k]), level);
  return { fit, intervals: { E: interval('E'), A: interval('A'), alpha: interval('alpha'), B: interval('B'), beta: interval('beta') }, level, failed: boot.failed };
}

/**
 * The default L* keeps at least this share of each recipe's measured reducible loss (its highest envelope loss less
 * its fitted floor E) above E: at a floor, C(L) = (A / (L − E))^(1/α) runs to infinity, so a target there measures
 * the floor's estimate, not compute (a recipe stuck on a plateau, as AdamW at the byte-unigram loss in the toy grid).
 */
export const FLOOR_MARGIN = 0.05;

export interface MultiplierOptions {
  /** L*, nats; default the lowest loss both recipes reached away from their floors (see {@link isoLossMultiplier}). */
  targetLoss?: number;
  /** Allow a target outside either recipe's measured losses; the result is then marked `extrapolated`. */
  extrapolate?: boolean;
  /** Central level of the interval; default 0.95. */
  level?: number;
}

export interface Multiplier {
  /** C_baseline(L*) / C_recipe(L*): above 1 the recipe needs less compute for the same loss. */
  multiplier: number;
  /** Percentile interval over paired resamples (Infinity where a baseline resample never reaches L*). */
  interval: Interval;
  level: number;
  targetLoss: number;
  target: 'default' | 'given';
  /** The losses both recipes reached, [larger lowest, smaller highest]; null when they do not overlap. */
  overlap: Interval | null;
  extrapolated: boolean;
  computeBaseline: number;
  computeRecipe: number;
  /** Resample pairs used, and of those how many had a side whose fit never reaches L*. */
  pairs: number;
  unreached: number;
}

function computeFor(law: PowerLaw, loss: number, who: string): number {
  try {
    return computeForLoss(law, loss);
  } catch (e) {
    if (e instanceof ScalingFitError) throw new ScalingFitError(e.code, `${who}: ${e.message}`);
    throw e;
  }
}

/**
 * The iso-loss compute multiplier of `recipe` against `baseline` at L*. By default L* is the lowest loss both were
 * measured to reach (the larger of the two lowest envelope losses, where the fits are pinned by data nearest the
 * large-compute end), raised where needed to FLOOR_MARGIN of each recipe's reducible loss above its fitted floor;
 * refused when that leaves no loss both reached. A given target outside either measured range is refused unless
 * `extrapolate`.
 */
export function isoLossMultiplier(baseline: RecipeFit, recipe: RecipeFit, options: MultiplierOptions = {}): Multiplier {
  const level = options.level ?? 0.95;
  if (!(level > 0 && level < 1)) throw new RangeError(`multiplier level must be between 0 and 1 (0.95 for a 95% interval), got ${level}`);
  const lo = Math.max(baseline.lossRange[0], recipe.lossRange[0]);
  const hi = Math.min(baseline.lossRange[1], recipe.lossRange[1]);
  const range = (r: RecipeFit): string => `[${r.lossRange[0].toPrecision(4)}, ${r.lossRange[1].toPrecision(4)}]`;
  let targetLoss: number;
  let extrapolated = false;
  if (options.targetLoss === undefined) {
    if (lo > hi) {
      throw new ScalingFitError('no-overlap', `the recipes' measured losses do not overlap (baseline ${range(baseline)}, recipe ${range(recipe)} nats), so no loss is reached by both; extend the runs until they do, or pass a targetLoss with extrapolate: true`);
    }
    const clear = (r: RecipeFit) => r.fit.params.E + FLOOR_MARGIN * (r.lossRange[1] - r.fit.params.E);
    const floor = Math.max(clear(baseline), clear(recipe));
    if (floor > hi) {
      throw new ScalingFitError('near-floor', `the losses both recipes reached ([${lo.toPrecision(4)}, ${hi.toPrecision(4)}] nats) all lie within ${100 * FLOOR_MARGIN}% of a fit's floor (baseline E ${baseline.fit.params.E.toPrecision(4)}, recipe E ${recipe.fit.params.E.toPrecision(4)}), where the compute to reach a loss is not determined; give a targetLoss to read the fits there anyway`);
    }
    targetLoss = Math.max(lo, floor);
  } else {
    targetLoss = options.targetLoss;
    if (!Number.isFinite(targetLoss)) throw new ScalingFitError('non-finite', `targetLoss is ${targetLoss}: give a finite loss in nats`);
    if (targetLoss <= 0) throw new ScalingFitError('non-positive', `targetLoss is ${targetLoss}: a loss in nats is positive`);
    extrapolated = !(targetLoss >= lo && targetLoss <= hi);
    if (extrapolated && !options.extrapolate) {
      throw new ScalingFitError('out-of-range', `targetLoss ${targetLoss} is outside the losses both recipes reached (baseline ${range(baseline)}, recipe ${range(recipe)} nats); choose one inside both, or pass extrapolate: true to read the fits beyond the data`);
    }
  }
  const computeBaseline = computeFor(baseline.fit.params, targetLoss, 'baseline');
  const computeRecipe = computeFor(recipe.fit.params, targetLoss, 'recipe');
  const ratios: number[] = [];
  let unreached = 0;
  const n = Math.min(baseline.samples.length, recipe.samples.length); // pair i with i; extra resamples go unused
  for (let i = 0; i < n; i++) {
    const b = baseline.samples[i];
    const r = recipe.samples[i];
    if (!b || !r) continue;
    const cb = targetLoss > b.E ? computeForLoss(b, targetLoss) : Infinity;
    const cr = targetLoss > r.E ? computeForLoss(r, targetLoss) : Infinity;
    // A side that never reaches L* needs unbounded compute: the ratio is ∞ or 0, and if neither does, unknown.
    if (cb === Infinity || cr === Infinity) unreached++;
    if (cb === Infinity && cr === Infinity) continue;
    ratios.push(cb / cr);
  }
  if (ratios.length < n / 2) {
    throw new ScalingFitError('unstable', `only ${ratios.length} of ${n} bootstrap pairs give a multiplier at L* = ${targetLoss}; choose a higher target loss or add runs`);
  }
  return {
    multiplier: computeBaseline / computeRecipe,
    interval: percentileInterval(ratios, level),
    level,
    targetLoss,
    target: options.targetLoss === undefined ? 'default' : 'given',
    overlap: lo <= hi ? [lo, hi] : null,
    extrapolated,
    computeBaseline,
    computeRecipe,
    pairs: ratios.length,
    unreached,
  };
}
