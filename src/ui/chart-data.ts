/**
 * The loss chart's data, kept apart from drawing: each run appends to growable typed arrays (no per-point
 * objects), EMA smoothing extends incrementally, and the runs are merged into one x-sorted table (what uPlot
 * draws) in a single k-way pass per redraw. Long runs are thinned to about two points per pixel (each bucket's
 * min and max, so the drawn envelope is exact), which keeps a redraw cheap at any length. Pure: no DOM.
 */

export type XAxis = 'step' | 'tokens' | 'flops' | 'time';
export const X_AXES: readonly { id: XAxis; label: string }[] = [
  { id: 'step', label: 'steps' },
  { id: 'tokens', label: 'tokens' },
  { id: 'flops', label: 'FLOPs' },
  { id: 'time', label: 'wall time (s)' },
];

/** A Float64Array that doubles when full. */
export class Column {
  private data = new Float64Array(256);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
  get view(): Float64Array {
    return this.data.subarray(0, this.length);
  }
  at(i: number): number {
    return this.data[i];
  }
}

/** Points of one kind (training steps or evaluations): the four x columns and the loss. */
class Track {
  readonly x: Record<XAxis, Column> = { step: new Column(), tokens: new Column(), flops: new Column(), time: new Column() };
  readonly loss = new Column();
  get length(): number {
    return this.loss.length;
  }
}

export interface StepPoint {
  /** 0-based index of the optimisation step. */
  step: number;
  loss: number;
}

export class RunSeries {
  readonly train = new Track();
  readonly val = new Track();
  private clockOffsetMs = 0;
  private lastElapsedMs = 0;
  private ema = { weight: -1, length: 0, acc: 0, out: new Column() };

  constructor(
    readonly id: string,
    readonly label: string,
    readonly tokensPerStep: number,
    readonly flopsPerToken: number,
  ) {}

  /** Steps done by the last recorded point (0 when empty). */
  get lastStep(): number {
    const t = this.train.x.step;
    return t.length ? t.at(t.length - 1) : 0;
  }

  /** A new trainer (a loaded checkpoint) restarts elapsedMs at 0: keep the wall-time axis running on. */
  restartClock(): void {
    this.clockOffsetMs += this.lastElapsedMs;
    this.lastElapsedMs = 0;
  }

  private push(track: Track, stepsDone: number, timeMs: number, loss: number): void {
    const tokens = stepsDone * this.tokensPerStep;
    track.x.step.push(stepsDone);
    track.x.tokens.push(tokens);
    track.x.flops.push(tokens * this.flopsPerToken);
    track.x.time.push(timeMs / 1000);
    track.loss.push(loss);
  }

  /** Appends a progress batch; its wall time is spread evenly over the batch's steps. */
  addSteps(steps: readonly StepPoint[], elapsedMs: number): void {
    const t0 = this.clockOffsetMs + this.lastElapsedMs;
    const t1 = this.clockOffsetMs + Math.max(elapsedMs, this.lastElapsedMs);
    steps.forEach((s, i) => {
      // Out-of-order steps would break the sorted merge: drop them.
      if (s.step + 1 <= this.lastStep) return;
      this.push(this.train, s.step + 1, t0 + ((t1 - t0) * (i + 1)) / steps.length, s.loss);
    });
    this.lastElapsedMs = Math.max(elapsedMs, this.lastElapsedMs);
  }

  addEval(stepsDone: number, valLoss: number): void {
    const v = this.val.x.step;
    if (v.length && stepsDone <= v.at(v.length - 1)) return;
    this.push(this.val, stepsDone, this.clockOffsetMs + this.lastElapsedMs, valLoss);
  }

  /** Train loss smoothed by a debiased EMA (weight 0 = raw), extended from where the last call stopped. */
  smoothed(weight: number): Float64Array {
    const e = this.ema;
    if (e.weight !== weight) this.ema = { weight, length: 0, acc: 0, out: new Column() };
    const loss = this.train.loss;
    for (let i = this.ema.length; i < loss.length; i++) {
      const v = loss.at(i);
      if (Number.isFinite(v)) this.ema.acc = this.ema.acc * weight + (1 - weight) * v;
      this.ema.out.push(weight === 0 ? v : this.ema.acc / (1 - weight ** (i + 1)));
    }
    this.ema.length = loss.length;
    return this.ema.out.view;
  }
}

export type Aligned = [Float64Array, ...(number | null)[][]];

export interface AlignOptions {
  /** Most points kept per source; longer sources keep the min and max of each bucket (the drawn envelope). */
  maxPoints?: number;
  /** Only points in this x range (plus one either side, so lines reach the edges): a zoomed view. */
  xMin?: number;
  xMax?: number;
}

/** First index with x[i] >= v (x sorted ascending). */
function lowerBound(x: Float64Array, v: number): number {
  let lo = 0;
  let hi = x.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Indices to draw from one sorted source: all of them, or per bucket the min and max in index order. */
function pickIndices(x: Float64Array, y: Float64Array, o: AlignOptions): Int32Array {
  const lo = o.xMin === undefined ? 0 : Math.max(0, lowerBound(x, o.xMin) - 1);
  const hi = o.xMax === undefined ? x.length : Math.min(x.length, lowerBound(x, o.xMax) + 1);
  const n = Math.max(0, hi - lo);
  const max = Math.max(4, o.maxPoints ?? Infinity);
  if (n <= max) return Int32Array.from({ length: n }, (_, i) => lo + i);
  const bucket = Math.ceil(n / Math.floor(max / 2));
  const out: number[] = [];
  for (let b = lo; b < hi; b += bucket) {
    const end = Math.min(hi, b + bucket);
    let iMin = -1;
    let iMax = -1;
    for (let i = b; i < end; i++) {
      const v = y[i];
      if (!Number.isFinite(v)) continue;
      if (iMin < 0 || v < y[iMin]) iMin = i;
      if (iMax < 0 || v > y[iMax]) iMax = i;
    }
    if (iMin < 0) out.push(b);
    else if (iMin === iMax) out.push(iMin);
    else out.push(Math.min(iMin, iMax), Math.max(iMin, iMax));
  }
  if (out[out.length - 1] !== hi - 1) out.push(hi - 1); // keep the newest point exact
  return Int32Array.from(out);
}

/**
 * One table with a single sorted x column for all runs (train and val of each, in that order): every source is
 * sorted in x, so one k-way merge places each point; equal x values share a row. Missing values are null.
 */
export function alignRuns(runs: readonly RunSeries[], axis: XAxis, smoothing: number, options: AlignOptions = {}): Aligned {
  const sources = runs.flatMap((r) => [
    { x: r.train.x[axis].view, y: r.smoothed(smoothing) },
    { x: r.val.x[axis].view, y: r.val.loss.view },
  ]).map((s) => ({ ...s, idx: pickIndices(s.x, s.y, options) }));
  const total = sources.reduce((n, s) => n + s.idx.length, 0);
  const x = new Float64Array(total);
  const ys = sources.map(() => new Array<number | null>(total).fill(null));
  const heads = new Array<number>(sources.length).fill(0);
  let m = 0;
  for (;;) {
    let min = Infinity;
    for (let k = 0; k < sources.length; k++) {
      const s = sources[k];
      if (heads[k] < s.idx.length && s.x[s.idx[heads[k]]] < min) min = s.x[s.idx[heads[k]]];
    }
    if (min === Infinity) break;
    x[m] = min;
    for (let k = 0; k < sources.length; k++) {
      const s = sources[k];
      while (heads[k] < s.idx.length && s.x[s.idx[heads[k]]] === min) {
        const v = s.y[s.idx[heads[k]++]];
        ys[k][m] = Number.isFinite(v) ? v : null;
      }
    }
    m++;
  }
  for (const y of ys) y.length = m;
  return [x.subarray(0, m), ...ys];
}

const csvNumber = (v: number) => (Number.isFinite(v) ? String(v) : '');

/** Every point of every run as CSV rows: run, kind (train/val), step, tokens, flops, time_s, loss. */
export function runsToCsv(runs: readonly RunSeries[]): string {
  const rows = ['run,kind,step,tokens,flops,time_s,loss'];
  for (const r of runs) {
    const name = `"${r.label.replace(/"/g, '""')}"`;
    for (const [kind, t] of [['train', r.train], ['val', r.val]] as const) {
      for (let i = 0; i < t.length; i++) {
        rows.push([name, kind, t.x.step.at(i), t.x.tokens.at(i), t.x.flops.at(i), t.x.time.at(i).toFixed(3), t.loss.at(i)].map((v) => (typeof v === 'number' ? csvNumber(v) : v)).join(','));
      }
    }
  }
  return rows.join('\n') + '\n';
}
