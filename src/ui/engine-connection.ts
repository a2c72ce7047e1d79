import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { EngineClient } from '../engine/client';
import type { EngineEvent } from '../engine/protocol';
import { errorText } from './error-text';
import type { GpuStatusState } from './gpu-status';

/** How long the page waits for the engine's first word before saying it did not start. */
const ENGINE_START_TIMEOUT_MS = 60_000;

/**
 * The page's engine worker over its life, as a Lit controller: spawns it when the host connects, says so when it
 * does not start or when it dies (the client's 'engine-stopped'), and spawns a new one on restart. The host gets
 * every event of the current worker; events of a replaced one are dropped.
 */
export class EngineConnection implements ReactiveController {
  client: EngineClient | null = null;
  /** What the device panel shows: starting, the adapter, why there is none, or that the engine stopped. */
  status: GpuStatusState = { kind: 'pending' };
  /** The adapter's limits from the last 'ready' (kept across a restart, for the memory budget). */
  limits: Record<string, number> | null = null;
  private startTimer = 0;

  constructor(private readonly host: ReactiveControllerHost, private readonly onEvent: (e: EngineEvent) => void) {
    host.addController(this);
  }

  hostConnected(): void {
    if (!this.client) this.start();
  }

  hostDisconnected(): void {
    clearTimeout(this.startTimer);
  }

  /** Shows a device problem (no WebGPU) in the panel. */
  showProblem(name: string, message: string): void {
    this.status = { kind: 'error', name, message };
    this.host.requestUpdate();
  }

  /** Ends the current worker (if any) and spawns a new one; the host hears its 'ready' as for the first. */
  restart(): void {
    const old = this.client;
    this.client = null;
    old?.terminate();
    this.start();
  }

  private start(): void {
    clearTimeout(this.startTimer);
    this.status = { kind: 'pending' };
    this.host.requestUpdate();
    try {
      const client = EngineClient.spawn();
      this.client = client;
      client.on((e) => client === this.client && this.receive(e));
      this.startTimer = window.setTimeout(() => {
        if (this.status.kind !== 'pending') return;
        this.showProblem('EngineStartError', `The engine worker did not answer within ${ENGINE_START_TIMEOUT_MS / 1000} s. Reload the page; if it happens again, check the browser console.`);
      }, ENGINE_START_TIMEOUT_MS);
    } catch (e) {
      this.showProblem(errorText(e).name, `The engine worker could not start: ${errorText(e).message}`);
    }
  }

  private receive(e: EngineEvent): void {
    if (e.type === 'ready') {
      clearTimeout(this.startTimer);
      this.status = { kind: 'ready', adapter: e.adapter, features: e.features, limits: e.limits };
      this.limits = e.limits;
      this.host.requestUpdate();
    } else if (e.type === 'tuning' && this.status.kind === 'ready') {
      this.status = { ...this.status, tuning: e.tuning ?? this.status.tuning ?? null, tuningProgress: e.tuning ? null : (e.progress ?? null) };
      this.host.requestUpdate();
    } else if (e.type === 'engine-stopped') {
      clearTimeout(this.startTimer);
      this.status = { kind: 'stopped', message: e.message };
      this.host.requestUpdate();
    }
    this.onEvent(e);
  }
}
