/**
 * The page's handle on the engine worker: sends typed commands, turns request/answer pairs into promises and
 * fans the event stream out to listeners. It holds no GPU object; the UI uses only this.
 *
 * A worker can die: an uncaught error fires 'error'; one that runs out of memory or closes sends nothing at all.
 * So the client treats an 'error' as fatal, and asks a quiet worker whether it is there ('ping'): a worker that
 * sends nothing for `silenceLimitMs` after a ping is dead. Silence is judged only once the worker has answered a
 * first ping: loading its script and getting a device can hold its thread for long (the page's start timeout
 * covers a worker that never gets that far). Either way every pending request is rejected with
 * EngineStoppedError and listeners get an 'engine-stopped' event; the page spawns a new client to go on.
 */
import type { BuildOptions, EngineCommand, EngineError, EngineEvent, KernelTuning, RunInfo, SampleOptions } from './protocol';
import type { CreateProgress } from './run';
import type { StoredRun } from '../train/storage';
import type { SweepConfig, SweepEvent } from '../eval/sweep';
import type { StepProfile } from '../lib/step-profile';

/** What a client talks to: a Worker, or anything with the same methods (tests use a MessageChannel port or a fake). */
export interface EnginePort {
  postMessage(message: EngineCommand, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent<EngineEvent>) => void): void;
  /** 'error' (a Worker's uncaught error or failed start) and 'messageerror' (an event that could not be read). */
  addEventListener(type: 'error' | 'messageerror', listener: (e: Event) => void): void;
  /** A Worker's: ends it at once. */
  terminate?(): void;
}

export interface EngineClientOptions {
  /** Ping a worker that has been quiet this long (ms); 0 turns the heartbeat off. */
  pingEveryMs?: number;
  /** A worker that sends nothing for this long after a ping is dead (ms). */
  silenceLimitMs?: number;
}

/** The heartbeat of the page's worker. The limit is generous: a worker busy in long synchronous work still sends progress. */
export const PING_EVERY_MS = 5_000;
export const SILENCE_LIMIT_MS = 60_000;

/** An engine error re-thrown on the page side, keeping the engine's class name, field and code. */
export class EngineRequestError extends Error {
  readonly field?: string;
  readonly code?: string;
  constructor(readonly error: EngineError) {
    super(error.message);
    this.name = error.name;
    this.field = error.field;
    this.code = error.code;
  }
}

/** The engine worker died (or could not be heard): what was asked of it will not be answered. */
export class EngineStoppedError extends Error {
  override name = 'EngineStoppedError';
}

/** Build options as the client takes them: the memory budget, and a callback for 'build-progress'. */
export interface ClientBuildOptions extends BuildOptions {
  onProgress?: (p: CreateProgress) => void;
}

/** `onPartial` gets a request's intermediate events (sample chunks, sweep events, build progress) before its answer. */
type Pending = { resolve: (e: EngineEvent) => void; reject: (e: Error) => void; onPartial?: (e: EngineEvent) => void };
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
const PARTIAL_TYPES = new Set<EngineEvent['type']>(['sample-chunk', 'sweep', 'build-progress']);
type RunRequest = DistributiveOmit<Extract<EngineCommand, { type: 'create' | 'load' | 'load-autosave' }>, 'requestId'>;

export class EngineClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(e: EngineEvent) => void>();
  private stoppedWith: string | null = null;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  /** When the worker last sent anything. */
  private lastHeard = 0;
  /** True once the worker answered a ping: its event loop runs, so from then on silence means it stopped. */
  private answering = false;
  /** When the unanswered ping was sent, or null when none is out. */
  private pingSentAt: number | null = null;

  constructor(private readonly port: EnginePort, options: EngineClientOptions = {}) {
    port.addEventListener('message', (m) => this.receive(m.data));
    port.addEventListener('error', (e) => this.die(`its worker failed: ${(e as ErrorEvent).message || 'an error without a message (the worker script may not have loaded)'}`));
    port.addEventListener('messageerror', () =>
      this.rejectAll(new EngineRequestError({ name: 'DataCloneError', message: 'a message from the engine could not be read, so the answer to this request was lost; try again' })),
    );
    const every = options.pingEveryMs ?? 0;
    const limit = options.silenceLimitMs ?? SILENCE_LIMIT_MS;
    if (every > 0) this.heartbeat = setInterval(() => this.beat(every, limit), every);
  }

  /** The worker build used by the page, with its heartbeat (tests may shorten it). */
  static spawn(options: EngineClientOptions = { pingEveryMs: PING_EVERY_MS, silenceLimitMs: SILENCE_LIMIT_MS }): EngineClient {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'spark-lab-engine' });
    return new EngineClient(worker as unknown as EnginePort, options);
  }

  /** Why the engine stopped, or null while it runs. */
  get stopped(): string | null {
    return this.stoppedWith;
  }

  /** Subscribes to every event; returns the unsubscribe function. */
  on(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sends a command that expects no answer; to a stopped engine it is dropped (its 'engine-stopped' said so). */
  send(command: EngineCommand, transfer: Transferable[] = []): void {
    if (this.stoppedWith === null) this.port.postMessage(command, transfer);
  }

  create(config: unknown, text?: string, opts: ClientBuildOptions = {}): Promise<RunInfo> {
    return this.build({ type: 'create', config, text }, opts);
  }

  /**
   * A checkpoint: a chosen File (sent as it is; the engine checks it before reading it) or bytes. `text`: the
   * training text of a run trained on a dropped file (a checkpoint does not hold it).
   */
  load(checkpoint: Blob | Uint8Array, text?: string, opts: ClientBuildOptions = {}): Promise<RunInfo> {
    return this.build({ type: 'load', checkpoint, text }, opts);
  }

  loadAutosave(runId: string, text?: string, opts: ClientBuildOptions = {}): Promise<RunInfo> {
    return this.build({ type: 'load-autosave', runId, text }, opts);
  }

  train(steps?: number): void {
    this.send({ type: 'train', steps });
  }
  pause(): void {
    this.send({ type: 'pause' });
  }
  resume(): void {
    this.send({ type: 'resume' });
  }
  stop(): void {
    this.send({ type: 'stop' });
  }

  /** Samples after `prompt`; `onChunk` gets the text as it streams. Resolves with the whole text. */
  async sample(prompt: string, options: SampleOptions, onChunk?: (text: string) => void): Promise<{ text: string; tokens: number; tokensPerSecond: number }> {
    let text = '';
    const done = (await this.request({ type: 'sample', prompt, options }, (e) => {
      if (e.type !== 'sample-chunk') return;
      text += e.text;
      onChunk?.(e.text);
    })) as Extract<EngineEvent, { type: 'sample-done' }>;
    return { text, tokens: done.tokens, tokensPerSecond: done.tokensPerSecond };
  }

  /** Runs a test-time sweep on the current run; `onEvent` gets its points, samples and progress as they come. */
  async sweep(config: Partial<SweepConfig>, onEvent: (e: SweepEvent) => void): Promise<{ config: SweepConfig; ms: number }> {
    const done = (await this.request({ type: 'sweep', config }, (e) => {
      if (e.type === 'sweep') onEvent(e.event);
    })) as Extract<EngineEvent, { type: 'sweep-done' }>;
    return { config: done.config, ms: done.ms };
  }

  /** A profile of the run's next training step (see src/gpu/profile.ts); refused when the run is not training. */
  profile(): Promise<StepProfile> {
    return this.request({ type: 'profile' }).then((e) => (e as Extract<EngineEvent, { type: 'profile' }>).profile);
  }

  /** Measures the kernel choices on this device again (progress arrives as 'tuning' events without a requestId). */
  retune(): Promise<KernelTuning> {
    return this.request({ type: 'retune' }).then((e) => (e as Extract<EngineEvent, { type: 'tuning' }>).tuning!);
  }

  save(): Promise<{ bytes: Uint8Array; fileName: string }> {
    return this.request({ type: 'save' }).then((e) => e as Extract<EngineEvent, { type: 'saved' }>);
  }

  listAutosaves(): Promise<StoredRun[]> {
    return this.request({ type: 'list-autosaves' }).then((e) => (e as Extract<EngineEvent, { type: 'autosaves' }>).runs);
  }

  deleteAutosave(runId: string): Promise<void> {
    return this.request({ type: 'delete-autosave', runId }).then(() => undefined);
  }

  /** Ends the worker (a restart replaces it); pending requests are rejected. */
  terminate(reason = 'the page restarted the engine'): void {
    this.die(reason);
  }

  private build(command: RunRequest, { onProgress, memoryBudgetBytes }: ClientBuildOptions): Promise<RunInfo> {
    const withBudget = memoryBudgetBytes === undefined ? command : { ...command, memoryBudgetBytes };
    return this.request(withBudget, (e) => {
      if (e.type === 'build-progress') onProgress?.(e.progress);
    }).then((e) => (e as Extract<EngineEvent, { type: 'run' }>).run);
  }

  private request(command: DistributiveOmit<Extract<EngineCommand, { requestId: number }>, 'requestId'>, onPartial?: (e: EngineEvent) => void): Promise<EngineEvent> {
    if (this.stoppedWith !== null) return Promise.reject(new EngineStoppedError(this.stoppedWith));
    const requestId = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(requestId, { resolve, reject, onPartial });
      this.send({ ...command, requestId } as EngineCommand);
    });
  }

  private receive(e: EngineEvent): void {
    if (this.stoppedWith !== null) return;
    this.lastHeard = Date.now();
    if (e?.type === 'pong') {
      this.answering = true;
      return;
    }
    if ('requestId' in e && e.requestId !== undefined) {
      const p = this.pending.get(e.requestId);
      if (p) {
        if (PARTIAL_TYPES.has(e.type)) p.onPartial?.(e);
        else {
          this.pending.delete(e.requestId);
          if (e.type === 'error') p.reject(new EngineRequestError(e.error));
          else p.resolve(e);
        }
      }
    } else if (e.type === 'error' && e.error.name === 'DataCloneError') {
      // The worker could not read a command, so it cannot say which: none of the pending ones may be answered.
      this.rejectAll(new EngineRequestError({ ...e.error, message: `${e.error.message}, so a request was lost; try again` }));
    }
    for (const l of this.listeners) l(e);
  }

  /** One heartbeat: pings a quiet worker; declares it dead after `limit` ms of silence since an unanswered ping. */
  private beat(every: number, limit: number): void {
    const t = Date.now();
    if (!this.answering) {
      // Starting: one ping waits in its queue; nothing is judged until it is answered.
      if (this.pingSentAt === null) this.ping(t);
      return;
    }
    if (this.pingSentAt !== null && this.lastHeard < this.pingSentAt) {
      if (t - this.pingSentAt >= limit) {
        this.die(`it has not answered for ${Math.round((t - this.lastHeard) / 1000)} s: its worker has stopped (it may have run out of memory)`);
      }
      return;
    }
    if (t - this.lastHeard >= every) this.ping(t);
  }

  private ping(t: number): void {
    this.pingSentAt = t;
    this.port.postMessage({ type: 'ping' });
  }

  private rejectAll(error: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(error);
  }

  private die(reason: string): void {
    if (this.stoppedWith !== null) return;
    const message = `The engine stopped: ${reason}.`;
    this.stoppedWith = message;
    clearInterval(this.heartbeat);
    this.port.terminate?.();
    this.rejectAll(new EngineStoppedError(message));
    for (const l of this.listeners) l({ type: 'engine-stopped', message });
  }
}
