import { LitElement, css, html, nothing, unsafeCSS } from 'lit';
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css?inline';
import type { Strategy, SweepEvent, SweepPoint } from '../eval/sweep';
import { downloadBlob } from './download';
import { duration, si } from './format';
import { countsOf, percent, pointsToCsv, strategyStyle, STRATEGIES, VIEWS, viewTable, type SweepView, type ViewSpec, type ViewTable } from './sweep-data';

const formatX = (view: SweepView, v: number): string =>
  view === 'ms' ? duration(v) : view === 'tokens' ? si(v).replace(/\.0+(?=[a-zA-Z]*$)/, '') : Number.isInteger(v) ? String(v) : +v.toPrecision(3) + '';

/**
 * Tick values of a log axis: powers of the base (for base 10 also 2× and 5×, or only every other power when
 * they crowd), so ticks fall on round numbers whatever the padded range.
 */
export function logSplits(base: 2 | 10, min: number, max: number, maxTicks: number): number[] {
  const lo = Math.floor(Math.log(min) / Math.log(base)) - 1;
  const hi = Math.ceil(Math.log(max) / Math.log(base)) + 1;
  const within = (mults: number[], every = 1) => {
    const out: number[] = [];
    for (let e = lo; e <= hi; e += every) for (const m of mults) {
      const v = m * base ** e;
      if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(+v.toPrecision(12));
    }
    return out;
  };
  if (base === 2) {
    const all = within([1]);
    return all.length > maxTicks ? within([1], 2) : all;
  }
  const fine = within([1, 2, 5]);
  return fine.length <= maxTicks ? fine : within([1]);
}

/** Whisker horizontal offset between strategies at the same x (CSS px), so intervals do not hide each other. */
const DODGE_PX = 3;

/**
 * @summary Test-time scaling charts, live while a sweep runs: accuracy against N (log₂) for each selection rule
 * and contemplation, against the thinking budget (cap and extend), and against generated tokens and wall time for
 * every strategy (log x), so strategies compare at equal compute. Each point carries its 95% Wilson interval as a
 * vertical whisker (dodged a few pixels per strategy). Redraws at most once per animation frame; PNG and CSV export.
 * @csspart toolbar - the export buttons above the charts.
 * @csspart plot - each of the four plot figures.
 * @cssproperty --spark-sweep-chart-height - plot height (default: 62% of the width, 180–320 px).
 */
export class SweepChart extends LitElement {
  static override properties = {
    count: { state: true },
  };

  /** Points received (drives the empty state and the export buttons). */
  declare count: number;

  private pointList: SweepPoint[] = [];
  private tables = new Map<SweepView, ViewTable>();
  private plots = new Map<SweepView, { plot: uPlot; key: string }>();
  private frame = 0;
  private resizer: ResizeObserver | null = null;

  static override styles = [
    unsafeCSS(uplotCss),
    css`
      :host { display: block; }
      .toolbar { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; font-size: 13px; margin-bottom: 6px; }
      .toolbar .note { color: var(--spark-muted, #555); flex: 1 1 14rem; }
      button { font: inherit; padding: 2px 10px; }
      .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 28rem), 1fr)); gap: 12px; position: relative; min-height: 200px; }
      figure { margin: 0; min-width: 0; position: relative; }
      figcaption { font-weight: 600; font-size: 13px; margin-bottom: 2px; }
      .plot { min-height: 180px; }
      .none { position: absolute; inset: 1.6em 0 0 0; display: grid; place-items: center; color: var(--spark-muted, #777); font-size: 13px; border: 1px dashed var(--spark-border, #ccd); border-radius: 6px; }
      .empty { position: absolute; inset: 0; display: grid; place-items: center; text-align: center; padding: 1em; color: var(--spark-muted, #666); border: 1px dashed var(--spark-border, #ccd); border-radius: 6px; background: rgba(255, 255, 255, 0.92); z-index: 2; }
      .uplot { font-family: system-ui, sans-serif; }
      .u-legend { font-size: 12px; text-align: left; }
      .u-legend .u-marker { width: 1.6em; }
      button:focus-visible { outline: 3px solid #f39c12; outline-offset: 1px; }
    `,
  ];

  constructor() {
    super();
    this.count = 0;
  }

  /** Every point received so far, in arrival order. */
  get points(): readonly SweepPoint[] {
    return this.pointList;
  }

  /** Takes one sweep event: points are plotted, the other kinds ignored. */
  add(event: SweepEvent): void {
    if (event.kind === 'point') this.addPoint(event.point);
  }

  addPoint(point: SweepPoint): void {
    this.pointList.push(point);
    this.count = this.pointList.length;
    this.schedule();
  }

  /** Forgets every point (a new sweep). */
  reset(): void {
    this.pointList = [];
    this.count = 0;
    this.schedule();
  }

  /** Points drawn per view and strategy (what tests and captions read). */
  get stats(): Record<SweepView, Partial<Record<Strategy, number>>> {
    return Object.fromEntries(VIEWS.map((v) => [v.id, countsOf(viewTable(this.pointList, v))])) as Record<SweepView, Partial<Record<Strategy, number>>>;
  }

  /** Every point as CSV: strategy, n, budget, accuracy, low, high, correct, total, tokens, ms. */
  toCsv(): string {
    return pointsToCsv(this.pointList);
  }

  private schedule(): void {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.redraw());
  }

  private plotEl(view: SweepView): HTMLElement | null {
    return this.renderRoot.querySelector<HTMLElement>(`.plot[data-view="${view}"]`);
  }

  private redraw(): void {
    this.frame = 0;
    for (const view of VIEWS) {
      const el = this.plotEl(view.id);
      const table = viewTable(this.pointList, view);
      this.tables.set(view.id, table);
      const key = table.series.map((s) => s.strategy).join(',');
      const held = this.plots.get(view.id);
      if (!el || table.x.length === 0) {
        held?.plot.destroy();
        this.plots.delete(view.id);
        continue;
      }
      const data = [table.x, ...table.series.map((s) => s.y)] as unknown as uPlot.AlignedData;
      if (held && held.key === key) {
        held.plot.setData(data);
        continue;
      }
      held?.plot.destroy(); // a strategy joined: its series and legend entry need a new plot
      this.plots.set(view.id, { plot: new uPlot(this.options(view), data, el), key });
    }
  }

  private size(el: HTMLElement | null): { width: number; height: number } {
    const width = Math.max(220, el?.clientWidth || 420);
    const custom = parseFloat(getComputedStyle(this).getPropertyValue('--spark-sweep-chart-height'));
    return { width, height: custom > 0 ? custom : Math.round(Math.min(320, Math.max(180, width * 0.62))) };
  }

  private options(view: ViewSpec): uPlot.Options {
    const table = () => this.tables.get(view.id)!;
    const axisStyle = { stroke: '#444', grid: { stroke: '#e6e6ee', width: 1 }, ticks: { stroke: '#ccc', width: 1 } };
    const base = view.logBase;
    const xRange: uPlot.Range.Function = (_u, min, max) => {
      if (min == null || max == null) return [base ? 1 : 0, base ? base : 1];
      if (base) return min === max ? [min / base, max * base] : [min / Math.sqrt(base === 2 ? 2 : 3), max * Math.sqrt(base === 2 ? 2 : 3)];
      const pad = min === max ? 1 : (max - min) * 0.06;
      return [min - pad, max + pad];
    };
    return {
      ...this.size(this.plotEl(view.id)),
      scales: {
        x: { time: false, ...(base ? { distr: 3, log: base } : { distr: 1 }), range: xRange },
        y: { range: [0, 1] },
      },
      axes: [
        {
          ...axisStyle, label: view.xLabel, values: (_u, splits) => splits.map((v) => (v == null ? '' : formatX(view.id, v))),
          // our own round ticks, every one labelled (uPlot's log filter would drop the 2× and 5× labels)
          ...(base ? { splits: (u: uPlot, _i: number, min: number, max: number) => logSplits(base, min, max, Math.max(3, Math.floor(u.bbox.width / devicePixelRatio / 70))), filter: (_u: uPlot, splits: number[]) => splits } : {}),
        },
        { ...axisStyle, label: 'accuracy', size: 48, values: (_u, splits) => splits.map((v) => (v == null ? '' : `${Math.round(v * 100)}%`)) },
      ],
      series: [
        // Values show while hovering; empty otherwise, so the legend stays a compact key.
        { label: view.id === 'n' ? 'N' : view.id === 'budget' ? 'B' : view.id === 'ms' ? 'time' : 'tokens', value: (_u, v) => (v == null ? '' : formatX(view.id, v)) },
        ...table().series.map((s, k): uPlot.Series => {
          const st = strategyStyle(s.strategy);
          return {
            label: st.label, stroke: st.color, width: 2, dash: st.dash, spanGaps: true,
            points: { show: true, size: 7, fill: st.color },
            value: (_u, v, _si, i) => (v == null || i == null ? '' : `${percent(v)} [${percent(table().series[k].low[i])}–${percent(table().series[k].high[i])}]`),
          };
        }),
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      hooks: { draw: [(u) => this.drawWhiskers(u, table())] },
    };
  }

  /** 95% Wilson intervals as vertical whiskers with caps, in each series' colour. */
  private drawWhiskers(u: uPlot, t: ViewTable): void {
    const ctx = u.ctx;
    const dpr = devicePixelRatio || 1;
    ctx.save();
    ctx.beginPath();
    ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
    ctx.clip();
    ctx.lineWidth = 1.5 * dpr;
    for (let row = 0; row < t.x.length; row++) {
      const here = t.series.filter((s) => s.y[row] !== null);
      here.forEach((s, j) => {
        const lo = s.low[row];
        const hi = s.high[row];
        if (lo == null || hi == null) return;
        const x = u.valToPos(t.x[row], 'x', true) + (j - (here.length - 1) / 2) * DODGE_PX * dpr;
        const y0 = u.valToPos(lo, 'y', true);
        const y1 = u.valToPos(hi, 'y', true);
        const cap = 3 * dpr;
        ctx.strokeStyle = strategyStyle(s.strategy).color;
        ctx.globalAlpha = 0.55;
        ctx.beginPath();
        ctx.moveTo(x, y0);
        ctx.lineTo(x, y1);
        ctx.moveTo(x - cap, y0);
        ctx.lineTo(x + cap, y0);
        ctx.moveTo(x - cap, y1);
        ctx.lineTo(x + cap, y1);
        ctx.stroke();
      });
    }
    ctx.restore();
  }

  /** The four plots in a 2×2 image with their titles and one legend of every strategy drawn; null before any point. */
  toPng(): Promise<Blob | null> {
    const shown = VIEWS.filter((v) => this.plots.has(v.id));
    if (!shown.length) return Promise.resolve(null);
    const canvases = shown.map((v) => this.plots.get(v.id)!.plot.ctx.canvas);
    const dpr = canvases[0].width / Math.max(1, this.plots.get(shown[0].id)!.plot.width);
    const cellW = Math.max(...canvases.map((c) => c.width));
    const titleH = Math.round(22 * dpr);
    const cellH = Math.max(...canvases.map((c) => c.height)) + titleH;
    const cols = shown.length > 1 ? 2 : 1;
    const rows = Math.ceil(shown.length / cols);
    const drawn = STRATEGIES.filter((s) => this.pointList.some((p) => p.strategy === s.id));
    const lineH = Math.round(18 * dpr);
    const out = document.createElement('canvas');
    out.width = cellW * cols;
    out.height = cellH * rows + lineH * (Math.ceil(drawn.length / 2) + 2);
    const ctx = out.getContext('2d')!;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.font = `600 ${Math.round(13 * dpr)}px system-ui, sans-serif`;
    shown.forEach((v, i) => {
      const x = (i % cols) * cellW;
      const y = Math.floor(i / cols) * cellH;
      ctx.fillStyle = '#222';
      ctx.fillText(v.title, x + 8 * dpr, y + 16 * dpr);
      ctx.drawImage(canvases[i], x, y + titleH);
    });
    ctx.font = `${Math.round(12 * dpr)}px system-ui, sans-serif`;
    drawn.forEach((s, i) => {
      const x = (i % 2) * (out.width / 2) + 8 * dpr;
      const y = cellH * rows + lineH * (Math.floor(i / 2) + 1);
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 3 * dpr;
      ctx.setLineDash((s.dash ?? []).map((d) => d * dpr));
      ctx.beginPath();
      ctx.moveTo(x, y - 5 * dpr);
      ctx.lineTo(x + 22 * dpr, y - 5 * dpr);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = '#222';
      ctx.fillText(s.label, x + 30 * dpr, y);
    });
    ctx.fillStyle = '#555';
    ctx.fillText('whiskers: 95% Wilson intervals', 8 * dpr, out.height - lineH / 2);
    return new Promise((resolve) => out.toBlob((b) => resolve(b), 'image/png'));
  }

  private async exportPng(): Promise<void> {
    const blob = await this.toPng();
    if (blob) downloadBlob(blob, 'spark-lab-sweep.png');
  }

  protected override firstUpdated(): void {
    this.resizer = new ResizeObserver(() => {
      for (const [view, { plot }] of this.plots) plot.setSize(this.size(this.plotEl(view)));
    });
    for (const el of this.renderRoot.querySelectorAll<HTMLElement>('.plot')) this.resizer.observe(el);
    this.schedule();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.resizer?.disconnect();
    this.resizer = null;
    cancelAnimationFrame(this.frame);
    this.frame = 0;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.hasUpdated) {
      // back in the page after a move: watch the plots again
      this.firstUpdated();
    }
  }

  private describe(view: ViewSpec): string {
    const counts = countsOf(viewTable(this.pointList, view));
    const parts = Object.entries(counts).map(([s, n]) => `${strategyStyle(s as Strategy).label}: ${n} points`);
    return `${view.title}. ${parts.length ? parts.join(', ') : 'No points yet.'}`;
  }

  override render() {
    const has = this.count > 0;
    return html`
      <div class="toolbar" part="toolbar">
        <span class="note">Whiskers: 95% Wilson intervals. Hover a plot for the values.</span>
        <button @click=${this.exportPng} ?disabled=${!has} data-testid="sweep-export-png">Export PNG</button>
        <button @click=${() => downloadBlob(new Blob([this.toCsv()], { type: 'text/csv' }), 'spark-lab-sweep.csv')} ?disabled=${!has} data-testid="sweep-export-csv">Export CSV</button>
      </div>
      <div class="grid">
        ${VIEWS.map((v) => {
          const empty = has && !this.pointList.some((p) => v.strategies.includes(p.strategy) && v.x(p) !== undefined);
          return html`<figure part="plot">
            <figcaption>${v.title}</figcaption>
            <div class="plot" data-view=${v.id} role="img" aria-label=${this.describe(v)}></div>
            ${empty ? html`<div class="none">${v.id === 'budget' ? 'No budget points in this sweep (set thinking caps B).' : 'No points for this view.'}</div>` : nothing}
          </figure>`;
        })}
        ${has ? nothing : html`<div class="empty" data-testid="sweep-empty">Run a sweep to see accuracy against N, thinking budget, tokens and time.</div>`}
      </div>
    `;
  }
}

customElements.define('spark-sweep-chart', SweepChart);

declare global {
  interface HTMLElementTagNameMap {
    'spark-sweep-chart': SweepChart;
  }
}
