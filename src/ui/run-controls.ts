import { LitElement, css, html, nothing } from 'lit';
import type { EngineState } from '../engine/protocol';
import type { CreateProgress } from '../engine/run';
import { emit } from './events';

const STATE_TEXT: Record<EngineState, string> = {
  starting: 'Starting the engine…',
  'no-run': 'No run yet: pick a preset and press Train.',
  idle: 'Ready.',
  training: 'Training…',
  paused: 'Paused.',
  sampling: 'Sampling…',
  scaling: 'A scaling study is training (see Scaling): this run can sample, not train.',
  stopped: 'The engine stopped: restart it (above) to train again.',
};

const PHASE_TEXT: Record<CreateProgress['phase'], string> = {
  tokenizer: 'training the BPE tokenizer',
  encoding: 'encoding the corpus',
  building: 'building the model',
  compiling: 'compiling the GPU kernels',
};

/**
 * @summary Train / Continue / Pause / Resume / Stop, enabled as the engine's 'state' events allow. Plain buttons:
 * Tab reaches them, Enter or Space presses them.
 * @event spark-train - start a new run from the form.
 * @event spark-continue - train the current run on.
 * @event spark-pause - pause training.
 * @event spark-resume - resume training.
 * @event spark-stop - stop training (the run and its weights stay).
 * @csspart buttons - the button row.
 */
export class RunControls extends LitElement {
  static override properties = {
    state: { type: String },
    busy: { type: String },
    building: { attribute: false },
    hasRun: { type: Boolean, attribute: 'has-run' },
    canTrain: { type: Boolean, attribute: 'can-train' },
    step: { type: Number },
    steps: { type: Number },
  };

  /** The engine's state. */
  declare state: EngineState;
  /** What the page is waiting for (e.g. 'Creating the run…'), or '' when nothing. */
  declare busy: string;
  /** The latest step of building the run the page asked for, shown as a progress bar under `busy`; null when none. */
  declare building: CreateProgress | null;
  /** Whether the engine holds a run that Continue can train on. */
  declare hasRun: boolean;
  /** False while the form has errors. */
  declare canTrain: boolean;
  /** Steps done by the current run. */
  declare step: number;
  /** The run's configured steps. */
  declare steps: number;

  static override styles = css`
    :host { display: block; }
    .buttons { display: flex; flex-wrap: wrap; gap: 8px; }
    button { font: inherit; font-weight: 600; padding: 6px 16px; border-radius: 6px; border: 1px solid #99a; background: #f4f5fa; cursor: pointer; }
    button.primary { background: #3867d6; border-color: #3867d6; color: #fff; }
    button:disabled { opacity: 0.45; cursor: not-allowed; }
    button:focus-visible { outline: 3px solid #f39c12; outline-offset: 2px; }
    .status { font-size: 13px; color: var(--spark-muted, #555); margin: 6px 0 0 0; }
    .build { display: flex; gap: 10px; align-items: center; font-size: 13px; margin-top: 4px; }
    .build progress { flex: 1; max-width: 20rem; height: 1em; }
  `;

  constructor() {
    super();
    this.state = 'starting';
    this.busy = '';
    this.building = null;
    this.hasRun = false;
    this.canTrain = true;
    this.step = 0;
    this.steps = 0;
  }

  override render() {
    const s = this.state;
    const free = !this.busy && (s === 'no-run' || s === 'idle');
    const running = !this.busy && (s === 'training' || s === 'paused');
    const done = this.hasRun && this.steps > 0 && this.step >= this.steps;
    const status = this.busy || (s === 'idle' && this.hasRun ? `Run at step ${this.step} of ${this.steps}${done ? ' (done)' : ''}.` : STATE_TEXT[s]);
    return html`
      <div class="buttons" part="buttons" role="toolbar" aria-label="Training controls">
        <button class="primary" data-testid="train" ?disabled=${!free || !this.canTrain} @click=${() => emit(this, 'spark-train', {})}
          title=${this.canTrain ? 'Start a new run from these settings' : 'Fix the highlighted settings first'}>Train new run</button>
        <button data-testid="continue" ?disabled=${!free || !this.hasRun || done} @click=${() => emit(this, 'spark-continue', {})}
          title="Train the current run on to its configured steps">Continue</button>
        <!-- One button for both, so keyboard focus stays on it when it flips. -->
        <button data-testid=${s === 'paused' ? 'resume' : 'pause'} ?disabled=${!running}
          @click=${() => (this.state === 'paused' ? emit(this, 'spark-resume', {}) : emit(this, 'spark-pause', {}))}>${s === 'paused' ? 'Resume' : 'Pause'}</button>
        <button data-testid="stop" ?disabled=${!running} @click=${() => emit(this, 'spark-stop', {})}>Stop</button>
      </div>
      <p class="status" role="status" data-testid="run-status" data-state=${s}>${status}</p>
      ${this.busy && this.building ? this.renderBuilding(this.building) : nothing}
    `;
  }

  private renderBuilding(b: CreateProgress) {
    const pct = b.total > 0 ? Math.min(100, Math.floor((100 * b.done) / b.total)) : 0;
    const text = b.phase === 'compiling' ? `${PHASE_TEXT[b.phase]}: ${b.done} of ${b.total}` : `${PHASE_TEXT[b.phase]}: ${pct}%`;
    return html`<div class="build" data-testid="build-progress" data-phase=${b.phase}>
      <progress max=${Math.max(1, b.total)} .value=${Math.min(b.done, b.total)} aria-label="Building the run" aria-valuetext=${text}></progress>
      <span>${text.charAt(0).toUpperCase() + text.slice(1)}</span></div>`;
  }
}

customElements.define('spark-run-controls', RunControls);

declare global {
  interface HTMLElementTagNameMap {
    'spark-run-controls': RunControls;
  }
}
