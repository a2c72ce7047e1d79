import { LitElement, css, html, nothing } from 'lit';
import type { SweepConfig, SweepEvent } from '../eval/sweep';
import { sweepTotal } from '../eval/sweep';
import { duration } from './format';
import type { SampleInspector } from './sample-inspector';
import type { SweepChart } from './sweep-chart';
import type { SweepPanel, SweepProgress, SweepRequestDetail } from './sweep-panel';
import './sample-inspector';
import './sweep-chart';
import './sweep-panel';

/** What the view needs of the engine: EngineClient has this method; tests pass a scripted fake. */
export interface SweepClient {
  sweep(config: Partial<SweepConfig>, onEvent: (e: SweepEvent) => void): Promise<{ config: SweepConfig; ms: number }>;
}

/** A failed sweep as shown: the error's class name, message and, for a ConfigError, the field to change. */
export interface SweepFailure {
  name: string;
  message: string;
  field?: string;
}

export interface SweepDoneDetail {
  config: SweepConfig;
  ms: number;
  points: number;
  samples: number;
}

function failureOf(e: unknown): SweepFailure {
  const x = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
  return {
    name: typeof x.name === 'string' && x.name ? x.name : 'Error',
    message: typeof x.message === 'string' ? x.message : String(e),
    ...(typeof x.field === 'string' ? { field: x.field } : {}),
  };
}

/**
 * @summary Test-time scaling: the sweep settings, live charts of accuracy against N, budget, tokens and time, and
 * every sample. Runs a sweep through `client` when the panel asks, feeds its events to the chart and the
 * inspector, and shows a failure by name, message and field (a ConfigError's field is also marked in the form).
 * @event spark-sweep-done - detail { config, ms, points, samples }: a sweep finished.
 * @event spark-sweep-request - bubbles up from the panel; this view already runs it (listen only to observe).
 * @csspart settings - the settings section.
 * @csspart charts - the charts section.
 * @csspart samples - the samples section.
 */
export class SweepView extends LitElement {
  static override properties = {
    client: { attribute: false },
    hasRun: { type: Boolean, attribute: 'has-run' },
    running: { state: true },
    progress: { state: true },
    failure: { state: true },
    summary: { state: true },
  };

  /** Runs sweeps: the page's EngineClient (or anything with its `sweep` method); null until the engine starts. */
  declare client: SweepClient | null;
  /** True when the engine holds a run that can be swept now (not training, not busy). */
  declare hasRun: boolean;
  /** True while a sweep runs. */
  declare running: boolean;
  /** The latest progress of the running (or last) sweep. */
  declare progress: SweepProgress | null;
  /** Why the last sweep failed, or null. */
  declare failure: SweepFailure | null;
  /** One line about the last finished sweep. */
  declare summary: string;

  static override styles = css`
    :host { display: block; }
    section { margin-bottom: 14px; }
    h3 { font-size: 14px; margin: 0 0 6px 0; }
    .failure { border: 2px solid #b00020; background: #fff3f4; color: #5c0010; border-radius: 6px; padding: 6px 10px; margin: 8px 0; font-size: 14px; }
    .failure strong { color: #b00020; }
    .failure code { font-family: ui-monospace, monospace; background: #fde2e5; padding: 0 3px; border-radius: 3px; }
    .failure button { font: inherit; font-size: 12px; margin-left: 8px; }
    .summary { font-size: 13px; color: var(--spark-muted, #555); margin: 6px 0 0 0; }
  `;

  constructor() {
    super();
    this.client = null;
    this.hasRun = false;
    this.running = false;
    this.progress = null;
    this.failure = null;
    this.summary = '';
  }

  get panel(): SweepPanel {
    return this.renderRoot.querySelector('spark-sweep-panel')!;
  }
  get chart(): SweepChart {
    return this.renderRoot.querySelector('spark-sweep-chart')!;
  }
  get inspector(): SampleInspector {
    return this.renderRoot.querySelector('spark-sample-inspector')!;
  }

  /** Runs one sweep with a validated config; the panel's request does this. Resolves when it ends (or fails). */
  async run(config: SweepConfig): Promise<void> {
    const client = this.client;
    if (!client || this.running) return;
    this.running = true;
    this.failure = null;
    this.summary = '';
    this.progress = { done: 0, total: sweepTotal(config), label: 'starting' };
    // The last sweep's results stay until this one sends its first event: a rejected config keeps them on screen.
    let fresh = true;
    try {
      const r = await client.sweep(config, (e) => {
        if (fresh) {
          fresh = false;
          this.chart.reset();
          this.inspector.reset();
        }
        this.onEvent(e);
      });
      const points = this.chart.points.length;
      const samples = this.inspector.samples.length;
      this.summary = `Sweep done in ${duration(r.ms)}: ${points} points, ${samples} samples (task ${r.config.task}, difficulty ${r.config.difficulty}, ${r.config.problems} problems).`;
      this.dispatchEvent(new CustomEvent<SweepDoneDetail>('spark-sweep-done', { detail: { config: r.config, ms: r.ms, points, samples }, bubbles: true, composed: true }));
    } catch (e) {
      const f = failureOf(e);
      this.failure = f;
      if (fresh) this.progress = null; // it never started: no bar stuck at 0
      if (f.field) this.panel.showFieldError(f.field, f.message);
    } finally {
      this.running = false;
    }
  }

  private onEvent(e: SweepEvent): void {
    switch (e.kind) {
      case 'point':
        this.chart.add(e);
        break;
      case 'samples':
        this.inspector.add(e);
        break;
      case 'progress':
        this.progress = { done: e.done, total: e.total, label: e.label };
        break;
      default:
        break; // pass@k curves: the oracle's points already show pass@N
    }
  }

  override render() {
    const f = this.failure;
    return html`
      <section part="settings" aria-labelledby="h-sweep-settings">
        <h3 id="h-sweep-settings">Sweep settings</h3>
        <spark-sweep-panel ?running=${this.running} ?has-run=${this.hasRun && !!this.client} .progress=${this.progress}
          @spark-sweep-request=${(e: CustomEvent<SweepRequestDetail>) => void this.run(e.detail.config)}></spark-sweep-panel>
        ${f ? html`<div class="failure" role="alert" data-testid="sweep-error">
          <strong>The sweep failed: ${f.name}</strong> — ${f.message}${f.field ? html` (setting: <code data-testid="sweep-error-field">${f.field}</code>)` : nothing}
          <button @click=${() => (this.failure = null)} aria-label="Dismiss the sweep error">Dismiss</button></div>` : nothing}
        ${this.summary ? html`<p class="summary" role="status" data-testid="sweep-summary">${this.summary}</p>` : nothing}
      </section>
      <section part="charts" aria-labelledby="h-sweep-charts">
        <h3 id="h-sweep-charts">Accuracy against test-time compute</h3>
        <spark-sweep-chart></spark-sweep-chart>
      </section>
      <section part="samples" aria-labelledby="h-sweep-samples">
        <h3 id="h-sweep-samples">Samples</h3>
        <spark-sample-inspector></spark-sample-inspector>
      </section>
    `;
  }
}

customElements.define('spark-sweep-view', SweepView);

declare global {
  interface HTMLElementTagNameMap {
    'spark-sweep-view': SweepView;
  }
  interface HTMLElementEventMap {
    'spark-sweep-done': CustomEvent<SweepDoneDetail>;
  }
}
