import { LitElement, css, html, unsafeCSS, type PropertyValues } from 'lit';
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css?inline';
import { alignRuns, RunSeries, runsToCsv, X_AXES, type StepPoint, type XAxis } from './chart-data';
import { downloadBlob } from './download';
import { duration, lossText, si } from './format';

const COLORS = ['#3867d6', '#e55039', '#20bf6b', '#8854d0', '#f39c12', '#0fb9b1', '#eb3b5a', '#4b6584'];

/** What the chart needs to know about a run to place its points on every x-axis. */
export interface ChartRun {
  id: string;
  label: string;
  tokensPerStep: number;
  flopsPerToken: number;
  /** Steps already done when the run (re)starts: a loaded checkpoint. */
  step: number;
}

const formatX = (axis: XAxis, v: number): string =>
  axis === 'time' ? duration(v * 1000) : axis === 'step' ? (v < 1e4 ? String(Math.round(v)) : si(v)) : si(v);

/**
 * @summary Train and validation loss of this session's runs, overlaid: EMA smoothing, x-axis in steps, tokens,
 * FLOPs or wall time, log scale, hover read-out (the legend), PNG and CSV export. Points are appended to typed
 * arrays and the plot redraws at most once per animation frame, so tens of thousands of points stay smooth.
 * @csspart toolbar - the controls above the plot.
 * @cssproperty --spark-chart-height - plot height (default: 45% of the width, 220–420 px).
 */
export class LossChart extends LitElement {
  static override properties = {
    xAxis: { attribute: 'x-axis' },
    smoothing: { type: Number },
    logScale: { type: Boolean, attribute: 'log-scale' },
    caption: { state: true },
  };

  /** The quantity on the x-axis. */
  declare xAxis: XAxis;
  /** EMA weight for the train loss, 0 (raw) to 0.99. */
  declare smoothing: number;
  /** Logarithmic loss axis. */
  declare logScale: boolean;
  /** One line describing the latest point of the current run. */
  declare caption: string;

  private runs: RunSeries[] = [];
  private current: RunSeries | null = null;
  private plot: uPlot | null = null;
  private frame = 0;
  private rebuild = true;
  /** The x range the user zoomed to (drag), or null for everything. */
  private zoom: { xMin: number; xMax: number } | null = null;
  private resizer: ResizeObserver | null = null;
  private captionTimer = 0;
  /** Runs started since the last redraw, whose series the plot does not have yet. */
  private added: RunSeries[] = [];

  static override styles = [
    unsafeCSS(uplotCss),
    css`
      :host { display: block; }
      .toolbar { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; font-size: 13px; margin-bottom: 6px; }
      .toolbar label { display: inline-flex; gap: 4px; align-items: center; }
      select, button { font: inherit; }
      button { padding: 2px 10px; }
      input[type='range'] { width: 7rem; }
      output { font-family: ui-monospace, monospace; min-width: 2.5em; }
      .wrap { position: relative; min-height: 220px; }
      .empty { position: absolute; inset: 0; display: grid; place-items: center; color: var(--spark-muted, #777); border: 1px dashed var(--spark-border, #ccd); border-radius: 6px; background: rgba(255, 255, 255, 0.85); }
      .caption { font: 13px ui-monospace, monospace; margin: 4px 0 0 0; min-height: 1.4em; }
      .uplot { font-family: system-ui, sans-serif; }
      .u-legend { font-size: 12px; }
    `,
  ];

  constructor() {
    super();
    this.xAxis = 'step';
    this.smoothing = 0.6;
    this.logScale = false;
    this.caption = '';
  }

  private get plotEl(): HTMLElement {
    return this.renderRoot.querySelector('.plot') as HTMLElement;
  }

  /** Starts a series for a run, or continues the run's series when it resumes where the series ends. */
  startRun(run: ChartRun): void {
    const same = this.runs.find((r) => r.id === run.id);
    if (same && same === this.current && run.step >= same.lastStep) {
      same.restartClock();
      return;
    }
    const label = same ? `${run.label} (from step ${run.step})` : run.label;
    this.current = new RunSeries(same ? `${run.id}@${run.step}` : run.id, label, run.tokensPerStep, run.flopsPerToken);
    this.runs.push(this.current);
    this.added.push(this.current); // added to the live plot, not rebuilt: a new run starts without a long frame
    this.schedule();
    this.requestUpdate();
  }

  /** Appends a progress batch of the current run. */
  addSteps(steps: readonly StepPoint[], elapsedMs: number): void {
    if (!this.current) return;
    this.current.addSteps(steps, elapsedMs);
    this.schedule();
  }

  /** Appends a validation loss of the current run (`step` = steps done). */
  addEval(step: number, valLoss: number): void {
    if (!this.current) return;
    this.current.addEval(step, valLoss);
    this.schedule();
  }

  /** Counts and losses of the current run (what the page's tests and captions read). */
  get stats(): { runs: number; points: number; valPoints: number; firstLoss: number | null; lastLoss: number | null } {
    const r = this.current;
    const loss = r?.train.loss;
    return {
      runs: this.runs.length,
      points: loss?.length ?? 0,
      valPoints: r?.val.length ?? 0,
      firstLoss: loss?.length ? loss.at(0) : null,
      lastLoss: loss?.length ? loss.at(loss.length - 1) : null,
    };
  }

  /** The whole session's points as CSV (run, kind, step, tokens, flops, time_s, loss). */
  toCsv(): string {
    return runsToCsv(this.runs);
  }

  private schedule(): void {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.redraw());
  }

  private redraw(): void {
    this.frame = 0;
    if (!this.plotEl) return;
    // About two points per pixel: more cannot be seen, and fewer keep a redraw short at any run length.
    const maxPoints = 2 * Math.max(300, this.plot?.bbox.width ? this.plot.bbox.width / devicePixelRatio : this.size().width);
    const data = alignRuns(this.runs, this.xAxis, this.smoothing, { maxPoints, ...(this.zoom ?? {}) }) as unknown as uPlot.AlignedData;
    if (!this.plot || this.rebuild) {
      this.plot?.destroy();
      this.plot = new uPlot(this.options(), data, this.plotEl);
      this.rebuild = false;
      this.added = [];
      this.zoom = null;
    } else {
      for (const r of this.added) for (const series of this.seriesOf(r)) this.plot.addSeries(series);
      this.added = [];
      this.plot.setData(data, !this.zoom);
    }
    // The caption is text for people: a few updates a second are enough, and each one costs a layout.
    if (!this.captionTimer) this.captionTimer = window.setTimeout(() => {
      this.captionTimer = 0;
      this.updateCaption();
    }, 250);
  }

  private size(): { width: number; height: number } {
    const width = Math.max(240, this.plotEl?.clientWidth || 600);
    const custom = parseFloat(getComputedStyle(this).getPropertyValue('--spark-chart-height'));
    return { width, height: custom > 0 ? custom : Math.round(Math.min(420, Math.max(220, width * 0.45))) };
  }

  private options(): uPlot.Options {
    const axis = this.xAxis;
    const xLabel = X_AXES.find((a) => a.id === axis)!.label;
    const axisStyle = { stroke: '#444', grid: { stroke: '#e6e6ee', width: 1 }, ticks: { stroke: '#ccc', width: 1 } };
    return {
      ...this.size(),
      scales: { x: { time: false }, y: this.logScale ? { distr: 3, log: 10 } : { distr: 1 } },
      axes: [
        { ...axisStyle, label: xLabel, values: (_u, splits) => splits.map((v) => formatX(axis, v)) },
        { ...axisStyle, label: 'loss (nats)', size: 56, values: (_u, splits) => splits.map((v) => (v == null ? '' : +v.toPrecision(3) + '')) },
      ],
      series: [
        { label: xLabel, value: (_u, v) => (v == null ? '–' : formatX(axis, v)) },
        ...this.runs.flatMap((r) => this.seriesOf(r)),
      ],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      hooks: {
        // A drag zooms: redraw only that range, at full detail.
        setSelect: [
          (u) => {
            if (u.select.width <= 0) return;
            this.zoom = { xMin: u.posToVal(u.select.left, 'x'), xMax: u.posToVal(u.select.left + u.select.width, 'x') };
            this.schedule();
          },
        ],
        ready: [(u) => u.over.addEventListener('dblclick', () => {
          this.zoom = null;
          this.schedule();
        })],
      },
    };
  }

  /** The train and val series of a run, in its colour. */
  private seriesOf(r: RunSeries): uPlot.Series[] {
    const stroke = COLORS[this.runs.indexOf(r) % COLORS.length];
    const value = (_u: uPlot, v: number | null) => lossText(v);
    return [
      { label: `${r.label} train`, stroke, width: 1.5, spanGaps: true, points: { show: false }, value },
      { label: `${r.label} val`, stroke, width: 2, dash: [6, 4], spanGaps: true, points: { show: true, size: 6, fill: stroke }, value },
    ];
  }

  private updateCaption(): void {
    const r = this.current;
    if (!r || r.train.length === 0) {
      this.caption = r ? `${r.label}: waiting for the first step…` : '';
      return;
    }
    const n = r.train.length;
    const smooth = r.smoothed(this.smoothing);
    const val = r.val.length ? ` · val ${lossText(r.val.loss.at(r.val.length - 1))}` : '';
    this.caption = `${r.label}: step ${r.train.x.step.at(n - 1)} · train ${lossText(r.train.loss.at(n - 1))} (smoothed ${lossText(smooth[n - 1])})${val} · ${n} points`;
  }

  protected override firstUpdated(): void {
    this.schedule(); // an empty plot now, so the first run only adds its series
    this.resizer = new ResizeObserver(() => this.plot?.setSize(this.size()));
    this.resizer.observe(this.plotEl);
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has('xAxis') || changed.has('logScale')) this.rebuild = true;
    if (changed.has('xAxis') || changed.has('logScale') || changed.has('smoothing')) this.schedule();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.resizer?.disconnect();
    cancelAnimationFrame(this.frame);
    clearTimeout(this.captionTimer);
    this.frame = 0;
    this.captionTimer = 0;
  }

  private exportPng(): void {
    const u = this.plot;
    if (!u) return;
    const src = u.ctx.canvas;
    const dpr = src.width / Math.max(1, u.width);
    const lineH = Math.round(18 * dpr);
    const labels = u.series.slice(1).filter((s) => s.show !== false);
    const out = document.createElement('canvas');
    out.width = src.width;
    out.height = src.height + lineH * (labels.length + 1);
    const ctx = out.getContext('2d')!;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.drawImage(src, 0, 0);
    ctx.font = `${Math.round(12 * dpr)}px system-ui, sans-serif`;
    labels.forEach((s, i) => {
      const y = src.height + lineH * (i + 1);
      // uPlot turns a series' stroke into a function: take the colour from the run's index instead.
      const k = u.series.indexOf(s) - 1;
      ctx.fillStyle = COLORS[Math.floor(k / 2) % COLORS.length];
      for (let x = 0; x < 18; x += k % 2 ? 6 : 18) ctx.fillRect((8 + x) * dpr, y - 8 * dpr, (k % 2 ? 4 : 18) * dpr, 3 * dpr);
      ctx.fillStyle = '#222';
      ctx.fillText(String(s.label ?? ''), 32 * dpr, y - 3 * dpr);
    });
    out.toBlob((b) => b && downloadBlob(b, `spark-lab-loss-${this.xAxis}.png`), 'image/png');
  }

  override render() {
    return html`
      <div class="toolbar" part="toolbar">
        <label>x-axis
          <select aria-label="x-axis" data-testid="x-axis" @change=${(e: Event) => (this.xAxis = (e.target as HTMLSelectElement).value as XAxis)}>
            ${X_AXES.map((a) => html`<option value=${a.id} ?selected=${a.id === this.xAxis}>${a.label}</option>`)}
          </select></label>
        <label>smoothing
          <input type="range" min="0" max="0.99" step="0.01" .value=${String(this.smoothing)} aria-label="EMA smoothing"
            @input=${(e: Event) => (this.smoothing = Number((e.target as HTMLInputElement).value))} />
          <output>${this.smoothing.toFixed(2)}</output></label>
        <label><input type="checkbox" .checked=${this.logScale} data-testid="log-scale" @change=${(e: Event) => (this.logScale = (e.target as HTMLInputElement).checked)} /> log scale</label>
        <button @click=${this.exportPng} ?disabled=${!this.runs.length} data-testid="export-png">Export PNG</button>
        <button @click=${() => downloadBlob(new Blob([this.toCsv()], { type: 'text/csv' }), 'spark-lab-loss.csv')} ?disabled=${!this.runs.length} data-testid="export-csv">Export CSV</button>
      </div>
      <div class="wrap">
        <div class="plot" role="img" aria-label="Loss over ${X_AXES.find((a) => a.id === this.xAxis)!.label}. ${this.caption}"></div>
        ${this.runs.some((r) => r.train.length || r.val.length) ? null
          : html`<div class="empty">${this.runs.length ? 'Waiting for the first training step…' : 'Train a run to see its loss here.'}</div>`}
      </div>
      <p class="caption" data-testid="chart-caption">${this.caption}</p>
    `;
  }
}

customElements.define('spark-loss-chart', LossChart);

declare global {
  interface HTMLElementTagNameMap {
    'spark-loss-chart': LossChart;
  }
}
