import { LitElement, css, html, nothing, unsafeCSS } from 'lit';
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css?inline';
import type { StudyFits, StudyState } from '../scaling/study';
import { si } from './format';
import { lossTicks, recipeStyle, SCALING_AXES, scalingTable, timeTickText, timeTicks, type ScalingAxis, type ScalingTable } from './scaling-data';
import { logSplits } from './sweep-chart';

const formatX = (axis: ScalingAxis, v: number): string => (axis === 'seconds' ? timeTickText(v) : si(v).replace(/\.0+(?=[a-zA-Z]*$)/, ''));
/** Run curves are drawn this much lighter than their recipe's thick lines; the learning-rate search's dashed. */
const RUN_ALPHA = 0.35;
const SEARCH_ALPHA = 0.3;
const SEARCH_DASH = [4, 3];

/**
 * @summary Validation loss against compute on log-log axes, live as the study's snapshots arrive: every run a thin,
 * light curve in its recipe's colour; each recipe's envelope (solid, with points) and its fitted L(C) = E + A·C^−α
 * (dashed) thick. The x-axis shows training FLOPs, all-in FLOPs or wall-clock seconds (envelopes follow the axis;
 * the fit is on training FLOPs only). Run curves are drawn straight onto the canvas, so hundreds cost one pass;
 * the plot redraws at most once per animation frame. PNG export with a legend.
 * @csspart toolbar - the axis switch.
 * @cssproperty --spark-scaling-chart-height - plot height (default: 55% of the width, 240–440 px).
 */
export class ScalingChart extends LitElement {
  static override properties = {
    axis: { state: true },
    drawn: { state: true },
  };

  declare axis: ScalingAxis;
  /** The recipes on the chart with their grid and search run counts (the legend; what tests read). */
  declare drawn: { recipe: string; runs: number; search: number; fit: boolean }[];

  private study: StudyState | null = null;
  private fits: StudyFits | null = null;
  private table: ScalingTable | null = null;
  /** The plot and the series it has (recipe:kind list). */
  private plot: { plot: uPlot; key: string } | null = null;
  private frame = 0;
  private resizer: ResizeObserver | null = null;

  static override styles = [
    unsafeCSS(uplotCss),
    css`
      :host { display: block; }
      .toolbar { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; font-size: 13px; margin-bottom: 6px; }
      .toolbar label { display: inline-flex; gap: 4px; align-items: center; }
      select { font: inherit; }
      .wrap { position: relative; min-height: 240px; }
      .empty { position: absolute; inset: 0; display: grid; place-items: center; text-align: center; padding: 1em; color: var(--spark-muted, #666); border: 1px dashed var(--spark-border, #ccd); border-radius: 6px; background: rgba(255, 255, 255, 0.92); z-index: 2; }
      .legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12.5px; margin: 6px 0 0 0; padding: 0; list-style: none; }
      .legend li { display: inline-flex; align-items: center; gap: 6px; }
      .swatch { display: inline-block; width: 22px; height: 0; border-top: 3px solid; }
      .key { color: var(--spark-muted, #555); }
      .uplot { font-family: system-ui, sans-serif; }
      select:focus-visible { outline: 3px solid #f39c12; outline-offset: 1px; }
    `,
  ];

  constructor() {
    super();
    this.axis = 'flops';
    this.drawn = [];
  }

  /** A new snapshot of the study (or none): redrawn on the next frame. */
  show(study: StudyState | null, fits: StudyFits | null): void {
    this.study = study;
    this.fits = fits;
    this.schedule();
  }

  /** What is drawn now (tests read it). */
  get current(): ScalingTable | null {
    return this.table;
  }

  setAxis(axis: ScalingAxis): void {
    this.axis = axis;
    this.plot?.plot.destroy(); // the axis label and formatting change
    this.plot = null;
    this.schedule();
  }

  private schedule(): void {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.redraw());
  }

  private get plotEl(): HTMLElement | null {
    return this.renderRoot.querySelector<HTMLElement>('.plot');
  }

  private redraw(): void {
    this.frame = 0;
    const t = scalingTable(this.study, this.fits, this.axis);
    this.table = t;
    this.drawn = t.recipes.map((recipe) => ({
      recipe,
      runs: t.runs.filter((r) => r.recipe === recipe && r.kind === 'grid').length,
      search: t.runs.filter((r) => r.recipe === recipe && r.kind === 'lr-search').length,
      fit: t.series.some((s) => s.recipe === recipe && s.kind === 'fit'),
    }));
    const el = this.plotEl;
    if (!el || !t.bounds) {
      this.plot?.plot.destroy();
      this.plot = null;
      return;
    }
    // A dummy x keeps uPlot's scales alive when only run curves exist yet (no finished grid run).
    const x = t.x.length ? t.x : [t.bounds.xMin, t.bounds.xMax];
    const data = [x, ...t.series.map((s) => s.y)] as unknown as uPlot.AlignedData;
    const key = t.series.map((s) => `${s.recipe}:${s.kind}`).join(',');
    if (this.plot) {
      const u = this.plot.plot;
      if (this.plot.key !== key) {
        // A recipe's envelope or fit joined: swap the series in place (a new plot would redo its whole layout).
        for (let i = u.series.length - 1; i >= 1; i--) u.delSeries(i);
        this.seriesOptions(t).forEach((s, i) => u.addSeries(s, i + 1));
        this.plot.key = key;
      }
      u.setData(data);
      return;
    }
    this.plot = { plot: new uPlot(this.options(t), data, el), key };
  }

  private size(): { width: number; height: number } {
    const width = Math.max(260, this.plotEl?.clientWidth || 600);
    const custom = parseFloat(getComputedStyle(this).getPropertyValue('--spark-scaling-chart-height'));
    return { width, height: custom > 0 ? custom : Math.round(Math.min(440, Math.max(240, width * 0.55))) };
  }

  private options(t0: ScalingTable): uPlot.Options {
    const axis = this.axis;
    const bounds = () => this.table?.bounds ?? { xMin: 1, xMax: 10, yMin: 1, yMax: 10 };
    const axisStyle = { stroke: '#444', grid: { stroke: '#e6e6ee', width: 1 }, ticks: { stroke: '#ccc', width: 1 } };
    const label = SCALING_AXES.find((a) => a.id === axis)!.axis;
    return {
      ...this.size(),
      scales: {
        x: { time: false, distr: 3, log: 10, range: () => { const b = bounds(); return [b.xMin / 1.4, b.xMax * 1.4]; } },
        y: { distr: 3, log: 10, range: () => { const b = bounds(); return [b.yMin / 1.04, b.yMax * 1.04]; } },
      },
      axes: [
        {
          ...axisStyle, label, values: (_u, splits) => splits.map((v) => (v == null ? '' : formatX(axis, v))),
          splits: (u: uPlot, _i: number, min: number, max: number) => {
            const most = Math.max(3, Math.floor(u.bbox.width / devicePixelRatio / 80));
            return axis === 'seconds' ? timeTicks(min, max, most) : logSplits(10, min, max, most);
          },
          filter: (_u: uPlot, splits: number[]) => splits,
        },
        {
          ...axisStyle, label: 'validation loss (nats/token, log)', size: 52,
          splits: (u: uPlot, _i: number, min: number, max: number) => lossTicks(min, max, Math.max(3, Math.floor(u.bbox.height / devicePixelRatio / 40))),
          filter: (_u: uPlot, splits: number[]) => splits,
          values: (_u, splits) => splits.map((v) => (v == null ? '' : String(+v.toPrecision(3)))),
        },
      ],
      series: [{ label: 'x' }, ...this.seriesOptions(t0)],
      legend: { show: false },
      cursor: { show: false }, // no read-out: the legend below and the tables carry the numbers
      hooks: { drawAxes: [(u) => this.drawRuns(u)] },
    };
  }

  private seriesOptions(t: ScalingTable): uPlot.Series[] {
    return t.series.map((s): uPlot.Series => {
      const st = recipeStyle(s.recipe);
      return s.kind === 'envelope'
        ? { label: `${st.label} envelope`, stroke: st.color, width: 3, spanGaps: true, points: { show: true, size: 6, fill: st.color } }
        : { label: `${st.label} fit`, stroke: st.color, width: 2.5, dash: [9, 5], spanGaps: true, points: { show: false } };
    });
  }

  /** Every run as a thin light polyline under the thick lines, clipped to the plot. */
  private drawRuns(u: uPlot): void {
    const t = this.table;
    if (!t) return;
    const ctx = u.ctx;
    const dpr = devicePixelRatio || 1;
    ctx.save();
    ctx.beginPath();
    ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
    ctx.clip();
    ctx.lineWidth = 1.2 * dpr;
    ctx.lineJoin = 'round';
    for (const r of t.runs) {
      if (!r.x.length) continue;
      ctx.strokeStyle = recipeStyle(r.recipe).color;
      ctx.globalAlpha = r.kind === 'lr-search' ? SEARCH_ALPHA : RUN_ALPHA;
      ctx.setLineDash(r.kind === 'lr-search' ? SEARCH_DASH.map((d) => d * dpr) : []);
      ctx.beginPath();
      r.x.forEach((x, i) => {
        const px = u.valToPos(x, 'x', true);
        const py = u.valToPos(r.y[i], 'y', true);
        if (i === 0) ctx.moveTo(px, py);
        else ctx.lineTo(px, py);
      });
      if (r.x.length === 1) ctx.arc(u.valToPos(r.x[0], 'x', true), u.valToPos(r.y[0], 'y', true), 1.5 * dpr, 0, 2 * Math.PI);
      ctx.stroke();
    }
    ctx.restore();
  }

  /** The plot with a legend of every recipe under it; null while nothing is drawn. */
  toPng(): Promise<Blob | null> {
    if (!this.plot) return Promise.resolve(null);
    const src = this.plot.plot.ctx.canvas;
    const dpr = src.width / Math.max(1, this.plot.plot.width);
    const lineH = Math.round(18 * dpr);
    const cols = 3;
    const rows = Math.ceil(this.drawn.length / cols);
    const out = document.createElement('canvas');
    out.width = src.width;
    out.height = src.height + lineH * (rows + 2);
    const ctx = out.getContext('2d')!;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.drawImage(src, 0, 0);
    ctx.font = `${Math.round(12 * dpr)}px system-ui, sans-serif`;
    this.drawn.forEach((d, i) => {
      const x = (i % cols) * (out.width / cols) + 8 * dpr;
      const y = src.height + lineH * (Math.floor(i / cols) + 1);
      ctx.strokeStyle = recipeStyle(d.recipe).color;
      ctx.lineWidth = 3 * dpr;
      ctx.beginPath();
      ctx.moveTo(x, y - 5 * dpr);
      ctx.lineTo(x + 22 * dpr, y - 5 * dpr);
      ctx.stroke();
      ctx.fillStyle = '#222';
      ctx.fillText(`${recipeStyle(d.recipe).label} (${d.runs} runs${d.search ? ` + ${d.search} search` : ''})`, x + 30 * dpr, y);
    });
    ctx.fillStyle = '#555';
    ctx.fillText('thin: every run (dashed: learning-rate search) · thick: envelope, and dashed the fit L(C) = E + A·C^(−α)', 8 * dpr, out.height - lineH / 2);
    return new Promise((resolve) => out.toBlob((b) => resolve(b), 'image/png'));
  }

  protected override firstUpdated(): void {
    this.resizer = new ResizeObserver(() => this.plot?.plot.setSize(this.size()));
    const el = this.plotEl;
    if (el) this.resizer.observe(el);
    this.schedule();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.hasUpdated) this.firstUpdated(); // back in the page after a move
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.resizer?.disconnect();
    this.resizer = null;
    cancelAnimationFrame(this.frame);
    this.frame = 0;
  }

  private describe(): string {
    if (!this.drawn.length) return 'Loss against compute: no runs yet.';
    return `Validation loss against ${SCALING_AXES.find((a) => a.id === this.axis)!.label}, log-log. ${this.drawn.map((d) => `${recipeStyle(d.recipe).label}: ${d.runs} runs, ${d.search} search runs${d.fit ? ', fitted' : ''}`).join('; ')}.`;
  }

  override render() {
    const has = (this.table?.runs.length ?? 0) > 0;
    const count = (d: { runs: number; search: number }) => `${d.runs} runs${d.search ? ` + ${d.search} search` : ''}`;
    return html`
      <div class="toolbar" part="toolbar">
        <label>x-axis
          <select data-testid="scaling-axis" @change=${(e: Event) => this.setAxis((e.target as HTMLSelectElement).value as ScalingAxis)}>
            ${SCALING_AXES.map((a) => html`<option value=${a.id} ?selected=${a.id === this.axis}>${a.label}</option>`)}
          </select></label>
        <span class="key">thin: every run (dashed: learning-rate search) · thick: envelope, and dashed the fit${this.axis === 'flops' ? '' : ' (on training FLOPs only)'}</span>
      </div>
      <div class="wrap">
        <div class="plot" role="img" aria-label=${this.describe()}></div>
        ${has ? nothing : html`<div class="empty" data-testid="scaling-empty">Run a study to see validation loss against compute for each recipe.</div>`}
      </div>
      <ul class="legend" data-testid="scaling-legend" aria-label="Recipes on the chart">
        ${this.drawn.map((d) => {
          const st = recipeStyle(d.recipe);
          return html`<li><span class="swatch" style="border-color:${st.color}"></span>${st.label} <span class="key">${count(d)}${d.fit ? ' · fitted' : ''}</span></li>`;
        })}
      </ul>
    `;
  }
}

customElements.define('spark-scaling-chart', ScalingChart);

declare global {
  interface HTMLElementTagNameMap {
    'spark-scaling-chart': ScalingChart;
  }
}
