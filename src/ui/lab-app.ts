import { LitElement, html, nothing } from 'lit';
import { EngineClient, EngineRequestError } from '../engine/client';
import type { EngineEvent, EngineState, RunInfo } from '../engine/protocol';
import type { StoredRun } from '../train/storage';
import type { CheckpointPanel } from './checkpoint-panel';
import type { ConfigPanel } from './config-panel';
import type { CorpusChoice, SparkEventDetails } from './events';
import type { GpuStatusState } from './gpu-status';
import { labStyles } from './lab-styles';
import type { LossChart } from './loss-chart';
import type { MoeView } from './moe-view';
import { errorText, type Notice } from './notice-list';
import type { SampleView } from './sample-view';
import type { ThroughputProgress } from './throughput-panel';
import { decodeConfigHash, encodeConfigHash, type PartialRunConfig } from './url-config';
import './checkpoint-panel';
import './config-panel';
import './gpu-status';
import './loss-chart';
import './moe-view';
import './notice-list';
import './run-controls';
import './sample-view';
import './sweep-view';
import './throughput-panel';

/** How long the page waits for the engine's first word before saying it did not start. */
const ENGINE_START_TIMEOUT_MS = 60_000;

/**
 * @summary The Spark Lab page: config, controls, loss chart, throughput, expert load, sampling and checkpoints,
 * wired to the engine worker through EngineClient (the only thing here that talks to the engine; the views
 * below only render what it reports and send events up).
 */
export class LabApp extends LitElement {
  static override properties = {
    engineState: { state: true },
    gpu: { state: true },
    run: { state: true },
    progress: { state: true },
    busy: { state: true },
    notices: { state: true },
    configValid: { state: true },
    autosaves: { state: true },
    offer: { state: true },
    shareUrl: { state: true },
    stepDone: { state: true },
  };

  declare engineState: EngineState;
  declare gpu: GpuStatusState;
  declare run: RunInfo | null;
  declare progress: ThroughputProgress | null;
  declare busy: string;
  declare notices: Notice[];
  declare configValid: boolean;
  declare autosaves: StoredRun[];
  declare offer: StoredRun | null;
  declare shareUrl: string;
  /** Steps the current run has done, from whichever message says so last (evals can arrive before progress). */
  declare stepDone: number;

  static override styles = labStyles;

  private client: EngineClient | null = null;
  private corpus: CorpusChoice | null = null;
  private nextNotice = 1;
  private runLabels = new Map<string, string>();
  private creating = false;
  private startTimer = 0;

  constructor() {
    super();
    this.engineState = 'starting';
    this.gpu = { kind: 'pending' };
    this.run = null;
    this.progress = null;
    this.busy = '';
    this.notices = [];
    this.configValid = true;
    this.autosaves = [];
    this.offer = null;
    this.shareUrl = '';
    this.stepDone = 0;
  }

  private $<T extends Element>(selector: string): T {
    return this.renderRoot.querySelector(selector) as T;
  }
  private get panel() { return this.$<ConfigPanel>('spark-config-panel'); }
  private get chart() { return this.$<LossChart>('spark-loss-chart'); }
  private get moe() { return this.$<MoeView>('spark-moe-view'); }
  private get sampler() { return this.$<SampleView>('spark-sample-view'); }
  private get checkpoints() { return this.$<CheckpointPanel>('spark-checkpoint-panel'); }

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('hashchange', this.onHashChange);
    // After the first render (the form exists), outside any update.
    void this.updateComplete.then(() => this.applyHash(location.hash));
    if (this.client) return;
    try {
      this.client = EngineClient.spawn();
      this.client.on((e) => this.onEngine(e));
      this.startTimer = window.setTimeout(() => {
        if (this.engineState === 'starting' && this.gpu.kind === 'pending') {
          this.gpu = { kind: 'error', name: 'EngineStartError', message: `The engine worker did not answer within ${ENGINE_START_TIMEOUT_MS / 1000} s. Reload the page; if it happens again, check the browser console.` };
        }
      }, ENGINE_START_TIMEOUT_MS);
    } catch (e) {
      const { name, message } = errorText(e);
      this.gpu = { kind: 'error', name, message: `The engine worker could not start: ${message}` };
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('hashchange', this.onHashChange);
    clearTimeout(this.startTimer);
  }

  // ---- notices ----
  private notify(kind: Notice['kind'], title: string, text: string, testId = `notice-${kind}`): void {
    this.notices = [...this.notices.filter((n) => n.testId !== testId || kind === 'error'), { id: this.nextNotice++, kind, title, text, testId }].slice(-5);
  }

  /** An engine error: shown by name and message; a ConfigError's field is highlighted in the form. */
  private showError(e: unknown, context: string): void {
    const err = errorText(e);
    if (err.name === 'WebGPUUnavailableError') return void (this.gpu = { kind: 'error', name: err.name, message: err.message });
    const shown = err.field ? this.panel?.showFieldError(err.field, err.message) : false;
    const field = err.field ? ` (setting: ${err.field}${shown ? ', highlighted below' : ''})` : '';
    const code = err.code ? ` [${err.code}]` : '';
    this.notify('error', `${context}: ${err.name}${code}`, `${err.message}${field}`, 'engine-error');
  }

  // ---- URL ----
  private readonly onHashChange = () => this.applyHash(location.hash);

  private applyHash(hash: string): void {
    const r = decodeConfigHash(hash);
    if (!r) return;
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
    this.shareUrl = '';
    if (!d.valid) return;
    const hash = encodeConfigHash(d.config);
    const want = hash ? `#${hash}` : '';
    if (location.hash !== want) history.replaceState(history.state, '', `${location.pathname}${location.search}${want}`);
  }

  private async share(): Promise<void> {
    this.shareUrl = location.href;
    await navigator.clipboard?.writeText(location.href).catch(() => undefined);
  }

  // ---- engine events ----
  private onEngine(e: EngineEvent): void {
    switch (e.type) {
      case 'ready':
        clearTimeout(this.startTimer);
        this.gpu = { kind: 'ready', adapter: e.adapter, features: e.features, limits: e.limits };
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
      const err = errorText(e);
      this.checkpoints.message = { kind: 'error', text: `Could not list autosaves: ${err.name}${err.code ? ` [${err.code}]` : ''}: ${err.message}` };
    }
  }

  // ---- commands from the views ----
  private async withBusy(what: string, job: () => Promise<void>): Promise<void> {
    this.busy = what;
    try {
      await job();
    } finally {
      this.busy = '';
    }
  }

  private async train(): Promise<void> {
    const client = this.client;
    if (!client) return;
    if (!this.panel.valid) {
      this.notify('error', 'Settings need fixing', 'Some settings are not valid; they are highlighted in the form.', 'config-invalid');
      return;
    }
    const config: PartialRunConfig = this.panel.config;
    const text = config.data?.corpus === 'user' && this.corpus?.kind === 'user' ? this.corpus.text : undefined;
    await this.withBusy('Creating the run (tokenizing the corpus, building the model)…', async () => {
      this.creating = true;
      try {
        await client.create(config, text);
        this.notices = this.notices.filter((n) => n.kind !== 'error' && n.testId !== 'done');
        client.train();
      } catch (e) {
        this.showError(e, 'Could not create the run');
      } finally {
        this.creating = false;
      }
    });
  }

  private async sample(d: SparkEventDetails['spark-sample']): Promise<void> {
    const client = this.client;
    const view = this.sampler;
    if (!client) return;
    view.begin();
    try {
      const r = await client.sample(d.prompt, d.options, (t) => view.appendText(t));
      view.finish(r.tokens, r.tokensPerSecond);
    } catch (e) {
      const err = errorText(e);
      view.fail(`${err.name}${err.field ? ` (${err.field})` : ''}: ${err.message}`);
    }
  }

  private checkpointError(action: string, e: unknown): void {
    const err = errorText(e);
    this.checkpoints.message = { kind: 'error', text: `${action}: ${err.name}${err.code ? ` [${err.code}]` : ''}: ${err.message}` };
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

  /** A checkpoint holds no training text: a run trained on a dropped file needs the file again (retry with it). */
  private async loadFile(client: EngineClient, bytes: Uint8Array): Promise<RunInfo> {
    try {
      return await client.load(bytes.slice());
    } catch (e) {
      if (!(e instanceof EngineRequestError && e.field === 'data.corpus' && this.corpus?.kind === 'user')) throw e;
      return client.load(bytes, this.corpus.text);
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

  override render() {
    const s = this.engineState;
    const run = this.run;
    const step = this.stepDone;
    const idle = !this.busy && (s === 'idle' || s === 'paused');
    const canSample = !!run && !this.busy && (s === 'idle' || s === 'paused' || s === 'training');
    const moe = (run?.config.model.moeEvery ?? 0) > 0;
    return html`
      <header>
        <h1>Spark Lab</h1>
        <p class="lede">Train and evaluate small language models on your own GPU, in the browser.</p>
      </header>
      <spark-gpu-status .status=${this.gpu}></spark-gpu-status>
      <spark-notice-list .notices=${this.notices} @spark-dismiss=${(e: CustomEvent<{ id: number }>) => (this.notices = this.notices.filter((n) => n.id !== e.detail.id))}></spark-notice-list>
      <div class="grid">
        <div class="col">
          <section class="card" aria-labelledby="h-config">
            <div class="head"><h2 id="h-config">Run settings</h2>
              <button class="small" data-testid="share" ?disabled=${!this.configValid} @click=${this.share}>Share link</button></div>
            ${this.shareUrl ? html`<input class="share" readonly aria-label="Link to these settings" .value=${this.shareUrl} @focus=${(e: Event) => (e.target as HTMLInputElement).select()} />` : nothing}
            <spark-config-panel
              @spark-config-change=${(e: CustomEvent<SparkEventDetails['spark-config-change']>) => this.onConfigChange(e.detail)}
              @spark-corpus-change=${(e: CustomEvent<CorpusChoice>) => (this.corpus = e.detail)}></spark-config-panel>
          </section>
          <section class="card ckpt" aria-labelledby="h-ckpt">
            <h2 id="h-ckpt">Checkpoints</h2>
            <spark-checkpoint-panel .autosaves=${this.autosaves} .offer=${this.offer} ?can-save=${!!run && idle} ?can-load=${!this.busy && s !== 'training' && s !== 'sampling' && s !== 'starting'}
              @spark-save=${this.save}
              @spark-load-file=${(e: CustomEvent<SparkEventDetails['spark-load-file']>) => this.load(e.detail.name, (c) => this.loadFile(c, e.detail.bytes))}
              @spark-resume-autosave=${(e: CustomEvent<{ runId: string }>) => this.load('the autosaved run', (c) => c.loadAutosave(e.detail.runId))}
              @spark-delete-autosave=${(e: CustomEvent<{ runId: string }>) => this.deleteAutosave(e.detail.runId)}
              @spark-refresh-autosaves=${() => this.refreshAutosaves(false)}></spark-checkpoint-panel>
          </section>
        </div>
        <div class="col">
          <section class="card controls" aria-label="Training controls">
            <spark-run-controls state=${s} busy=${this.busy} ?has-run=${!!run} ?can-train=${this.configValid} step=${step} steps=${run?.config.train.steps ?? 0}
              @spark-train=${this.train} @spark-continue=${() => this.client?.train()}
              @spark-pause=${() => this.client?.pause()} @spark-resume=${() => this.client?.resume()} @spark-stop=${() => this.client?.stop()}></spark-run-controls>
          </section>
          <section class="card" aria-labelledby="h-loss"><h2 id="h-loss">Loss</h2><spark-loss-chart></spark-loss-chart></section>
          <section class="card" aria-labelledby="h-speed"><h2 id="h-speed">Throughput</h2>
            <spark-throughput-panel .run=${run} .progress=${this.progress} step=${step} ?training=${s === 'training'}></spark-throughput-panel></section>
          <section class="card" aria-labelledby="h-moe" ?hidden=${!moe}><h2 id="h-moe">Expert load</h2><spark-moe-view></spark-moe-view></section>
          <section class="card" aria-labelledby="h-sample"><h2 id="h-sample">Sample</h2>
            <spark-sample-view ?disabled=${!canSample} @spark-sample=${(e: CustomEvent<SparkEventDetails['spark-sample']>) => this.sample(e.detail)}></spark-sample-view></section>
        </div>
      </div>
      <section class="card sweep" aria-labelledby="h-sweep"><h2 id="h-sweep">Test-time scaling</h2>
        <spark-sweep-view .client=${this.client} ?has-run=${!!run && idle}></spark-sweep-view></section>
    `;
  }
}

customElements.define('spark-lab', LabApp);

declare global {
  interface HTMLElementTagNameMap {
    'spark-lab': LabApp;
  }
}
