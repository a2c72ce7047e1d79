import { LitElement, css, html } from 'lit';
import type { MoeLayerLoad } from '../engine/protocol';

/** Columns kept before the history is halved (pairs averaged): the heatmap keeps the whole run at bounded cost. */
const MAX_COLUMNS = 512;

/** Load ratio (0 = no tokens, 1 = an even share, 2+ = twice the even share) → colour: blue, white, red. */
function ratioColor(r: number): [number, number, number] {
  if (!Number.isFinite(r)) return [200, 200, 200];
  if (r <= 1) {
    const t = Math.max(0, r);
    return [Math.round(40 + 215 * t), Math.round(90 + 165 * t), 255];
  }
  const t = Math.min(1, r - 1);
  return [255, Math.round(255 - 190 * t), Math.round(255 - 200 * t)];
}

/**
 * @summary Expert load of each MoE layer over the run, as a heatmap (rows: layer × expert, columns: time; blue =
 * starved, white = even share, red = overloaded), with the share of token-expert pairs dropped at capacity.
 * Hidden (renders nothing) for a dense run.
 * @csspart canvas - the heatmap.
 */
export class MoeView extends LitElement {
  static override properties = {
    experts: { type: Number },
    dropped: { state: true },
  };

  /** Experts per MoE layer (E); 0 for a dense run, which hides the view. */
  declare experts: number;
  /** Latest dropped share per layer. */
  declare dropped: { layer: number; rate: number }[];

  /** Per column: load ratio for each (layer, expert) row. */
  private columns: Float32Array[] = [];
  private layers: number[] = [];
  private frame = 0;

  static override styles = css`
    :host { display: block; }
    :host([hidden]) { display: none; }
    canvas { width: 100%; height: 140px; image-rendering: pixelated; border: 1px solid var(--spark-border, #ccd); border-radius: 4px; display: block; }
    .legend { display: flex; gap: 10px; align-items: center; font-size: 12px; color: var(--spark-muted, #555); margin-top: 4px; flex-wrap: wrap; }
    .scale { width: 120px; height: 10px; background: linear-gradient(90deg, rgb(40, 90, 255), #fff, rgb(255, 65, 55)); border: 1px solid #ccc; }
    ul { margin: 6px 0 0 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: 4px 14px; font: 13px ui-monospace, monospace; }
  `;

  constructor() {
    super();
    this.experts = 0;
    this.dropped = [];
  }

  /** Forgets the history (a new run). */
  reset(experts: number): void {
    this.experts = experts;
    this.columns = [];
    this.layers = [];
    this.dropped = [];
    this.schedule();
  }

  /** Adds one progress event's routing statistics as a column. */
  add(moe: readonly MoeLayerLoad[] | undefined): void {
    if (!moe?.length || this.experts === 0) return;
    const E = this.experts;
    this.layers = moe.map((m) => m.layer);
    const col = new Float32Array(moe.length * E);
    moe.forEach((m, i) => {
      const even = m.routed / E;
      for (let e = 0; e < E; e++) col[i * E + e] = even > 0 ? (m.load[e] ?? 0) / even : NaN;
    });
    this.columns.push(col);
    if (this.columns.length > MAX_COLUMNS) this.halve();
    this.dropped = moe.map((m) => ({ layer: m.layer, rate: m.routed > 0 ? m.dropped / m.routed : 0 }));
    this.schedule();
  }

  private halve(): void {
    const out: Float32Array[] = [];
    for (let i = 0; i + 1 < this.columns.length; i += 2) {
      const a = this.columns[i];
      const b = this.columns[i + 1];
      out.push(a.length === b.length ? a.map((v, k) => (v + b[k]) / 2) : b);
    }
    if (this.columns.length % 2) out.push(this.columns[this.columns.length - 1]);
    this.columns = out;
  }

  private schedule(): void {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
  }

  private draw(): void {
    this.frame = 0;
    const canvas = this.renderRoot.querySelector('canvas');
    if (!canvas) return;
    const rows = this.layers.length * this.experts;
    const cols = this.columns.length;
    canvas.width = Math.max(1, cols);
    canvas.height = Math.max(1, rows);
    const ctx = canvas.getContext('2d');
    if (!ctx || rows === 0 || cols === 0) return;
    const img = ctx.createImageData(cols, rows);
    for (let c = 0; c < cols; c++) {
      const col = this.columns[c];
      for (let r = 0; r < rows; r++) {
        const [R, G, B] = ratioColor(col[r] ?? NaN);
        const o = 4 * (r * cols + c);
        img.data[o] = R;
        img.data[o + 1] = G;
        img.data[o + 2] = B;
        img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    cancelAnimationFrame(this.frame);
    this.frame = 0;
  }

  protected override updated(): void {
    this.hidden = this.experts === 0;
    this.schedule();
  }

  override render() {
    const total = this.dropped.reduce((s, d) => s + d.rate, 0) / Math.max(1, this.dropped.length);
    return html`
      <canvas part="canvas" role="img" data-testid="moe-heatmap"
        aria-label="Expert load over time: ${this.layers.length} MoE layers, ${this.experts} experts each, one row per expert"></canvas>
      <div class="legend"><span>rows: ${this.layers.map((l) => `layer ${l}`).join(', ') || 'MoE layers'} × ${this.experts} experts; time →</span>
        <span>no tokens</span><span class="scale"></span><span>2× even share</span></div>
      <ul data-testid="moe-dropped" aria-label="Dropped token-expert pairs">
        ${this.dropped.map((d) => html`<li>layer ${d.layer}: ${(100 * d.rate).toFixed(1)}% dropped</li>`)}
        ${this.dropped.length ? html`<li>mean: ${(100 * total).toFixed(1)}%</li>` : html`<li>waiting for routing statistics…</li>`}
      </ul>
    `;
  }
}

customElements.define('spark-moe-view', MoeView);

declare global {
  interface HTMLElementTagNameMap {
    'spark-moe-view': MoeView;
  }
}
