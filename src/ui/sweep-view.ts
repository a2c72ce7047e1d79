import { LitElement, css, html, nothing } from 'lit';
import type { SweepConfig, SweepEvent } from '../eval/sweep';
import { sweepTotal } from '../eval/sweep';
import { errorText, type ErrorText } from './error-text';
import { duration } from './format';
import type { SampleInspector } from './sample-inspector';
import type { SweepChart } from './sweep-chart';
import type { SweepPanel, SweepProgress } from './sweep-panel';
import './sample-inspector';
import './sweep-chart';
import './sweep-panel';

/** A failed sweep as shown: the error's class name, message and, for a ConfigError, the field to change. */
export type SweepFailure = ErrorText;

export interface SweepDoneDetail {
  config: SweepConfig;
  ms: number;
  points: number;
  samples: number;
}

/**
 * @summary Test-time scaling: the sweep settings, live charts of accuracy against N, budget, tokens and time, and
 * every sample. A view: the panel's request bubbles up to the app, which runs the sweep through the engine and
 * feeds it back here (begin, add each event, then finish or fail). A failure shows by name, message and field
 * (a ConfigError's field is also marked in the form).
 * @event spark-sweep-request - from the panel: detail { config }, a validated sweep the user asked for.
 * @event spark-sweep-done - detail { config, ms, points, samples }: a sweep finished.
 * @csspart settings - the settings section.
 * @csspart charts - the charts section.
 * @csspart samples - the samples section.
 */
export class SweepView extends LitElement {
  static override properties = {
    hasRun: { type: Boolean, attribute: 'has-run' },
    running: { state: true },
    progress: { state: true },
    failure: { state: true },
    summary: { state: true },
  };

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

  /** True until the running sweep's first event: the last sweep's results stay on screen until then. */
  private fresh = false;

  /** A sweep with this config has started: the button turns off and the progress bar shows. */
  begin(config: SweepConfig): void {
    this.running = true;
    this.failure = null;
    this.summary = '';
    this.fresh = true;
    this.progress = { done: 0, total: sweepTotal(config), label: 'starting' };
  }

  /** One event of the running sweep (a point, samples, progress). */
  add(e: SweepEvent): void {
    if (this.fresh) {
      this.fresh = false;
      this.chart.reset();
      this.inspector.reset();
    }
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

  /** The sweep ended: a summary line, and 'spark-sweep-done'. */
  finish(r: { config: SweepConfig; ms: number }): void {
    this.running = false;
    const points = this.chart.points.length;
    const samples = this.inspector.samples.length;
    this.summary = `Sweep done in ${duration(r.ms)}: ${points} points, ${samples} samples (task ${r.config.task}, difficulty ${r.config.difficulty}, ${r.config.problems} problems).`;
    this.dispatchEvent(new CustomEvent<SweepDoneDetail>('spark-sweep-done', { detail: { config: r.config, ms: r.ms, points, samples }, bubbles: true, composed: true }));
  }

  /** The sweep failed (or was refused): shown by name, message and field; a field of the form is marked there. */
  fail(e: unknown): void {
    this.running = false;
    const f = errorText(e);
    this.failure = f;
    if (this.fresh) this.progress = null; // it never started: no bar stuck at 0
    this.fresh = false;
    if (f.field) this.panel.showFieldError(f.field, f.message);
  }

  override render() {
    const f = this.failure;
    return html`
      <section part="settings" aria-labelledby="h-sweep-settings">
        <h3 id="h-sweep-settings">Sweep settings</h3>
        <spark-sweep-panel ?running=${this.running} ?has-run=${this.hasRun} .progress=${this.progress}></spark-sweep-panel>
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
