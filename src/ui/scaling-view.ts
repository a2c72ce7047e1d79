import { LitElement, css, html, nothing } from 'lit';
import type { EngineCommand, EngineEvent, EngineState } from '../engine/protocol';
import type { StudyFits, StudyPlanSummary, StudySpec, StudyState } from '../scaling/study';
import { downloadBlob } from './download';
import { errorText, type ErrorText } from './error-text';
import type { ScalingChart } from './scaling-chart';
import { studyToCsv, studyToJson } from './scaling-data';
import type { ScalingPanel, ScalingProgressLine } from './scaling-panel';
import { formOf, isResumable, lrEdgeText, progressText, studyCounts, type ProgressInfo } from './scaling-rows';
import './scaling-chart';
import './scaling-panel';
import './scaling-table';

type ScalingRequest = 'plan' | 'start' | 'resume' | 'load' | 'clear';
const ACTION_TEXT: Record<ScalingRequest, string> = {
  plan: 'Could not estimate the study', start: 'Could not start the study', resume: 'Could not resume the study',
  load: 'Could not load the stored study', clear: 'Could not delete the stored study',
};
/** The estimate is asked for this long after the form last changed (typing seeds sends one request, not five). */
const PLAN_DELAY_MS = 250;

/**
 * @summary The Scaling section: the study's settings and controls, the loss-against-compute chart, the multiplier
 * and fit tables, exports, and what a toy-scale multiplier means. It speaks the engine's 'scaling-*' messages but
 * holds no client: commands go up as 'spark-scaling-command' (the app sends them), and the app hands every engine
 * event to `receive`. Its requests carry negative ids, so they never meet EngineClient's own (which count up).
 * @event spark-scaling-command - detail: an EngineCommand ('scaling-*') for the app to send.
 */
export class ScalingView extends LitElement {
  static override properties = {
    engineState: { attribute: 'engine-state' },
    study: { state: true },
    fits: { state: true },
    plan: { state: true },
    planNote: { state: true },
    progress: { state: true },
    active: { state: true },
    cancelling: { state: true },
    failure: { state: true },
  };

  declare engineState: EngineState;
  declare study: StudyState | null;
  declare fits: StudyFits | null;
  declare plan: StudyPlanSummary | null;
  declare planNote: string;
  declare progress: ProgressInfo | null;
  /** True while this page's study runs (started or resumed here, not yet ended). */
  declare active: boolean;
  declare cancelling: boolean;
  declare failure: (ErrorText & { action: string }) | null;

  /** How long an estimate may take before the panel says the engine gave none. */
  planTimeoutMs = 15_000;
  private nextId = -1;
  private readonly asked = new Map<number, ScalingRequest>();
  private planId = 0;
  private planTimer = 0;
  private planDeadline = 0;
  private formSpec: StudySpec | null = null;
  /** The engine said 'ready': requests sent before would wait behind its start, so the estimate waits too. */
  private ready = false;

  static override styles = css`
    :host { display: block; }
    .cols { display: grid; grid-template-columns: minmax(18rem, 30rem) minmax(0, 1fr); gap: 14px; align-items: start; }
    @media (max-width: 960px) { .cols { grid-template-columns: minmax(0, 1fr); } }
    h3 { font-size: 14px; margin: 0 0 6px 0; }
    .exports { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; font-size: 13px; margin: 8px 0; }
    .exports button { font: inherit; padding: 2px 10px; }
    .failure { border: 2px solid #b00020; background: #fff3f4; color: #5c0010; border-radius: 6px; padding: 6px 10px; margin: 8px 0; font-size: 14px; }
    .failure strong { color: #b00020; }
    .failure button { font: inherit; font-size: 12px; margin-left: 8px; }
    .status { font-size: 13px; color: var(--spark-muted, #555); margin: 4px 0; }
    .meaning { font-size: 13px; color: #333; background: #f8f8fb; border-left: 3px solid #8854d0; padding: 6px 10px; margin: 10px 0 0 0; }
    .meaning p { margin: 0 0 4px 0; }
    button:focus-visible { outline: 3px solid #f39c12; outline-offset: 1px; }
  `;

  constructor() {
    super();
    this.engineState = 'starting';
    this.study = null;
    this.fits = null;
    this.plan = null;
    this.planNote = '';
    this.progress = null;
    this.active = false;
    this.cancelling = false;
    this.failure = null;
  }

  get panel(): ScalingPanel {
    return this.renderRoot.querySelector('spark-scaling-panel')!;
  }
  get chart(): ScalingChart {
    return this.renderRoot.querySelector('spark-scaling-chart')!;
  }

  private command(c: EngineCommand): void {
    this.dispatchEvent(new CustomEvent<EngineCommand>('spark-scaling-command', { detail: c, bubbles: true, composed: true }));
  }

  private request(kind: ScalingRequest, spec?: StudySpec): number {
    const requestId = this.nextId--;
    this.asked.set(requestId, kind);
    if (kind === 'plan') this.command({ type: 'scaling-plan', requestId, spec });
    else if (kind === 'start') this.command({ type: 'scaling-start', requestId, spec });
    else this.command({ type: `scaling-${kind}`, requestId });
    return requestId;
  }

  /** Every engine event of the page's worker: the view takes the scaling ones, its own answers and the engine's life. */
  receive(e: EngineEvent): void {
    switch (e.type) {
      case 'ready':
        this.ready = true;
        this.request('load');
        this.askPlan(0);
        break;
      case 'state':
        this.engineState = e.state;
        break;
      case 'scaling-plan':
        if (this.settle(e.requestId) && e.requestId === this.planId) {
          this.plan = e.plan;
          this.planNote = '';
          clearTimeout(this.planDeadline);
        }
        break;
      case 'scaling-study':
        this.onStudy(e.study, e.fits, e.requestId === undefined ? undefined : this.settle(e.requestId));
        break;
      case 'scaling-progress':
        this.progress = { runId: e.runId, step: e.step, steps: e.steps, done: e.done, etaSeconds: e.etaSeconds };
        this.active = true;
        break;
      case 'error': {
        const kind = e.requestId === undefined ? undefined : this.settle(e.requestId);
        if (!kind) break;
        if (kind === 'plan') {
          if (e.requestId !== this.planId) break;
          clearTimeout(this.planDeadline);
          this.plan = null;
          this.planNote = `No estimate: ${e.error.message}`;
          if (e.error.field) this.panel?.showFieldError(e.error.field, e.error.message);
          break;
        }
        if (kind === 'start' || kind === 'resume') this.active = false;
        if (kind === 'start' && e.error.field) this.panel?.showFieldError(e.error.field, e.error.message);
        this.failure = { action: ACTION_TEXT[kind], ...errorText(e.error) };
        break;
      }
      case 'engine-stopped':
        this.asked.clear();
        this.ready = false;
        this.active = this.cancelling = false;
        this.progress = null;
        this.engineState = 'stopped';
        break;
      default:
        break;
    }
  }

  /** Forgets an answered request; what it was, or undefined when it is not this view's. */
  private settle(requestId: number | undefined): ScalingRequest | undefined {
    if (requestId === undefined) return undefined;
    const kind = this.asked.get(requestId);
    this.asked.delete(requestId);
    return kind;
  }

  private onStudy(study: StudyState | null, fits: StudyFits | null, answer: ScalingRequest | undefined): void {
    this.study = study;
    this.fits = fits;
    this.chart?.show(study, fits);
    // A stored 'running' study that a load returns was interrupted by a reload: it runs only once resumed. The
    // form shows what it ran, so a resume or a new estimate starts from its settings.
    if (answer === 'load') {
      if (study) this.panel?.setForm(formOf(study.spec));
      return;
    }
    if (answer === 'start' || answer === 'resume') this.active = study?.status === 'running';
    else if (study?.status !== 'running') this.active = false;
    else if (answer === undefined) this.active = true;
    if (!this.active) {
      this.cancelling = false;
      this.progress = null;
    }
  }

  private askPlan(delayMs = PLAN_DELAY_MS): void {
    clearTimeout(this.planTimer);
    this.planTimer = window.setTimeout(() => {
      const spec = this.formSpec ?? this.panel?.spec ?? null;
      if (!spec) {
        this.plan = null;
        this.planNote = 'Fix the highlighted settings for an estimate.';
        return;
      }
      if (!this.ready) return; // asked again on 'ready'
      this.planId = this.request('plan', spec);
      this.planNote = 'Estimating…';
      clearTimeout(this.planDeadline);
      this.planDeadline = window.setTimeout(() => {
        if (this.planId !== 0 && this.asked.has(this.planId)) this.planNote = `The engine gave no estimate within ${this.planTimeoutMs / 1000} s; this build's engine may not run scaling studies.`;
      }, this.planTimeoutMs);
    }, delayMs);
  }

  private start(spec: StudySpec): void {
    this.failure = null;
    this.progress = null;
    this.active = true;
    this.request('start', spec);
  }

  private resume(): void {
    this.failure = null;
    this.active = true;
    this.request('resume');
  }

  private cancel(): void {
    this.cancelling = true;
    this.command({ type: 'scaling-cancel' });
  }

  private async exportPng(): Promise<void> {
    const blob = await this.chart.toPng();
    if (blob) downloadBlob(blob, 'spark-lab-scaling.png');
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.planTimer);
    clearTimeout(this.planDeadline);
  }

  protected override firstUpdated(): void {
    this.chart.show(this.study, this.fits);
  }

  /** Stored as running but not running here: the page that ran it was closed or reloaded. */
  private statusWord(study: StudyState): string {
    return study.status === 'running' && !this.active ? 'interrupted' : study.status;
  }

  private blockedReason(): string {
    const s = this.engineState;
    if (s === 'starting') return 'The engine is starting…';
    if (s === 'stopped') return 'The engine stopped: restart it above.';
    if (s === 'training' || s === 'sampling') return 'The engine is busy with the page’s own run: pause or stop it first.';
    return '';
  }

  override render() {
    const study = this.study;
    const counts = studyCounts(study);
    const p = this.progress;
    const line: ScalingProgressLine | null = p ? { ...progressText(study, p), done: p.done } : null;
    const f = this.failure;
    const lrEdge = lrEdgeText(study);
    return html`
      <div class="cols">
        <div>
          <spark-scaling-panel .plan=${this.plan} .planNote=${this.planNote} ?running=${this.active} ?cancelling=${this.cancelling}
            ?resumable=${!this.active && isResumable(study)} ?stored=${!this.active && !!study} .blocked=${this.blockedReason()} .progress=${line}
            @spark-scaling-form=${(e: CustomEvent<{ spec: StudySpec | null }>) => { this.formSpec = e.detail.spec; this.askPlan(); }}
            @spark-scaling-run=${(e: CustomEvent<{ spec: StudySpec }>) => this.start(e.detail.spec)}
            @spark-scaling-cancel=${this.cancel}
            @spark-scaling-resume=${this.resume}
            @spark-scaling-clear=${() => this.request('clear')}></spark-scaling-panel>
          ${f ? html`<div class="failure" role="alert" data-testid="scaling-error"><strong>${f.action}: ${f.name}</strong> — ${f.message}${f.field ? html` (setting: <code>${f.field}</code>)` : nothing}
            <button @click=${() => (this.failure = null)} aria-label="Dismiss the scaling error">Dismiss</button></div>` : nothing}
          ${study ? html`<p class="status" data-testid="scaling-status">Study ${this.statusWord(study)}${study.phase !== 'done' && study.status === 'running' ? ` (${study.phase === 'lr-search' ? 'learning-rate search' : 'grid'})` : ''}:
            ${counts.done} of ${counts.total} runs done${counts.failed ? `, ${counts.failed} failed` : ''} · ${study.adapter}${study.error ? ` · ${study.error}` : ''}</p>` : nothing}
          ${lrEdge ? html`<p class="status" role="note" data-testid="scaling-lr-edge"><strong>Not fully tuned.</strong> ${lrEdge}</p>` : nothing}
          <div class="meaning" data-testid="scaling-meaning">
            <p><strong>What a toy-scale multiplier means.</strong> It says how much less (or more) training compute a recipe needed than the baseline to reach the same validation loss — for these small models, on one corpus, with one tokenizer. It need not hold at larger scale.</p>
            <p>Ingredients interact: one alone, all together and leaving one out can disagree. The fit is read off inside the measured losses unless a row says <em>extrapolated</em>, and then it is a guess. Wall-clock time and FLOPs can disagree too: on a software GPU (SwiftShader) or with small kernels, time is not proportional to FLOPs.</p>
          </div>
        </div>
        <div>
          <h3>Validation loss against compute</h3>
          <spark-scaling-chart></spark-scaling-chart>
          <div class="exports">
            <button data-testid="scaling-export-png" ?disabled=${!counts.total} @click=${this.exportPng}>Export PNG</button>
            <button data-testid="scaling-export-csv" ?disabled=${!counts.total} @click=${() => downloadBlob(new Blob([studyToCsv(study)], { type: 'text/csv' }), 'spark-lab-scaling.csv')}>Export CSV (every point)</button>
            <button data-testid="scaling-export-json" ?disabled=${!study} @click=${() => downloadBlob(new Blob([studyToJson(study, this.fits)], { type: 'application/json' }), 'spark-lab-scaling.json')}>Export JSON (study and fits)</button>
          </div>
          <spark-scaling-table .fits=${this.fits}></spark-scaling-table>
        </div>
      </div>
    `;
  }
}

customElements.define('spark-scaling-view', ScalingView);

declare global {
  interface HTMLElementTagNameMap {
    'spark-scaling-view': ScalingView;
  }
  interface HTMLElementEventMap {
    'spark-scaling-command': CustomEvent<EngineCommand>;
  }
}
