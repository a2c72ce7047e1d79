/**
 * The test-time sweep's data, kept apart from drawing: the points of every strategy as uPlot tables for the four
 * views (accuracy against N, thinking budget, generated tokens and wall time), CSV of every point, and the sample
 * inspector's filters and paging. Pure: no DOM.
 */
import type { Strategy, SweepPoint, SweepSample } from '../eval/sweep';
import type { SelectionRule } from '../eval/select';

export interface StrategyStyle {
  id: Strategy;
  label: string;
  color: string;
  /** Canvas dash pattern: strategies differ by line style as well as colour. */
  dash?: number[];
}

/** Every strategy in legend order, with a fixed colour and line style shared by all four charts. */
export const STRATEGIES: readonly StrategyStyle[] = [
  { id: 'oracle', label: 'oracle (pass@N)', color: '#4b6584' },
  { id: 'logprob', label: 'best log-prob', color: '#3867d6' },
  { id: 'majority', label: 'majority vote', color: '#20bf6b' },
  { id: 'weighted', label: 'weighted vote', color: '#8854d0' },
  { id: 'contemplate-vote', label: 'contemplate: vote', color: '#e55039', dash: [8, 4] },
  { id: 'contemplate-write', label: 'contemplate: write', color: '#f39c12', dash: [8, 4] },
  { id: 'budget-cap', label: 'budget cap', color: '#0fb9b1', dash: [2, 3] },
  { id: 'budget-extend', label: 'budget extend', color: '#eb3b5a', dash: [2, 3] },
];
export const strategyStyle = (s: Strategy): StrategyStyle => STRATEGIES.find((x) => x.id === s) ?? { id: s, label: s, color: '#333' };

export type SweepView = 'n' | 'budget' | 'tokens' | 'ms';

export interface ViewSpec {
  id: SweepView;
  title: string;
  xLabel: string;
  /** Logarithmic x with this base; 0 for linear. */
  logBase: 0 | 2 | 10;
  /** Which strategies this view plots. */
  strategies: readonly Strategy[];
  x(p: SweepPoint): number | undefined;
}

const ALL = STRATEGIES.map((s) => s.id);
export const VIEWS: readonly ViewSpec[] = [
  { id: 'n', title: 'Accuracy against samples N', xLabel: 'N (samples per problem, log₂)', logBase: 2,
    strategies: ['oracle', 'logprob', 'majority', 'weighted', 'contemplate-vote', 'contemplate-write'], x: (p) => p.n },
  { id: 'budget', title: 'Accuracy against thinking budget B', xLabel: 'B (thinking tokens: cap, or extend minimum)', logBase: 0,
    strategies: ['budget-cap', 'budget-extend'], x: (p) => p.budget },
  { id: 'tokens', title: 'Accuracy against generated tokens', xLabel: 'tokens generated (all problems, log)', logBase: 10, strategies: ALL, x: (p) => p.tokens },
  { id: 'ms', title: 'Accuracy against wall time', xLabel: 'wall time (ms, log)', logBase: 10, strategies: ALL, x: (p) => p.ms },
];

/** One plotted strategy: its accuracies and Wilson bounds per row of the table (null where it has no point). */
export interface ViewSeries {
  strategy: Strategy;
  y: (number | null)[];
  low: (number | null)[];
  high: (number | null)[];
}

export interface ViewTable {
  x: number[];
  series: ViewSeries[];
  /** Points this view could not place (no budget, or x ≤ 0 on a log axis). */
  dropped: number;
}

/**
 * The points of one view as one x-sorted table (uPlot's aligned data). Strategies with no point in this view are left
 * out, so the legend lists only what is drawn. Points at equal x share a row unless their strategy already holds it.
 */
export function viewTable(points: readonly SweepPoint[], view: ViewSpec): ViewTable {
  const placed: { p: SweepPoint; x: number; k: number }[] = [];
  const present = view.strategies.filter((s) => points.some((p) => p.strategy === s));
  let dropped = 0;
  for (const p of points) {
    const k = present.indexOf(p.strategy);
    if (k < 0) continue;
    const x = view.x(p);
    if (x === undefined || !Number.isFinite(x) || (view.logBase && x <= 0)) {
      dropped++;
      continue;
    }
    placed.push({ p, x, k });
  }
  placed.sort((a, b) => a.x - b.x || a.k - b.k);
  const x: number[] = [];
  const series: ViewSeries[] = present.map((strategy) => ({ strategy, y: [], low: [], high: [] }));
  for (const { p, x: px, k } of placed) {
    const row = x.length - 1;
    if (row < 0 || x[row] !== px || series[k].y[row] !== null) {
      x.push(px);
      for (const s of series) s.y.push(null), s.low.push(null), s.high.push(null);
    }
    const r = x.length - 1;
    series[k].y[r] = p.accuracy;
    series[k].low[r] = p.low;
    series[k].high[r] = p.high;
  }
  return { x, series, dropped };
}

/** Points per strategy in one view's table (what tests and captions read). */
export function countsOf(table: ViewTable): Partial<Record<Strategy, number>> {
  return Object.fromEntries(table.series.map((s) => [s.strategy, s.y.filter((v) => v !== null).length]));
}

/** One CSV cell: numbers as written (non-finite empty), text quoted when it holds a comma, quote or newline. */
export const csvCell = (v: string | number | undefined): string =>
  v === undefined ? '' : typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;

export const POINT_CSV_HEADER = 'strategy,n,budget,accuracy,low,high,correct,total,tokens,ms';

/** Every point as a CSV row, in arrival order. */
export function pointsToCsv(points: readonly SweepPoint[]): string {
  const rows = points.map((p) => [p.strategy, p.n, p.budget, p.accuracy, p.low, p.high, p.correct, p.total, p.tokens, p.ms].map(csvCell).join(','));
  return [POINT_CSV_HEADER, ...rows].join('\n') + '\n';
}

/** A fraction as a percentage: 0.4567 → "45.7%". */
export const percent = (v: number | null | undefined): string => (v == null || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(v === 0 || v === 1 ? 0 : 1)}%`);

// ---- samples ----

const END_THINK = '</think>';
const END_OF_TEXT = '<|endoftext|>';

/**
 * A sampled completion (the text after `<think>`) as its thinking and its answer part. `closed` is false when
 * the sample never wrote `</think>`: then it is all thinking and has no answer.
 */
export function splitCompletion(completion: string): { thinking: string; answer: string; closed: boolean } {
  const at = completion.indexOf(END_THINK);
  if (at < 0) return { thinking: completion.replace(END_OF_TEXT, ''), answer: '', closed: false };
  const rest = completion.slice(at + END_THINK.length);
  const eot = rest.indexOf(END_OF_TEXT);
  return { thinking: completion.slice(0, at), answer: eot < 0 ? rest : rest.slice(0, eot), closed: true };
}

/** The selection rules that chose this sample, in rule order. */
export function chosenBy(s: SweepSample): SelectionRule[] {
  return (['oracle', 'logprob', 'majority', 'weighted'] as const).filter((r) => s.chosen?.[r] === true);
}

/** Samples are grouped as the sweep made them: best-of-N batches (tagged 'oracle'), budgets, contemplation. */
export type SampleGroup = 'best-of-n' | 'budget-cap' | 'budget-extend' | 'contemplate';
export const SAMPLE_GROUPS: readonly { id: SampleGroup; label: string }[] = [
  { id: 'best-of-n', label: 'best-of-N' },
  { id: 'budget-cap', label: 'budget cap' },
  { id: 'budget-extend', label: 'budget extend' },
  { id: 'contemplate', label: 'contemplating' },
];

export function groupOf(s: SweepSample): SampleGroup {
  if (s.strategy === 'budget-cap' || s.strategy === 'budget-extend') return s.strategy;
  if (s.strategy === 'contemplate-vote' || s.strategy === 'contemplate-write') return 'contemplate';
  return 'best-of-n';
}

export interface SampleFilter {
  group?: SampleGroup;
  n?: number;
  budget?: number;
  verdict?: 'correct' | 'incorrect';
  /** Only samples this rule chose. */
  chosenBy?: SelectionRule;
}

export function matches(s: SweepSample, f: SampleFilter): boolean {
  return (f.group === undefined || groupOf(s) === f.group)
    && (f.n === undefined || s.n === f.n)
    && (f.budget === undefined || s.budget === f.budget)
    && (f.verdict === undefined || s.correct === (f.verdict === 'correct'))
    && (f.chosenBy === undefined || s.chosen?.[f.chosenBy] === true);
}

export interface SamplePage<T> {
  rows: T[];
  /** Index of the first row shown, in the filtered list. */
  start: number;
  /** Rows that pass the filter. */
  total: number;
  page: number;
  pages: number;
}

/** One page of the samples that pass the filter, each with its index in the full list; the page is clamped. */
export function pageOf(samples: readonly SweepSample[], filter: SampleFilter, page: number, pageSize: number): SamplePage<{ index: number; sample: SweepSample }> {
  const hits: number[] = [];
  for (let i = 0; i < samples.length; i++) if (matches(samples[i], filter)) hits.push(i);
  const pages = Math.max(1, Math.ceil(hits.length / pageSize));
  const p = Math.min(Math.max(0, Math.floor(page)), pages - 1);
  const start = p * pageSize;
  return { rows: hits.slice(start, start + pageSize).map((index) => ({ index, sample: samples[index] })), start, total: hits.length, page: p, pages };
}

/** The distinct values a filter can offer, ascending. */
export function distinctValues(samples: readonly SweepSample[], key: 'n' | 'budget'): number[] {
  const set = new Set<number>();
  for (const s of samples) {
    const v = s[key];
    if (v !== undefined) set.add(v);
  }
  return [...set].sort((a, b) => a - b);
}

/** Parses a list field ("1, 2, 4 8"): numbers, or the first piece that is not one. */
export function parseList(text: string): { ok: true; values: number[] } | { ok: false; bad: string } {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  const values: number[] = [];
  for (const p of parts) {
    const v = Number(p);
    if (!Number.isFinite(v)) return { ok: false, bad: p };
    values.push(v);
  }
  return { ok: true, values };
}
