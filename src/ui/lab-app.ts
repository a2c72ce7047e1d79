import { LitElement, html, nothing } from 'lit';
import { EngineRequestError, type ClientBuildOptions, type EngineClient } from '../engine/client';
import type { EngineCommand, EngineEvent, EngineState, RunInfo } from '../engine/protocol';
import type { CreateProgress } from '../engine/run';
import type { SweepConfig } from '../eval/sweep';
import type { StoredRun } from '../train/storage';
import type { CheckpointPanel } from './checkpoint-panel';
import type { ConfigPanel } from './config-panel';
import type { ConfirmRun } from './confirm-run';
import { describeError, errorText } from './error-text';
import { EngineConnection } from './engine-connection';
import type { CorpusChoice, SparkEventDetails } from './events';
import { labStyles } from './lab-styles';
import { LinkSettings } from './link-settings';
import type { LossChart } from './loss-chart';
import type { MemoryBudget } from './memory-budget';
import type { MoeView } from './moe-view';
import type { Notice } from './notice-list';
import type { ProfileView } from './profile-view';
import { runSize } from './presets';
import type { SampleView } from './sample-view';
import type { ScalingView } from './scaling-view';
import type { SweepView } from './sweep-view';
import type { ThroughputProgress } from './throughput-panel';
import type { DecodedConfig, PartialRunConfig } from './url-config';
import { profileInto, sampleInto, sweepInto } from './view-jobs';
import './checkpoint-panel';
import './config-panel';
import './confirm-run';
import './gpu-status';
import './loss-chart';
import './memory-budget';
import './moe-view';
import './notice-list';
import './profile-view';
import './run-controls';
import './sample-view';
import './scaling-view';
import './sweep-view';
import './throughput-panel';

/**
 * @summary The Spark Lab page: config, controls, loss chart, throughput, expert load, sampling, test-time sweeps,
 * scaling studies and checkpoints, wired to the engine worker through EngineClient (the only thing here that talks
 * to the engine; the views below only render what it reports and send events up). When the worker dies it says so
 * and offers a new one; the autosaves in IndexedDB outlive it.
 */
export class LabApp extends LitElement {
  static override properties = {
    engineState: { state: true },
    run: { state: true },
    progress: { state: true },
    busy: { state: true },
    building: { state: true },
    notices: { state: true },
    configValid: { state: true },
    budgetValid: { state: true },
    needBytes: { state: true },
    autosaves: { state: true },
    offer: { state: true },
    stepDone: { state: true },
  };

  declare engineState: EngineState;
  declare run: RunInfo | null;
  declare progress: ThroughputProgress | null;
  declare busy: string;
  /** The latest build step of the run being created or loaded (a progress bar under `busy`). */
  declare building: CreateProgress | null;
  declare notices: Notice[];
  declare configValid: boolean;
  declare budgetValid: boolean;
  /** Estimated training memory of the form's settings (bytes), null while they are not valid. */
  declare needBytes: number | null;
  declare autosaves: StoredRun[];
  declare offer: StoredRun | null;
  /** Steps the current run has done, from whichever message says so last (evals can arrive before progress). */
  declare stepDone: number;

  static override styles = labStyles;

  /** The engine worker: spawned on connect, restarted on request; its events come to onEngine. */
  readonly engine = new EngineConnection(this, (e) => this.onEngine(e));
  private readonly link = new LinkSettings(this, (r) => this.onLink(r));
  private corpus: CorpusChoice | null = null;
  private nextNotice = 1;
  private runLabels = new Map<string, string>();
  private creating = false;

  constructor() {
    super();
    this.engineState = 'starting';
    this.run = null;
    this.progress = null;
    this.busy = '';
    this.building = null;
    this.notices = [];
    this.configValid = true;
    this.budgetValid = true;
    this.needBytes = null;
    this.autosaves = [];
    this.offer = null;
    this.stepDone = 0;
  }

  private get client(): EngineClient | null {
    return this.engine.client;
  }
  private $<T extends Element>(selector: string): T {
    return this.renderRoot.querySelector(selector) as T;
  }
  private get panel() { return this.$<ConfigPanel>('spark-config-panel'); }
  private get budget() { return this.$<MemoryBudget>('spark-memory-budget'); }
  private get chart() { return this.$<LossChart>('spark-loss-chart'); }
  private get moe() { return this.$<MoeView>('spark-moe-view'); }
  private get sampler() { return this.$<SampleView>('spark-sample-view'); }
  private get sweeps() { return this.$<SweepView>('spark-sweep-view'); }
  private get scaling() { return this.$<ScalingView>('spark-scaling-view'); }
  private get checkpoints() { return this.$<CheckpointPanel>('spark-checkpoint-panel'); }
  private get confirm() { return this.$<ConfirmRun>('spark-confirm-run'); }

  /** A new worker for a stopped one; on 'ready' it lists the autosaves (in IndexedDB, so all still there) and offers the newest. */
  private restartEngine(): void {
    this.run = this.progress = this.offer = null;
    this.stepDone = 0;
    this.engineState = 'starting';
    this.notices = this.notices.filter((n) => n.kind !== 'error');
    this.checkpoints.message = null; // about the old engine's run
    this.engine.restart();
  }

  /** Measures the kernel choices again; the panel follows the engine's 'tuning' events. */
  private retune(): void {
    this.engine.client?.retune().catch((e) => this.notify('error', 'Measuring the kernels failed', errorText(e).message));
  }

  // ---- notices ----
  private notify(kind: Notice['kind'], title: string, text: string, testId = `notice-${kind}`): void {
    this.notices = [...this.notices.filter((n) => n.testId !== testId || kind === 'error'), { id: this.nextNotice++, kind, title, text, testId }].slice(-5);
  }

  /** An engine error: shown by name and message; a ConfigError's field is highlighted in the form. */
  private showError(e: unknown, context: string): void {
    const err = errorText(e);
    if (err.name === 'WebGPUUnavailableError') return this.engine.showProblem(err.name, err.message);
    if (err.name === 'EngineStoppedError') return; // the engine-stopped panel says it, with its restart button
    const shown = err.field ? this.panel?.showFieldError(err.field, err.message) : false;
    const field = err.field ? ` (setting: ${err.field}${shown ? ', highlighted below' : ''})` : '';
    const code = err.code ? ` [${err.code}]` : '';
    this.notify('error', `${context}: ${err.name}${code}`, `${err.message}${field}`, 'engine-error');
  }

  // ---- the settings link ----
  private onLink(r: DecodedConfig): void {
    if (!r.ok) {
      this.notify('warning', 'This link’s settings were not loaded', `${r.message} The form keeps its current settings.`, 'url-error');
      return;
    }
    this.panel.setConfig(r.config, { reveal: true });
    this.notify('info', 'Settings loaded from the link', 'Press “Train new run” to train with them.', 'url-loaded');
    for (const w of r.warnings) this.notify('warning', 'About this link', w, 'url-warning');
  }

  private onConfigChange(d: SparkEventDetails['spark-config-change']): void {
    this.configValid = d.valid;
    this.needBytes = d.valid ? (runSize(d.config)?.memoryBytes ?? null) : null;
    this.link.follow(d.config, d.valid);
  }

  // ---- engine events ----
  private onEngine(e: EngineEvent): void {
    this.scaling?.receive(e); // the scaling section takes its own answers and events
    switch (e.type) {
      case 'ready':
        void this.refreshAutosaves(true);
        break;
      case 'state':
        this.engineState = e.state;
        if (e.state === 'no-run') this.run = null;
        break;
      case 'run':
        this.onRun(e.run);
        break;
      case 'progress':
        this.chart.addSteps(e.steps, e.elapsedMs);
        this.moe.add(e.moe);
        this.progress = e;
        this.stepDone = Math.max(this.stepDone, e.step);
        break;
      case 'eval':
        this.chart.addEval(e.step, e.valLoss);
        this.stepDone = Math.max(this.stepDone, e.step);
        break;
      case 'done':
        this.stepDone = Math.max(this.stepDone, e.step);
        this.notify('info', 'Training finished', `The run reached step ${e.step}. Sample from it, save it, or start a new run.`, 'done');
        break;
      case 'autosaved':
        if (e.runId === this.run?.runId) this.stepDone = Math.max(this.stepDone, e.step);
        void this.refreshAutosaves(false);
        break;
      case 'device-lost':
        this.notify('error', 'The GPU device was lost', `${e.message} ${e.recoveredFromStep === null
          ? 'There was no autosave to resume from: start a new run.'
          : `Spark Lab is getting a new device and resumes the run from its last autosave (step ${e.recoveredFromStep}).`}`, 'device-lost');
        break;
      case 'engine-stopped': // the device panel says so and offers a restart
        this.engineState = 'stopped';
        this.run = this.progress = null;
        break;
      case 'error':
        // Errors that answer a request are shown by the code that made the request.
        if (e.requestId === undefined) this.showError(new EngineRequestError(e.error), 'The engine reported an error');
        break;
      default:
        break;
    }
  }

  private onRun(run: RunInfo): void {
    this.run = run;
    this.progress = null;
    this.stepDone = run.step;
    this.offer = null;
    let label = this.runLabels.get(run.runId);
    if (!label) {
      const m = run.config.model;
      label = `#${this.runLabels.size + 1} ${m.nLayer}L d${m.nEmbd}${m.moeEvery > 0 ? ` MoE${m.moeExperts}` : ''}`;
      this.runLabels.set(run.runId, label);
    }
    this.chart.startRun({ id: run.runId, label, tokensPerStep: run.tokensPerStep, flopsPerToken: run.flopsPerToken, step: run.step });
    this.moe.reset(run.config.model.moeEvery > 0 ? run.config.model.moeExperts : 0);
    run.notices.forEach((text, i) => this.notify('warning', 'About this run', text, `run-notice-${i}`));
    // A run the form did not just create (a checkpoint, an autosave, a recovery) shows its own settings.
    if (!this.creating) this.panel.setConfig(run.config);
  }

  private async refreshAutosaves(offerNewest: boolean): Promise<void> {
    if (!this.client) return;
    try {
      const runs = await this.client.listAutosaves();
      this.autosaves = [...runs].sort((a, b) => b.savedAt.localeCompare(a.savedAt));
      if (offerNewest && !this.run && this.autosaves.length) this.offer = this.autosaves[0];
    } catch (e) {
      this.checkpointError('Could not list autosaves', e);
    }
  }

  // ---- commands from the views ----
  private async withBusy(what: string, job: () => Promise<void>): Promise<void> {
    this.busy = what;
    try {
      await job();
    } finally {
      this.busy = '';
      this.building = null;
    }
  }

  /** What every create and load sends: the memory budget, and a callback for the build's progress bar. */
  private buildOptions(): ClientBuildOptions {
    return { memoryBudgetBytes: this.budget?.bytes, onProgress: (p) => (this.building = p) };
  }

  private async train(): Promise<void> {
    if (!this.client) return;
    if (!this.panel.valid || !this.budget.valid) {
      this.notify('error', 'Settings need fixing', 'Some settings are not valid; they are highlighted in the form.', 'config-invalid');
      return;
    }
    const config: PartialRunConfig = this.panel.config;
    if (!(await this.link.mayTrain(config, this.budget.bytes, (info) => this.confirm.ask(info)))) return;
    const client = this.client;
    if (!client) return;
    const text = config.data?.corpus === 'user' && this.corpus?.kind === 'user' ? this.corpus.text : undefined;
    await this.withBusy('Creating the run (tokenizing the corpus, building the model)…', async () => {
      this.creating = true;
      try {
        await client.create(config, text, this.buildOptions());
        this.notices = this.notices.filter((n) => n.kind !== 'error' && n.testId !== 'done');
        client.train();
      } catch (e) {
        this.showError(e, 'Could not create the run');
      } finally {
        this.creating = false;
      }
    });
  }

  private checkpointError(action: string, e: unknown): void {
    this.checkpoints.message = { kind: 'error', text: `${action}: ${describeError(e)}` };
  }

  private async save(): Promise<void> {
    const client = this.client;
    if (!client) return;
    await this.withBusy('Saving the checkpoint…', async () => {
      try {
        const { bytes, fileName } = await client.save();
        this.checkpoints.offerDownload(bytes, fileName);
      } catch (e) {
        this.checkpointError('Could not save', e);
      }
    });
  }

  private async load(what: string, job: (c: EngineClient) => Promise<RunInfo>): Promise<void> {
    const client = this.client;
    if (!client) return;
    await this.withBusy(`Loading ${what}…`, async () => {
      try {
        const run = await job(client);
        this.checkpoints.message = { kind: 'info', text: `Loaded ${what}: step ${run.step} of ${run.config.train.steps}. Press Continue to train on.` };
      } catch (e) {
        this.checkpointError(`Could not load ${what}`, e);
      }
    });
  }

  /** The File goes to the engine unread. A checkpoint holds no training text: a run trained on a dropped file needs it again. */
  private async loadFile(client: EngineClient, file: File): Promise<RunInfo> {
    try {
      return await client.load(file, undefined, this.buildOptions());
    } catch (e) {
      if (!(e instanceof EngineRequestError && e.field === 'data.corpus' && this.corpus?.kind === 'user')) throw e;
      return client.load(file, this.corpus.text, this.buildOptions());
    }
  }

  private async deleteAutosave(runId: string): Promise<void> {
    try {
      await this.client?.deleteAutosave(runId);
    } catch (e) {
      this.checkpointError('Could not delete the autosave', e);
    }
    await this.refreshAutosaves(false);
  }

  private sweep(config: SweepConfig): void {
    if (this.client) void sweepInto(this.client, this.sweeps, config);
  }

  override render() {
    const s = this.engineState;
    const run = this.run;
    const step = this.stepDone;
    const idle = !this.busy && (s === 'idle' || s === 'paused');
    const canSample = !!run && !this.busy && (s === 'idle' || s === 'paused' || s === 'training');
    const moe = (run?.config.model.moeEvery ?? 0) > 0;
    type Detail<K extends keyof SparkEventDetails> = CustomEvent<SparkEventDetails[K]>;
    return html`
      <header>
        <h1>Spark Lab</h1>
        <p class="lede">Train and evaluate small language models on your own GPU, in the browser.</p>
      </header>
      <spark-gpu-status .status=${this.engine.status} @spark-restart-engine=${this.restartEngine} @spark-retune=${this.retune}></spark-gpu-status>
      <spark-notice-list .notices=${this.notices} @spark-dismiss=${(e: Detail<'spark-dismiss'>) => (this.notices = this.notices.filter((n) => n.id !== e.detail.id))}></spark-notice-list>
      <spark-confirm-run></spark-confirm-run>
      <div class="grid">
        <div class="col">
          <section class="card" aria-labelledby="h-config">
            <div class="head"><h2 id="h-config">Run settings</h2>
              <button class="small" data-testid="share" ?disabled=${!this.configValid} @click=${() => this.link.share()}>Share link</button></div>
            ${this.link.shareUrl ? html`<input class="share" readonly aria-label="Link to these settings" .value=${this.link.shareUrl} @focus=${(e: Event) => (e.target as HTMLInputElement).select()} />` : nothing}
            <spark-config-panel
              @spark-config-change=${(e: Detail<'spark-config-change'>) => this.onConfigChange(e.detail)}
              @spark-corpus-change=${(e: Detail<'spark-corpus-change'>) => (this.corpus = e.detail)}></spark-config-panel>
            <spark-memory-budget .limits=${this.engine.limits} .needBytes=${this.needBytes}
              @spark-memory-budget-change=${(e: Detail<'spark-memory-budget-change'>) => (this.budgetValid = e.detail.valid)}></spark-memory-budget>
          </section>
          <section class="card ckpt" aria-labelledby="h-ckpt">
            <h2 id="h-ckpt">Checkpoints</h2>
            <spark-checkpoint-panel .autosaves=${this.autosaves} .offer=${this.offer} ?can-save=${!!run && idle} ?can-load=${!this.busy && s !== 'training' && s !== 'sampling' && s !== 'starting' && s !== 'stopped'}
              @spark-save=${this.save}
              @spark-load-file=${(e: Detail<'spark-load-file'>) => this.load(e.detail.file.name, (c) => this.loadFile(c, e.detail.file))}
              @spark-resume-autosave=${(e: Detail<'spark-resume-autosave'>) => this.load('the autosaved run', (c) => c.loadAutosave(e.detail.runId, undefined, this.buildOptions()))}
              @spark-delete-autosave=${(e: Detail<'spark-delete-autosave'>) => this.deleteAutosave(e.detail.runId)}
              @spark-refresh-autosaves=${() => this.refreshAutosaves(false)}></spark-checkpoint-panel>
          </section>
        </div>
        <div class="col">
          <section class="card controls" aria-label="Training controls">
            <spark-run-controls state=${s} busy=${this.busy} .building=${this.building} ?has-run=${!!run} ?can-train=${this.configValid && this.budgetValid}
              step=${step} steps=${run?.config.train.steps ?? 0}
              @spark-train=${this.train} @spark-continue=${() => this.client?.train()}
              @spark-pause=${() => this.client?.pause()} @spark-resume=${() => this.client?.resume()} @spark-stop=${() => this.client?.stop()}></spark-run-controls>
          </section>
          <section class="card" aria-labelledby="h-loss"><h2 id="h-loss">Loss</h2><spark-loss-chart></spark-loss-chart></section>
          <section class="card" aria-labelledby="h-speed"><h2 id="h-speed">Throughput</h2>
            <spark-throughput-panel .run=${run} .progress=${this.progress} step=${step} ?training=${s === 'training'}></spark-throughput-panel></section>
          <section class="card" aria-labelledby="h-profile"><h2 id="h-profile">Step profile</h2>
            <spark-profile-view ?can-profile=${s === 'training' || s === 'paused'}
              @spark-profile=${(e: Event) => this.client && profileInto(this.client, e.target as ProfileView)}></spark-profile-view></section>
          <section class="card" aria-labelledby="h-moe" ?hidden=${!moe}><h2 id="h-moe">Expert load</h2><spark-moe-view></spark-moe-view></section>
          <section class="card" aria-labelledby="h-sample"><h2 id="h-sample">Sample</h2>
            <spark-sample-view ?disabled=${!canSample} @spark-sample=${(e: Detail<'spark-sample'>) => this.client && sampleInto(this.client, this.sampler, e.detail)}></spark-sample-view></section>
        </div>
      </div>
      <section class="card sweep" aria-labelledby="h-sweep"><h2 id="h-sweep">Test-time scaling</h2>
        <spark-sweep-view ?has-run=${!!run && idle} @spark-sweep-request=${(e: CustomEvent<{ config: SweepConfig }>) => this.sweep(e.detail.config)}></spark-sweep-view></section>
      <section class="card sweep" aria-labelledby="h-scaling"><h2 id="h-scaling">Scaling</h2>
        <spark-scaling-view engine-state=${s} @spark-scaling-command=${(e: CustomEvent<EngineCommand>) => this.client?.send(e.detail)}></spark-scaling-view></section>
    `;
  }
}

customElements.define('spark-lab', LabApp);

declare global {
  interface HTMLElementTagNameMap {
    'spark-lab': LabApp;
  }
}
