import { LitElement, css, html } from 'lit';
import type { RunInfo } from '../engine/protocol';
import type { Progress } from '../train/trainer';
import { duration, si } from './format';

/** The progress figures this panel shows (a 'progress' event has them all). */
export type ThroughputProgress = Pick<Progress, 'step' | 'tokens' | 'elapsedMs' | 'tokensPerSecond' | 'gflops' | 'flops' | 'firstStepMs'>;

/**
 * @summary Speed and size of the current run: tokens/s, GFLOP/s, parameters (total and active), FLOPs so far,
 * first-step time, and a progress bar with the time remaining.
 * @csspart bar - the progress bar.
 */
export class ThroughputPanel extends LitElement {
  static override properties = {
    run: { attribute: false },
    progress: { attribute: false },
    training: { type: Boolean },
    step: { type: Number },
  };

  /** The run being trained, from the engine's 'run' event. */
  declare run: RunInfo | null;
  /** The latest 'progress' event of that run. */
  declare progress: ThroughputProgress | null;
  /** Whether training is running (the time remaining is shown only then). */
  declare training: boolean;
  /** Steps done (may run ahead of `progress`: evaluations and autosaves report steps too). */
  declare step: number;

  static override styles = css`
    :host { display: block; }
    dl { display: grid; grid-template-columns: repeat(auto-fit, minmax(8.5rem, 1fr)); gap: 6px 12px; margin: 0 0 8px 0; }
    div.stat { border-left: 3px solid #3867d6; padding-left: 8px; }
    dt { font-size: 12px; color: var(--spark-muted, #555); }
    dd { margin: 0; font: 600 16px ui-monospace, monospace; }
    progress { width: 100%; height: 14px; }
    .bar { font-size: 13px; display: flex; justify-content: space-between; gap: 8px; flex-wrap: wrap; }
  `;

  constructor() {
    super();
    this.run = null;
    this.progress = null;
    this.training = false;
    this.step = 0;
  }

  override render() {
    const r = this.run;
    const p = this.progress;
    const steps = r?.config.train.steps ?? 0;
    const step = Math.max(this.step, p?.step ?? r?.step ?? 0);
    const remainingMs = r && p && p.tokensPerSecond > 0 ? ((steps - step) * r.tokensPerStep * 1000) / p.tokensPerSecond : NaN;
    const stat = (label: string, value: string, id: string) => html`<div class="stat"><dt>${label}</dt><dd data-testid=${id}>${value}</dd></div>`;
    return html`
      <dl>
        ${stat('tokens / s', p ? si(p.tokensPerSecond) : '–', 'tokens-per-second')}
        ${stat('GFLOP/s', p ? p.gflops.toPrecision(3) : '–', 'gflops')}
        ${stat('parameters', r ? si(r.params) : '–', 'params')}
        ${stat('active / token', r ? si(r.activeParams) : '–', 'active-params')}
        ${stat('FLOPs so far', p ? si(p.flops) : '–', 'flops')}
        ${stat('tokens so far', p ? si(p.tokens) : '–', 'tokens')}
        ${stat('first step', p?.firstStepMs != null ? duration(p.firstStepMs) : '–', 'first-step')}
        ${stat('training time', p ? duration(p.elapsedMs) : '–', 'elapsed')}
      </dl>
      <progress part="bar" max=${Math.max(1, steps)} .value=${Math.min(step, steps)} aria-label="Training progress"></progress>
      <div class="bar">
        <span data-testid="progress-text">step ${step} of ${steps || '–'}${steps ? ` (${Math.floor((100 * Math.min(step, steps)) / steps)}%)` : ''}</span>
        <span data-testid="time-remaining">${this.training && step < steps && Number.isFinite(remainingMs) ? `about ${duration(remainingMs)} left` : step >= steps && steps > 0 ? 'done' : ''}</span>
      </div>
    `;
  }
}

customElements.define('spark-throughput-panel', ThroughputPanel);

declare global {
  interface HTMLElementTagNameMap {
    'spark-throughput-panel': ThroughputPanel;
  }
}
