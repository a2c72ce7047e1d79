/**
 * The scaling section's words and numbers, kept apart from drawing: the multiplier table's rows (grouped, with
 * errors as text), the fitted parameters per recipe, the plan's estimate, the progress line, and the study spec
 * the form describes (validated, each problem at its field). Pure: no DOM.
 */
import type { Interval, Multiplier } from '../scaling/multiplier';
import type { GridInput, PresetName } from '../scaling/grid';
import type { StudyFits, StudyPlanSummary, StudySpec, StudyState } from '../scaling/study';
import { seedSpec } from '../train/config';
import { duration, lossText, si } from './format';
import { BASELINE_RECIPE, RECIPES, type RecipeGroup } from '../scaling/recipes';
import { recipeStyle } from './scaling-data';
import { parseList } from './sweep-data';

/** A number with three significant digits; ∞ for an open interval's end. */
export const num = (v: number | undefined): string =>
  v === undefined || Number.isNaN(v) ? '–' : v === Infinity ? '∞' : v === -Infinity ? '−∞' : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toPrecision(3) : String(+v.toPrecision(3));
export const intervalText = (i: Interval | undefined): string => (i ? `[${num(i[0])}, ${num(i[1])}]` : '');

/** One measure of a row: "2.31×" and "[1.80, 3.05]", or why there is none. */
export interface MeasureCell {
  value: string;
  interval: string;
}
const measure = (m: Multiplier | undefined): MeasureCell => (m ? { value: `${num(m.multiplier)}×`, interval: intervalText(m.interval) } : { value: '–', interval: '' });

export interface MultiplierTableRow {
  recipe: string;
  label: string;
  group: RecipeGroup;
  flops: MeasureCell;
  allIn: MeasureCell;
  wallClock: MeasureCell;
  /** L* of the training-FLOPs multiplier (nats), and whether it lies outside a measured range. */
  targetLoss: string;
  extrapolated: boolean;
  error?: string;
}

export const GROUP_TITLES: Record<Exclude<RecipeGroup, 'baseline'>, string> = {
  single: 'One ingredient over the baseline',
  all: 'All together',
  'leave-one-out': 'Leave one out of the full recipe',
};
const GROUP_ORDER: readonly Exclude<RecipeGroup, 'baseline'>[] = ['single', 'all', 'leave-one-out'];

/** The multiplier rows in table order (single, all, leave-one-out; the baseline is the reference, not a row). */
export function multiplierRows(fits: StudyFits | null): { group: Exclude<RecipeGroup, 'baseline'>; title: string; rows: MultiplierTableRow[] }[] {
  const rows = (fits?.multipliers ?? []).filter((r) => r.group !== 'baseline').map((r): MultiplierTableRow => ({
    recipe: r.recipe,
    label: recipeStyle(r.recipe).label,
    group: r.group,
    flops: measure(r.flops),
    allIn: measure(r.allIn),
    wallClock: measure(r.wallClock),
    targetLoss: r.flops ? lossText(r.flops.targetLoss) : '–',
    extrapolated: !!(r.flops?.extrapolated || r.allIn?.extrapolated || r.wallClock?.extrapolated),
    error: r.error,
  }));
  const order = (id: string) => {
    const i = RECIPES.findIndex((x) => x.id === id);
    return i < 0 ? RECIPES.length : i;
  };
  return GROUP_ORDER.flatMap((g) => {
    const inGroup = rows.filter((r) => r.group === g).sort((a, b) => order(a.recipe) - order(b.recipe));
    return inGroup.length ? [{ group: g, title: GROUP_TITLES[g], rows: inGroup }] : [];
  });
}

export interface FitTableRow {
  recipe: string;
  label: string;
  E: MeasureCell;
  A: MeasureCell;
  alpha: MeasureCell;
  /** Envelope points the fit used. */
  points: number;
  /** L(N, D) as a line, or why there is none. */
  nd: string;
  error?: string;
}

/** The fitted L(C) = E + A·C^−α per recipe, each parameter with its interval; a recipe without a fit says why. */
export function fitRows(fits: StudyFits | null): FitTableRow[] {
  return (fits?.recipes ?? []).map((r) => {
    const f = r.fit;
    const cell = (v: number | undefined, i: Interval | undefined): MeasureCell => ({ value: num(v), interval: intervalText(i) });
    return {
      recipe: r.recipe,
      label: recipeStyle(r.recipe).label,
      E: cell(f?.E, f?.intervals.E),
      A: cell(f?.A, f?.intervals.A),
      alpha: cell(f?.alpha, f?.intervals.alpha),
      points: r.envelope.length,
      nd: r.nd ? ndText(r.nd) : `no fit: ${r.ndError ?? 'no finished runs yet'}`,
      ...(f ? {} : { error: r.error ?? 'no fit yet' }),
    };
  });
}

/**
 * The learning-rate picks that fell on the edge of their search (the best rate may lie outside the searched range),
 * as one warning; null when there are none. A multiplier between recipes tuned this way is not yet a result.
 */
export function lrEdgeText(study: StudyState | null): string | null {
  const edges = Object.entries(study?.tunedLr ?? {}).flatMap(([recipe, picks]) =>
    picks.filter((p) => p.atEdge).map((p) => `${recipeStyle(recipe).label} ${num(p.lr)} at N ${si(p.nonEmbedding)}`));
  if (edges.length === 0) return null;
  const extended = Object.values(study?.lrExtra ?? {}).reduce((n, x) => n + x.length, 0);
  const tried = extended > 0 ? ` (the study already searched ${extended} more rate${extended === 1 ? '' : 's'} beyond the edges, the most it adds)` : '';
  return `Learning rate picked at the edge of the searched range${tried}: ${edges.join('; ')}. The best rate may lie outside it, so these recipes are not fully tuned and their multipliers are not yet a result: widen the searched rates (custom grid, lrSearch) and run again.`;
}

/** L(N, D) as one line: "2.1 + 3.20k/N^0.41 + 95/D^0.28 (16 runs)". */
export function ndText(nd: NonNullable<StudyFits['recipes'][number]['nd']>): string {
  return `${num(nd.E)} + ${si(nd.A)}/N^${nd.alpha.toFixed(2)} + ${si(nd.B)}/D^${nd.beta.toFixed(2)} (${nd.runs} runs)`;
}

/** FLOPs with a spaced SI prefix: 8.4e12 → "8.40 TFLOP". */
export function flopText(v: number): string {
  const t = si(v);
  return /[a-zA-Z]$/.test(t) ? `${t.slice(0, -1)} ${t.slice(-1)}FLOP` : `${t} FLOP`;
}

/** The plan's estimate as the panel shows it. */
export function planSummaryText(plan: StudyPlanSummary): { runs: number; trainFlops: string; allInFlops: string; time: string; basis: string } {
  const sum = (k: 'runs' | 'lrSearchRuns' | 'trainFlops' | 'allInFlops') => plan.recipes.reduce((s, r) => s + r[k], 0);
  return {
    runs: sum('runs') + sum('lrSearchRuns'),
    trainFlops: flopText(sum('trainFlops')),
    allInFlops: flopText(sum('allInFlops')),
    time: duration(plan.totalSeconds * 1000),
    basis: plan.timeBasis === 'measured' ? 'measured on this adapter' : 'assumed laptop GPU rate: not measured here yet',
  };
}

export interface ProgressInfo {
  runId: string;
  step: number;
  steps: number;
  done: number;
  etaSeconds: number | null;
}

/** "modern · size 2 · seed 1 · lr 3e-3 — step 40 of 120", and the time left. */
export function progressText(study: StudyState | null, p: ProgressInfo): { run: string; eta: string } {
  const r = study?.runs.find((x) => x.id === p.runId);
  const what = r ? `${recipeStyle(r.recipe).label} · ${r.kind === 'lr-search' ? 'lr search · ' : ''}size ${r.size + 1} · seed ${r.seed} · lr ${num(r.lr)}` : p.runId;
  return { run: `${what} — step ${p.step} of ${p.steps}`, eta: p.etaSeconds === null || !Number.isFinite(p.etaSeconds) ? 'estimating time left…' : `about ${duration(p.etaSeconds * 1000)} left` };
}

/**
 * A stored study with runs left: one a reload interrupted (stored 'running'), a cancelled one or one that failed.
 * Resuming queues its cancelled runs again and restarts the one that was in progress from step 0.
 */
export function isResumable(study: StudyState | null): boolean {
  return !!study && study.runs.some((r) => r.status === 'queued' || r.status === 'running' || r.status === 'cancelled');
}

export const studyCounts = (study: StudyState | null) => ({
  done: study?.runs.filter((r) => r.status === 'done').length ?? 0,
  failed: study?.runs.filter((r) => r.status === 'failed').length ?? 0,
  total: study?.runs.length ?? 0,
});

/** What the form holds, as text. */
export interface ScalingForm {
  recipes: string[];
  preset: PresetName;
  seeds: string;
  /** A custom grid as JSON, laid over the preset (empty: the preset alone). */
  custom: string;
}

/** The form as a StudySpec, or the problems by field ('scaling.seeds', 'scaling.custom'). */
export function buildSpec(form: ScalingForm): { spec: StudySpec | null; errors: Map<string, string> } {
  const errors = new Map<string, string>();
  const seedList = parseList(form.seeds);
  let seeds: number[] = [];
  if (!seedList.ok) errors.set('scaling.seeds', `seeds: "${seedList.bad.slice(0, 20)}" is not a number; give whole numbers such as 1, 2`);
  else {
    seeds = [...new Set(seedList.values)];
    const bad = seeds.find((s) => !Number.isInteger(s) || s < seedSpec.min || s > seedSpec.max);
    if (bad !== undefined) errors.set('scaling.seeds', `seeds: ${bad} is not a whole number from ${seedSpec.min} to ${seedSpec.max}`);
    else if (seeds.length < 2) errors.set('scaling.seeds', `seeds: give at least 2 different seeds (the intervals resample over seeds), got ${seeds.length}`);
  }
  let custom: GridInput = {};
  if (form.custom.trim()) {
    try {
      const v: unknown = JSON.parse(form.custom);
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('it must be an object such as {"tokensPerParam": [5, 20]}');
      const own = (['preset', 'seeds'] as const).find((k) => k in v);
      if (own) throw new Error(`"${own}" has its own field above; leave it out of the custom grid`);
      custom = v as GridInput;
    } catch (e) {
      errors.set('scaling.custom', `custom grid: ${e instanceof SyntaxError ? 'not valid JSON: ' : ''}${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (errors.size) return { spec: null, errors };
  const recipes = [BASELINE_RECIPE, ...form.recipes.filter((r) => r !== BASELINE_RECIPE)];
  return { spec: { recipes, baseline: BASELINE_RECIPE, grid: { ...custom, preset: form.preset, seeds } }, errors };
}

/** The form that describes a stored study's spec (a reload shows what the study ran, not the defaults). */
export function formOf(spec: StudySpec): ScalingForm {
  const grid: GridInput = typeof spec.grid === 'string' ? { preset: spec.grid } : spec.grid;
  const { preset, seeds, ...rest } = grid;
  return {
    recipes: [...spec.recipes],
    preset: preset ?? 'classroom',
    seeds: (seeds ?? [1, 2]).join(', '),
    custom: Object.keys(rest).length ? JSON.stringify(rest) : '',
  };
}
