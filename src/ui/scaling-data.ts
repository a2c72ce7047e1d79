/**
 * The scaling study's data for the chart and the exports, kept apart from drawing: every run's curve on the chosen
 * x-axis, each recipe's envelope and its fitted L(C) = E + A·C^−α sampled on a log grid, as one uPlot table; loss
 * ticks for a log axis that spans less than a decade; CSV of every point and JSON of the whole study. Pure: no DOM.
 */
import { lowerEnvelope } from '../scaling/envelope';
import { findRecipe } from '../scaling/recipes';
import type { RecipeFitSummary, StudyFits, StudyRun, StudyState } from '../scaling/study';
import { csvCell } from './sweep-data';

const COLORS: Record<string, string> = {
  baseline: '#1b1b22', modern: '#3867d6', muon: '#e55039', 'moe-active': '#20bf6b', 'moe-total': '#0fb9b1',
  spark: '#8854d0', 'spark-no-modern': '#f39c12', 'spark-no-muon': '#eb3b5a', 'spark-no-moe': '#4b6584',
};
const SPARE = ['#a55eea', '#2d98da', '#fa8231', '#26de81'];

/** A recipe's label (from recipes.ts) and colour; an id the list does not know keeps its id and gets a spare colour. */
export function recipeStyle(id: string): { id: string; label: string; color: string } {
  const info = findRecipe(id);
  let hash = 0;
  for (const ch of id) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return { id, label: info?.label ?? id, color: COLORS[id] ?? SPARE[hash % SPARE.length] };
}

export type ScalingAxis = 'flops' | 'allIn' | 'seconds';
export const SCALING_AXES: readonly { id: ScalingAxis; label: string; axis: string }[] = [
  { id: 'flops', label: 'training FLOPs', axis: 'training FLOPs (log)' },
  { id: 'allIn', label: 'all-in FLOPs', axis: 'all-in FLOPs: training + optimizer (log)' },
  { id: 'seconds', label: 'wall-clock', axis: 'training seconds on this adapter (log)' },
];

/**
 * A point's x: training FLOPs; all-in adds the run's optimizer FLOPs spent so far (its whole-run figure prorated
 * by step, as the runner's all-in multiplier counts them; the learning-rate search is a per-recipe constant, not
 * a per-point one, so only the table carries it); or training seconds.
 */
export function pointX(run: Pick<StudyRun, 'optimizerFlops' | 'steps'>, p: { step: number; flops: number; seconds: number }, axis: ScalingAxis): number {
  if (axis === 'seconds') return p.seconds;
  if (axis === 'flops') return p.flops;
  return p.flops + (run.steps > 0 ? run.optimizerFlops * Math.min(1, p.step / run.steps) : 0);
}

/** One run as drawn: positive, finite points only (a diverged run's NaN tail is left out, and counted). */
export interface RunCurve {
  id: string;
  recipe: string;
  kind: StudyRun['kind'];
  status: StudyRun['status'];
  x: number[];
  y: number[];
  dropped: number;
}

export function runCurves(study: StudyState | null, axis: ScalingAxis): RunCurve[] {
  if (!study) return [];
  return study.runs.filter((r) => r.curve.length > 0).map((r) => {
    const x: number[] = [];
    const y: number[] = [];
    for (const p of r.curve) {
      const px = pointX(r, p, axis);
      if (px > 0 && Number.isFinite(px) && p.loss > 0 && Number.isFinite(p.loss)) {
        x.push(px);
        y.push(p.loss);
      }
    }
    return { id: r.id, recipe: r.recipe, kind: r.kind, status: r.status, x, y, dropped: r.curve.length - x.length };
  });
}

/** L(C) = E + A·C^−α at `n` x values evenly spaced in log from lo to hi. */
export function fitCurve(fit: { E: number; A: number; alpha: number }, lo: number, hi: number, n = 48): { x: number[]; y: number[] } {
  if (!(lo > 0 && hi >= lo && Number.isFinite(hi)) || n < 1) return { x: [], y: [] };
  // The ends exactly lo and hi (exp∘log would round them), so the curve meets its measured range.
  const x = Array.from({ length: n }, (_, k) => (k === 0 ? lo : k === n - 1 ? hi : Math.exp(Math.log(lo) + (k / (n - 1)) * (Math.log(hi) - Math.log(lo)))));
  return { x, y: x.map((c) => fit.E + fit.A * c ** -fit.alpha) };
}

/**
 * A recipe's frontier on the chosen axis: on training FLOPs the fits' own envelope (what the fit saw); on the
 * others the lower envelope of its finished grid runs on that axis.
 */
export function envelopeOf(recipe: string, curves: readonly RunCurve[], fit: RecipeFitSummary | undefined, axis: ScalingAxis): { x: number[]; y: number[] } {
  if (axis === 'flops' && fit && fit.envelope.length) return { x: fit.envelope.map((p) => p.flops), y: fit.envelope.map((p) => p.loss) };
  const runs = curves.filter((c) => c.recipe === recipe && c.kind === 'grid' && c.status === 'done' && c.x.length > 0)
    .map((c) => ({ points: c.x.map((x, i) => ({ flops: x, loss: c.y[i] })) }));
  if (!runs.length) return { x: [], y: [] };
  const env = lowerEnvelope(runs);
  return { x: env.map((p) => p.flops), y: env.map((p) => p.loss) };
}

export interface ScalingSeries {
  recipe: string;
  kind: 'envelope' | 'fit';
  y: (number | null)[];
}

/** What the chart draws: run curves (drawn by hand, thin), and the envelopes and fits as one aligned uPlot table. */
export interface ScalingTable {
  x: number[];
  series: ScalingSeries[];
  runs: RunCurve[];
  /** The recipes drawn, in the study's order. */
  recipes: string[];
  /** Range of every drawn point (null when nothing is drawn). */
  bounds: { xMin: number; xMax: number; yMin: number; yMax: number } | null;
}

export function scalingTable(study: StudyState | null, fits: StudyFits | null, axis: ScalingAxis): ScalingTable {
  const runs = runCurves(study, axis);
  const recipes = [...new Set([...(study?.spec.recipes ?? []), ...runs.map((r) => r.recipe)])];
  const lines: { recipe: string; kind: 'envelope' | 'fit'; x: number[]; y: number[] }[] = [];
  for (const recipe of recipes) {
    const summary = fits?.recipes.find((f) => f.recipe === recipe);
    const env = envelopeOf(recipe, runs, summary, axis);
    if (env.x.length) lines.push({ recipe, kind: 'envelope', ...env });
    if (axis === 'flops' && summary?.fit) {
      const lo = summary.flopsRange?.[0] ?? env.x[0];
      const hi = summary.flopsRange?.[1] ?? env.x.at(-1);
      if (lo !== undefined && hi !== undefined) {
        const curve = fitCurve(summary.fit, lo, hi);
        if (curve.x.length) lines.push({ recipe, kind: 'fit', ...curve });
      }
    }
  }
  // One x column for every line (uPlot's aligned data); each line is null where it has no point.
  const x = [...new Set(lines.flatMap((l) => l.x))].sort((a, b) => a - b);
  const index = new Map(x.map((v, i) => [v, i]));
  const series = lines.map((l) => {
    const y: (number | null)[] = new Array(x.length).fill(null);
    l.x.forEach((v, i) => (y[index.get(v)!] = l.y[i]));
    return { recipe: l.recipe, kind: l.kind, y };
  });
  let bounds: ScalingTable['bounds'] = null;
  const grow = (px: number, py: number) => {
    if (!(px > 0 && py > 0 && Number.isFinite(px) && Number.isFinite(py))) return;
    if (!bounds) bounds = { xMin: px, xMax: px, yMin: py, yMax: py };
    else bounds = { xMin: Math.min(bounds.xMin, px), xMax: Math.max(bounds.xMax, px), yMin: Math.min(bounds.yMin, py), yMax: Math.max(bounds.yMax, py) };
  };
  for (const r of runs) r.x.forEach((px, i) => grow(px, r.y[i]));
  for (const l of lines) l.x.forEach((px, i) => grow(px, l.y[i]));
  return { x, series, runs, recipes, bounds };
}

/**
 * Ticks for a log loss axis: losses span less than a decade, where powers of ten give no tick at all, so round
 * linear steps (1, 2, 2.5 or 5 × 10^k) that fit `maxTicks`.
 */
export function lossTicks(min: number, max: number, maxTicks: number): number[] {
  if (!(min > 0 && max >= min && Number.isFinite(max))) return [];
  if (max === min) return [+min.toPrecision(3)];
  // The finest round step whose ticks fit: 1, 2, 2.5 or 5 × 10^k.
  const mag = 10 ** Math.floor(Math.log10((max - min) / Math.max(1, maxTicks)));
  const ticks = (step: number) => {
    const out: number[] = [];
    for (let k = Math.ceil(min / step - 1e-9); k * step <= max * (1 + 1e-9); k++) out.push(+(k * step).toPrecision(12));
    return out;
  };
  for (const step of [1, 2, 2.5, 5, 10, 20, 25, 50, 100].map((m) => m * mag)) {
    const t = ticks(step);
    if (t.length <= Math.max(1, maxTicks)) return t;
  }
  return ticks(100 * mag);
}

/** Round durations (seconds) for a log time axis: powers of ten below a minute, then minutes, hours and days. */
const TIME_TICKS = [1e-3, 1e-2, 0.1, 1, 10, 60, 600, 3600, 36_000, 86_400, 864_000];

/** Ticks of a log seconds axis on round durations (every other one when they crowd). */
export function timeTicks(min: number, max: number, maxTicks: number): number[] {
  const all = TIME_TICKS.filter((v) => v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9));
  return all.length <= Math.max(1, maxTicks) ? all : all.filter((_, i) => i % 2 === 0);
}

/** A round duration as a tick label: "10 ms", "1 s", "10 min", "1 h", "10 d". */
export function timeTickText(s: number): string {
  const r = (v: number) => String(+v.toPrecision(3));
  if (s >= 86_400) return `${r(s / 86_400)} d`;
  if (s >= 3600) return `${r(s / 3600)} h`;
  if (s >= 60) return `${r(s / 60)} min`;
  return s >= 1 ? `${r(s)} s` : `${r(s * 1000)} ms`;
}

export const STUDY_CSV_HEADER = 'recipe,run,kind,status,size,nonEmbedding,tokensPerParam,seed,lr,step,flops,allInFlops,loss,seconds';

/** Every point of every run as CSV rows (runs in the study's order, points by step); all-in as the chart counts it. */
export function studyToCsv(study: StudyState | null): string {
  const rows: string[] = [];
  for (const r of study?.runs ?? []) {
    for (const p of r.curve) {
      rows.push([r.recipe, r.id, r.kind, r.status, r.size, r.nonEmbedding, r.tokensPerParam, r.seed, r.lr, p.step, p.flops, pointX(r, p, 'allIn'), p.loss, p.seconds].map(csvCell).join(','));
    }
  }
  return [STUDY_CSV_HEADER, ...rows].join('\n') + '\n';
}

/** The whole study and its fits as JSON; non-finite numbers (an open interval's ∞, a diverged loss) kept as text. */
export function studyToJson(study: StudyState | null, fits: StudyFits | null, exportedAt = new Date().toISOString()): string {
  return JSON.stringify({ format: 'spark-lab-scaling-study', version: 1, exportedAt, study, fits }, (_k, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? String(v) : v, 2);
}
