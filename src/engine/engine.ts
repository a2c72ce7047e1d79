/**
 * The engine: the one owner of the GPU device in the page. It carries out EngineCommands on the current Run and
 * reports EngineEvents through `emit`; worker.ts is a thin shell around it, and tests can drive it directly.
 *
 * - GPU work (create, load, save, sample, autosave, and each stretch of training up to its next progress message)
 *   runs one piece at a time through `exclusive`, so pause, stop, sample and save land between progress messages.
 * - Sampling (and test-time sweeps) while training pauses the training and then resumes it (state 'sampling').
 * - Training runs in segments that end on multiples of train.autosaveEvery, where the run is autosaved; it is also
 *   autosaved before its first step (a point to recover from) and when training stops or completes.
 * - Device loss: the work of the lost device is abandoned (`epoch`), a new device is requested, the run's last
 *   autosave is reloaded and training continues, so at most one autosave interval of steps is lost.
 */
import { requestGpu, type Gpu } from '../gpu/device';
import type { DeviceLostError } from '../gpu/errors';
import { tuneKernels, type TuningStore } from '../kernels/autotune';
import { CheckpointError, checkpointFileName, readCheckpointBytes } from '../train/checkpoint';
import { CheckpointStore } from '../train/storage';
import type { EvalResult, Progress } from '../train/trainer';
import { MoeLoads } from './moe-loads';
import { buildRunOptions } from './build-options';
import type { BuildOptions, Emit, EngineCommand, EngineState, RunInfo, SampleOptions } from './protocol';
import { EngineStateError, toEngineError } from './errors';
import { streamSample, sweepJob } from './inference';
import { ScalingRunner } from './scaling-runner';
import { StudyStore } from './scaling-store';
import { IdbTuningStore } from './tuning-store';
import { createRun, loadRun, type Run, type RunOptions } from './run';
import { resolveSweepConfig } from '../eval/sweep-config';

export interface EngineOptions {
  /** Where autosaves go (default: the page's IndexedDB database). */
  store?: CheckpointStore;
  /** Where the scaling study is kept (default: its own IndexedDB database). */
  studyStore?: StudyStore;
  /** Where kernel tunings are kept per adapter (default: their own IndexedDB database). */
  tuningStore?: TuningStore;
  /**
   * Tests only: a device to use instead of requesting one, so engines in one test page share its compiled pipelines
   * (on SwiftShader compiles dominate). Its loss is not watched: no device-loss recovery with it. The page never sets it.
   */
  gpu?: Gpu;
}

/** A training loop to step `target`; `waiting`: it waits for resume (only then is the state 'paused'). */
interface Loop { run: Run; target: number; paused: boolean; waiting: boolean; stop: boolean; wake: (() => void) | null }

const newRunId = (): string => globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
const soon = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Engine {
  private readonly store: CheckpointStore;
  private gpu: Gpu | null = null;
  private gpuReady: Promise<Gpu>;
  private acquiring = false;
  private recovering = false;
  private run: Run | null = null;
  private runId = '';
  /** Step of the current run's newest autosave, null if it has none. */
  private savedStep: number | null = null;
  private moe: MoeLoads | null = null;
  private loop: Loop | null = null;
  /** The training a device loss interrupted, resumed once the run is reloaded (pause and stop act on it meanwhile). */
  private resumeAfterRecovery: Loop | null = null;
  private sampling = false;
  private state: EngineState | null = null;
  private lock: Promise<unknown> = Promise.resolve();
  /** Bumped when the device is lost: work started before then is abandoned and its failures are not reported. */
  private epoch = 0;
  /** The autosave being written (recovery waits for it, to reload the newest one). */
  private autosaving: Promise<unknown> = Promise.resolve();
  /** Training texts of this session's runs by runId (checkpoints hold no text), for reloads. */
  private readonly texts = new Map<string, string>();
  /** The page's memory budget as its last create or load gave it; a reload after a device loss uses it too. */
  private memoryBudgetBytes: number | undefined;
  private readonly scaling: ScalingRunner;
  private readonly givenGpu: Gpu | null;
  private readonly tuningStore: TuningStore;

  constructor(private readonly emit: Emit, options: EngineOptions = {}) {
    this.store = options.store ?? new CheckpointStore();
    this.scaling = new ScalingRunner({
      emit,
      exclusive: (fn) => this.exclusive(fn),
      gpu: () => this.gpuReady,
      busy: () => (this.loop || this.resumeAfterRecovery ? "this page's run is training or paused: stop it before starting a scaling study" : null),
      memoryBudgetBytes: () => this.memoryBudgetBytes,
      changed: () => this.updateState(),
    }, options.studyStore ?? new StudyStore());
    this.givenGpu = options.gpu ?? null;
    this.tuningStore = options.tuningStore ?? new IdbTuningStore();
    this.gpuReady = this.acquire();
  }

  /** Carries out one command; every failure becomes an 'error' event (with the request's id, if it has one). */
  handle(command: EngineCommand): void {
    const requestId = typeof command === 'object' && command !== null && 'requestId' in command ? command.requestId : undefined;
    this.dispatch(command).catch((e) => this.fail(e, requestId));
  }

  private async dispatch(cmd: EngineCommand): Promise<void> {
    switch (cmd?.type) {
      case 'create': {
        const opts = this.buildOptions(cmd, cmd.text);
        return this.exclusive(() => this.install(cmd.requestId, newRunId(), cmd.text, false, (gpu) => createRun(cmd.config, { ...opts, gpu })));
      }
      case 'load': {
        const opts = this.buildOptions(cmd, cmd.text);
        const source: unknown = cmd.checkpoint;
        // A file is checked (size, header length) and read here, outside the GPU queue: a big one holds up nothing.
        const bytes = source instanceof Blob ? await readCheckpointBytes(source) : source;
        if (!(bytes instanceof Uint8Array)) throw new TypeError('load: checkpoint must be a File, a Blob or a Uint8Array');
        return this.exclusive(() => this.install(cmd.requestId, newRunId(), cmd.text, false, (gpu) => loadRun(bytes, { ...opts, gpu })));
      }
      case 'load-autosave': {
        const text = cmd.text ?? this.texts.get(cmd.runId);
        const opts = this.buildOptions(cmd, text);
        const bytes = await this.store.load(cmd.runId);
        if (!bytes) throw new CheckpointError('storage', `there is no autosaved run "${cmd.runId}" in this browser`);
        return this.exclusive(() => this.install(cmd.requestId, cmd.runId, text, true, (gpu) => loadRun(bytes, { ...opts, gpu })));
      }
      case 'train': {
        const steps = cmd.steps;
        if (steps !== undefined && !(Number.isSafeInteger(steps) && steps > 0)) throw new RangeError(`train: steps must be a positive whole number, got ${steps}`);
        return this.train((run) => Math.min(run.config.train.steps, run.trainer.step + (steps ?? Infinity)), false);
      }
      case 'pause':
      case 'resume':
      case 'stop': {
        const L = this.loop ?? this.resumeAfterRecovery;
        if (!L) return this.emit({ type: 'state', state: this.computeState() }); // a late click: say where we are
        if (cmd.type === 'pause') L.paused = true;
        else {
          L.stop ||= cmd.type === 'stop';
          L.paused = false;
          L.wake?.();
        }
        return;
      }
      case 'sample':
        return this.sample(cmd.requestId, cmd.prompt, cmd.options);
      case 'profile': {
        const run = this.requireRun();
        if (this.loop?.run !== run) throw new EngineStateError('profile: train the run first (the profile is of its next training step)');
        return this.emit({ type: 'profile', requestId: cmd.requestId, profile: await run.trainer.requestProfile() });
      }
      case 'sweep':
        return this.sweep(cmd.requestId, cmd.config);
      case 'save':
        return this.exclusive(async () => {
          const run = this.requireRun();
          const step = run.trainer.step;
          const bytes = await run.save();
          this.emit({ type: 'saved', requestId: cmd.requestId, bytes, fileName: checkpointFileName(run.config, step) }, [bytes.buffer as ArrayBuffer]);
        });
      case 'list-autosaves':
        return this.emit({ type: 'autosaves', requestId: cmd.requestId, runs: await this.store.list() });
      case 'delete-autosave':
        await this.store.delete(cmd.runId);
        if (cmd.runId === this.runId) this.savedStep = null;
        return this.emit({ type: 'deleted', requestId: cmd.requestId, runId: cmd.runId });
      case 'dispose':
        return this.exclusive(() => this.retire().then(() => this.updateState()));
      case 'ping':
        return this.emit({ type: 'pong' });
      case 'scaling-plan':
        return this.scaling.plan(cmd.requestId, cmd.spec);
      case 'scaling-start':
        return this.scaling.start(cmd.requestId, cmd.spec);
      case 'scaling-resume':
        return this.scaling.resume(cmd.requestId);
      case 'scaling-cancel':
        return this.scaling.cancel();
      case 'scaling-load':
        return this.scaling.load(cmd.requestId);
      case 'scaling-clear':
        return this.scaling.clear(cmd.requestId);
      case 'retune':
        return this.exclusive(async () => void (await this.tune(await this.gpuReady, true, cmd.requestId)));
      case 'debug-lose-device':
        if (!this.gpu) throw new EngineStateError('there is no device to lose');
        return this.gpu.destroy();
      default:
        throw new TypeError(`unknown engine command ${JSON.stringify((cmd as { type?: unknown } | null)?.type)}`);
    }
  }

  /** The device's kernel tuning (stored, or measured now: see kernels/autotune.ts), announced with its progress. */
  private async tune(gpu: Gpu, force: boolean, requestId?: number): Promise<void> {
    const id = requestId === undefined ? {} : { requestId };
    const tuning = await tuneKernels(gpu, {
      store: this.tuningStore, force,
      // a store that cannot be read or written (private browsing) only costs measuring again next session
      onStoreError: () => undefined,
      onProgress: (done, total) => this.emit({ type: 'tuning', tuning: null, progress: { done, total } }), // not the answer: no requestId
    });
    this.emit({ type: 'tuning', ...id, tuning });
  }

  /** A create's or load's run options; the budget is kept for a reload after a device loss. */
  private buildOptions(cmd: BuildOptions & { requestId: number }, text: string | undefined): Omit<RunOptions, 'gpu'> {
    const opts = buildRunOptions(cmd, text, this.emit);
    this.memoryBudgetBytes = opts.memoryBudgetBytes;
    return opts;
  }

  private fail(e: unknown, requestId?: number): void {
    this.emit(requestId === undefined ? { type: 'error', error: toEngineError(e) } : { type: 'error', requestId, error: toEngineError(e) });
  }

  /** Reports a background failure unless a device loss ('device-lost') caused it; a loss fails readbacks before it shows. */
  private async failUnlessLost(e: unknown, gpu: Gpu, epoch: number): Promise<void> {
    await Promise.race([gpu.device.lost, soon(500)]);
    if (epoch === this.epoch && !gpu.isLost) this.fail(e);
  }

  /** Runs `fn` after every GPU task queued before it (one at a time). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.lock.then(fn);
    this.lock = result.catch(() => undefined);
    return result;
  }

  private computeState(): EngineState {
    if (this.acquiring || this.recovering) return 'starting';
    if (this.sampling) return 'sampling';
    if (this.loop) return this.loop.waiting ? 'paused' : 'training';
    if (this.scaling.running) return 'scaling';
    return this.run ? 'idle' : 'no-run';
  }

  private updateState(): void {
    const state = this.computeState();
    if (state !== this.state) this.emit({ type: 'state', state: (this.state = state) });
  }

  private requireRun(): Run {
    if (!this.run) throw new EngineStateError('there is no run: create one or load a checkpoint first');
    return this.run;
  }

  /** Requests a device and emits 'ready', or the error saying why there is none. */
  private acquire(): Promise<Gpu> {
    const epoch = this.epoch;
    this.acquiring = true;
    this.updateState();
    const requested = this.givenGpu ? Promise.resolve(this.givenGpu) : requestGpu({ onLost: (err) => this.onLost(err, epoch), onError: (err) => this.fail(err) });
    const ready = requested.then((gpu) => {
      this.gpu = gpu;
      const limits: Record<string, number> = {}; // GPUSupportedLimits' getters do not survive structured cloning
      for (const k in gpu.limits) if (typeof gpu.limits[k as keyof GPUSupportedLimits] === 'number') limits[k] = gpu.limits[k as keyof GPUSupportedLimits] as number;
      this.emit({ type: 'ready', adapter: { ...gpu.adapter }, features: { ...gpu.features }, limits });
      // every kernel is built after this, with the device's own choices; should measuring fail, with the defaults
      return this.tune(gpu, false).catch((e) => this.fail(new Error(`measuring the kernel variants on this device failed, so it runs with the default choices: ${e instanceof Error ? e.message : String(e)}`))).then(() => gpu);
    });
    // reported once here; commands that need the device get the same error
    ready.catch((e) => this.fail(e)).finally(() => {
      this.acquiring = false;
      this.updateState();
    });
    return ready;
  }

  private info(): RunInfo {
    const run = this.requireRun();
    return { runId: this.runId, config: run.config, ...run.summary, step: run.trainer.step, tokensPerStep: run.trainer.tokensPerStep,
      optimizerFlopsPerStep: run.trainer.optimizerFlopsPerStep };
  }

  /** Builds a run, then lets go of the current one (a failed create or load leaves it untouched). Call inside `exclusive`. */
  // fromAutosave: the run's autosave already holds its step.
  private async install(requestId: number | undefined, runId: string, text: string | undefined, fromAutosave: boolean, build: (gpu: Gpu) => Promise<Run>): Promise<void> {
    const epoch = this.epoch;
    const next = await build(await this.gpuReady);
    if (epoch !== this.epoch) {
      next.destroy();
      throw new EngineStateError('the GPU device was lost while the run was being built; try again');
    }
    await this.retire();
    this.run = next;
    this.runId = runId;
    this.savedStep = fromAutosave ? next.trainer.step : null;
    const layers = next.trainer.model.moeLayers;
    this.moe = layers.length ? new MoeLoads(next.gpu, layers, (e) => this.failUnlessLost(e, next.gpu, epoch)) : null;
    if (text !== undefined) this.texts.set(runId, text);
    this.emit(requestId === undefined ? { type: 'run', run: this.info() } : { type: 'run', requestId, run: this.info() });
    this.updateState();
  }

  /** Ends training of the current run (autosaving it) and frees it. Call inside `exclusive`. */
  private async retire(): Promise<void> {
    const run = this.run;
    if (!run) return;
    const L = this.loop;
    if (L) {
      L.stop = true;
      L.wake?.();
      this.loop = null;
      await this.autosave(run);
    }
    this.run = this.moe = this.savedStep = null;
    run.destroy();
  }

  /** Saves the run into IndexedDB under its runId, unless autosaves are off or it is saved at this step already. */
  private async autosave(run: Run): Promise<void> {
    const step = run.trainer.step;
    if (run.config.train.autosaveEvery === 0 || run !== this.run || step === this.savedStep) return;
    const { runId, epoch } = this;
    const { model: m, data } = run.config;
    const moe = m.moeEvery > 0 ? `, MoE ${m.moeExperts} experts top-${m.moeTopK}` : '';
    const summary = {
      name: `${data.corpus} L${m.nLayer} d${m.nEmbd}`,
      configSummary: `${m.nLayer} layer${m.nLayer === 1 ? '' : 's'}, d=${m.nEmbd}, ${m.nHead} heads${moe}, ${data.tokenizer} tokenizer`,
      step,
    };
    const task = run.save().then((bytes) => this.store.save(runId, bytes, summary));
    this.autosaving = task.catch(() => undefined);
    try {
      await task;
    } catch (e) {
      return this.failUnlessLost(e, run.gpu, epoch); // training goes on; the previous autosave is still whole
    }
    if (run === this.run) this.savedStep = step;
    this.emit({ type: 'autosaved', runId, step });
  }

  /** Starts a training loop to `target(run)` steps and runs it to its end. */
  private async train(target: (run: Run) => number, paused: boolean): Promise<void> {
    const L = await this.exclusive(async () => {
      const run = this.requireRun();
      if (this.loop) throw new EngineStateError(`the run is already ${this.loop.paused ? 'paused' : 'training'}: resume, pause or stop it`);
      if (this.scaling.running) throw new EngineStateError('a scaling study is training on the GPU: cancel it (or let it finish) before training this run');
      if (run.trainer.step >= run.config.train.steps) {
        this.emit({ type: 'done', step: run.trainer.step });
        return null;
      }
      const loop: Loop = { run, target: target(run), paused, waiting: false, stop: false, wake: null };
      this.loop = loop;
      this.updateState();
      if (this.savedStep === null) await this.autosave(run);
      return loop;
    });
    if (L) await this.trainLoop(L);
  }

  private async trainLoop(L: Loop): Promise<void> {
    const { run } = L;
    const epoch = this.epoch;
    const every = run.config.train.autosaveEvery;
    const owns = () => this.loop === L && !L.stop && this.epoch === epoch && this.run === run;
    let gen: AsyncGenerator<Progress | EvalResult> | null = null;
    let failure: unknown = null;
    try {
      for (;;) {
        if (L.paused && owns()) {
          L.waiting = true;
          this.updateState();
          await new Promise<void>((resolve) => (L.wake = resolve));
          L.wake = null;
          L.waiting = false;
          this.updateState();
          continue;
        }
        const more = await this.exclusive(async () => {
          if (!owns()) return false;
          if (!gen) {
            const step = run.trainer.step;
            if (step >= L.target) return false;
            const end = every > 0 ? Math.min(L.target, (Math.floor(step / every) + 1) * every) : L.target;
            gen = run.train({ steps: end - step });
          }
          const r = await gen.next();
          if (!r.done) this.report(r.value);
          else {
            gen = null;
            if (every > 0 && run.trainer.step % every === 0) await this.autosave(run);
          }
          return true;
        });
        if (!more) break;
      }
    } catch (e) {
      failure = e;
      await Promise.race([run.gpu.device.lost, soon(500)]); // a loss fails readbacks before it is reported
    }
    await this.exclusive(async () => {
      if (epoch !== this.epoch) return; // the device was lost: recovery takes over
      await (gen as AsyncGenerator | null)?.return(undefined);
      if (this.loop !== L) return; // replaced or disposed: that command saved and freed the run
      this.loop = null;
      run.trainer.cancelProfiles(new EngineStateError('profile: training stopped before the next step'));
      if (failure) this.fail(failure);
      else {
        await this.autosave(run);
        if (run.trainer.step >= run.config.train.steps) this.emit({ type: 'done', step: run.trainer.step });
      }
      this.updateState();
    });
  }

  private report(p: Progress | EvalResult): void {
    if (p.kind === 'eval') return this.emit({ type: 'eval', step: p.step, valLoss: p.valLoss });
    const moe = this.moe?.take();
    this.emit(moe ? { ...p, type: 'progress', moe } : { ...p, type: 'progress' });
  }

  private sample(requestId: number, prompt: string, options: SampleOptions): Promise<void> {
    const maxTokens = options?.maxTokens;
    if (!(Number.isSafeInteger(maxTokens) && maxTokens > 0)) throw new RangeError(`sample: maxTokens must be a positive whole number, got ${maxTokens}`);
    // Only the settings given: an explicit undefined would override the run's defaults (its seed).
    const opts = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as SampleOptions;
    return this.inference((run) => streamSample(run, requestId, prompt, opts, this.emit, run.decodingBudget(this.memoryBudgetBytes)));
  }

  private sweep(requestId: number, input: unknown): Promise<void> {
    const config = resolveSweepConfig(input);
    return this.inference((run) => sweepJob(run, requestId, config, this.emit, run.decodingBudget(this.memoryBudgetBytes)));
  }

  /** Sampling work on the current run, between training's progress messages (state 'sampling' meanwhile). */
  private inference(work: (run: Run) => Promise<void>): Promise<void> {
    return this.exclusive(async () => {
      const run = this.requireRun();
      const epoch = this.epoch;
      this.sampling = true;
      this.updateState();
      try {
        await work(run);
      } finally {
        if (epoch === this.epoch) {
          this.sampling = false;
          this.updateState();
        }
      }
    });
  }

  /** The device is gone: get a new one, reload the run's last autosave and go on training if it was. */
  private onLost(err: DeviceLostError, epoch: number): void {
    if (epoch !== this.epoch) return;
    this.epoch++;
    const { loop: L, run: lost } = this;
    const runId = lost ? this.runId : null;
    this.resumeAfterRecovery = L && !L.stop ? { ...L, waiting: false, wake: null } : null;
    if (L) {
      L.stop = true;
      L.wake?.();
    }
    this.loop = this.run = this.moe = this.gpu = this.savedStep = null;
    this.sampling = false;
    this.recovering = true;
    this.lock = Promise.resolve(); // work on the lost device may never settle: do not queue behind it
    this.updateState();
    lost?.destroy();
    this.exclusive(async () => {
      await this.autosaving;
      const stored = runId ? await this.store.list().then((runs) => runs.find((r) => r.id === runId), (e) => void this.fail(e)) : undefined;
      this.emit({ type: 'device-lost', message: err.message, recoveredFromStep: stored?.step ?? null });
      this.gpuReady = this.acquire();
      await this.gpuReady;
      if (!stored || !runId) return;
      const bytes = await this.store.load(runId);
      if (!bytes) throw new CheckpointError('storage', `the autosave of run "${runId}" vanished before it could be reloaded`);
      const text = this.texts.get(runId);
      await this.install(undefined, runId, text, true, (gpu) => loadRun(bytes, { gpu, text, memoryBudgetBytes: this.memoryBudgetBytes }));
    })
      .catch((e) => this.fail(e))
      .then(() => {
        const resume = this.resumeAfterRecovery;
        this.resumeAfterRecovery = null;
        this.recovering = false;
        this.updateState();
        if (this.run && resume && !resume.stop) return this.train(() => resume.target, resume.paused);
      })
      .catch((e) => this.fail(e));
  }
}
