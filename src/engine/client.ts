/**
 * The page's handle on the engine worker: sends typed commands, turns request/answer pairs into promises and
 * fans the event stream out to listeners. It holds no GPU object; the UI uses only this.
 */
import type { EngineCommand, EngineError, EngineEvent, RunInfo, SampleOptions } from './protocol';
import type { StoredRun } from '../train/storage';
import type { SweepConfig, SweepEvent } from '../eval/sweep';

/** What a client talks to: a Worker, or anything with the same two methods (tests use a MessageChannel port). */
export interface EnginePort {
  postMessage(message: EngineCommand, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent<EngineEvent>) => void): void;
}

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

/** `onPartial` gets a request's intermediate events (sample chunks, sweep events) before its answer. */
type Pending = { resolve: (e: EngineEvent) => void; reject: (e: Error) => void; onPartial?: (e: EngineEvent) => void };
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export class EngineClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(e: EngineEvent) => void>();

  constructor(private readonly port: EnginePort) {
    port.addEventListener('message', (m) => this.receive(m.data));
  }

  /** The worker build used by the page. */
  static spawn(): EngineClient {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'spark-lab-engine' });
    return new EngineClient(worker as unknown as EnginePort);
  }

  /** Subscribes to every event; returns the unsubscribe function. */
  on(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  send(command: EngineCommand, transfer: Transferable[] = []): void {
    this.port.postMessage(command, transfer);
  }

  create(config: unknown, text?: string): Promise<RunInfo> {
    return this.request({ type: 'create', config, text }).then((e) => (e as Extract<EngineEvent, { type: 'run' }>).run);
  }

  /** `text`: the training text of a run trained on a dropped file (a checkpoint does not hold it). */
  load(bytes: Uint8Array, text?: string): Promise<RunInfo> {
    return this.request({ type: 'load', bytes, text }).then((e) => (e as Extract<EngineEvent, { type: 'run' }>).run);
  }

  loadAutosave(runId: string, text?: string): Promise<RunInfo> {
    return this.request({ type: 'load-autosave', runId, text }).then((e) => (e as Extract<EngineEvent, { type: 'run' }>).run);
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

  save(): Promise<{ bytes: Uint8Array; fileName: string }> {
    return this.request({ type: 'save' }).then((e) => e as Extract<EngineEvent, { type: 'saved' }>);
  }

  listAutosaves(): Promise<StoredRun[]> {
    return this.request({ type: 'list-autosaves' }).then((e) => (e as Extract<EngineEvent, { type: 'autosaves' }>).runs);
  }

  deleteAutosave(runId: string): Promise<void> {
    return this.request({ type: 'delete-autosave', runId }).then(() => undefined);
  }

  private request(command: DistributiveOmit<Extract<EngineCommand, { requestId: number }>, 'requestId'>, onPartial?: (e: EngineEvent) => void): Promise<EngineEvent> {
    const requestId = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(requestId, { resolve, reject, onPartial });
      this.send({ ...command, requestId } as EngineCommand);
    });
  }

  private receive(e: EngineEvent): void {
    if ('requestId' in e && e.requestId !== undefined) {
      const p = this.pending.get(e.requestId);
      if (p) {
        if (e.type === 'sample-chunk' || e.type === 'sweep') p.onPartial?.(e);
        else {
          this.pending.delete(e.requestId);
          if (e.type === 'error') p.reject(new EngineRequestError(e.error));
          else p.resolve(e);
        }
      }
    }
    for (const l of this.listeners) l(e);
  }
}
