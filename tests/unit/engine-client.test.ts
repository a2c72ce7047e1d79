// EngineClient against a fake worker port: requests settle when the worker answers, and every pending request is
// rejected (never left hanging) when the worker fails, goes silent, or sends an answer that cannot be read.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EngineClient, EngineRequestError, EngineStoppedError, type EnginePort } from '../../src/engine/client';
import type { EngineCommand, EngineEvent, RunInfo } from '../../src/engine/protocol';

/** A worker stand-in: records what the client posts; `answer`, `fail` and `garble` play the worker's side. */
class FakePort implements EnginePort {
  readonly sent: EngineCommand[] = [];
  terminated = false;
  /** Answer pings (a live worker); false plays a worker that died silently. */
  alive = true;
  private readonly listeners = new Map<string, ((e: never) => void)[]>();
  postMessage(message: EngineCommand): void {
    this.sent.push(message);
    if (message.type === 'ping' && this.alive) queueMicrotask(() => this.answer({ type: 'pong' }));
  }
  addEventListener(type: string, listener: (e: never) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  terminate(): void {
    this.terminated = true;
  }
  private fire(type: string, e: unknown): void {
    for (const l of this.listeners.get(type) ?? []) l(e as never);
  }
  answer(e: EngineEvent): void {
    this.fire('message', { data: e });
  }
  fail(message: string): void {
    this.fire('error', { message });
  }
  garble(): void {
    this.fire('messageerror', {});
  }
  last<T extends EngineCommand['type']>(type: T): Extract<EngineCommand, { type: T }> {
    return this.sent.filter((c) => c.type === type).at(-1) as Extract<EngineCommand, { type: T }>;
  }
}

const RUN = { runId: 'r1', step: 0 } as RunInfo;
const settled = async <T>(p: Promise<T>) => p.then((v) => ({ ok: true as const, v }), (e: unknown) => ({ ok: false as const, e }));

describe('EngineClient', () => {
  let port: FakePort;
  beforeEach(() => {
    port = new FakePort();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends the memory budget with create and load, and passes build progress to the caller before the answer', async () => {
    const client = new EngineClient(port);
    const seen: string[] = [];
    const made = client.create({ model: {} }, 'some text', { memoryBudgetBytes: 2 ** 30, onProgress: (p) => seen.push(`${p.phase} ${p.done}/${p.total}`) });
    const cmd = port.last('create');
    expect(cmd).toMatchObject({ config: { model: {} }, text: 'some text', memoryBudgetBytes: 2 ** 30 });
    port.answer({ type: 'build-progress', requestId: cmd.requestId, progress: { phase: 'tokenizer', done: 3, total: 10 } });
    port.answer({ type: 'build-progress', requestId: cmd.requestId + 1, progress: { phase: 'encoding', done: 1, total: 2 } }); // not ours
    port.answer({ type: 'run', requestId: cmd.requestId, run: RUN });
    expect(await made).toBe(RUN);
    expect(seen).toEqual(['tokenizer 3/10']);

    const file = new Blob([new Uint8Array(16)]);
    const loaded = client.load(file, undefined, { memoryBudgetBytes: 123 });
    const load = port.last('load');
    expect(load.checkpoint).toBe(file); // the Blob itself: its bytes are read in the worker, never here
    expect(load.memoryBudgetBytes).toBe(123);
    port.answer({ type: 'error', requestId: load.requestId, error: { name: 'CheckpointError', message: 'file is 3000.0 MB', code: 'too-large' } });
    await expect(loaded).rejects.toMatchObject({ name: 'CheckpointError', code: 'too-large' });
    client.loadAutosave('r9');
    expect('memoryBudgetBytes' in port.last('load-autosave')).toBe(false); // none given, none sent
  });

  it("rejects every pending request when the worker fails ('error'), ends it, tells listeners, and refuses new requests", async () => {
    const client = new EngineClient(port);
    const events: EngineEvent[] = [];
    client.on((e) => events.push(e));
    const a = settled(client.create({}));
    const b = settled(client.sample('x', { maxTokens: 4 }, () => undefined));
    const c = settled(client.listAutosaves());
    port.fail('Uncaught RangeError: Array buffer allocation failed');
    for (const r of await Promise.all([a, b, c])) {
      expect(r.ok).toBe(false);
      const e = (r as { e: Error }).e;
      expect(e).toBeInstanceOf(EngineStoppedError);
      expect(e.message).toMatch(/^The engine stopped: its worker failed: Uncaught RangeError: Array buffer allocation failed\.$/);
    }
    expect(port.terminated).toBe(true);
    expect(events).toEqual([{ type: 'engine-stopped', message: expect.stringContaining('Array buffer allocation failed') }]);
    expect(client.stopped).toMatch(/engine stopped/);
    await expect(client.save()).rejects.toBeInstanceOf(EngineStoppedError);
    const before = port.sent.length;
    client.train();
    expect(port.sent.length).toBe(before); // dropped, not posted to a dead worker
    port.answer({ type: 'state', state: 'idle' }); // a late message from the ended worker changes nothing
    expect(events).toHaveLength(1);
  });

  it('declares a silent worker dead after the silence limit, and never a worker that answers its pings', async () => {
    vi.useFakeTimers();
    const client = new EngineClient(port, { pingEveryMs: 1000, silenceLimitMs: 10_000 });
    const events: EngineEvent[] = [];
    client.on((e) => events.push(e));
    // Starting (loading its script, getting a device): one ping waits, nothing is judged, however long it takes.
    port.alive = false;
    port.answer({ type: 'state', state: 'starting' });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(port.sent.filter((c) => c.type === 'ping')).toHaveLength(1);
    expect(client.stopped).toBeNull();
    port.alive = true;
    port.answer({ type: 'pong' }); // it answers: from now on silence counts
    // Alive: a minute of pings, each answered; nothing pending is touched.
    const pendingSave = settled(client.save());
    await vi.advanceTimersByTimeAsync(60_000);
    expect(port.sent.filter((c) => c.type === 'ping').length).toBeGreaterThan(20);
    expect(events).toEqual([{ type: 'state', state: 'starting' }]); // pongs are the client's business
    expect(client.stopped).toBeNull();
    // Busy but talking (a long build sends progress): no pings needed, still alive.
    port.alive = false;
    for (let i = 0; i < 30; i++) {
      port.answer({ type: 'state', state: 'starting' });
      await vi.advanceTimersByTimeAsync(900);
    }
    expect(client.stopped).toBeNull();
    // Silent (closed, or killed for memory): stopped once the limit has passed since an unanswered ping.
    await vi.advanceTimersByTimeAsync(9_000);
    expect(client.stopped).toBeNull();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(client.stopped).toMatch(/The engine stopped: it has not answered for 1\d s: its worker has stopped \(it may have run out of memory\)\./);
    const r = await pendingSave;
    expect(r.ok).toBe(false);
    expect((r as { e: unknown }).e).toBeInstanceOf(EngineStoppedError);
    expect(events.filter((e) => e.type === 'engine-stopped')).toHaveLength(1);
    expect(port.terminated).toBe(true);
    const pings = port.sent.length;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(port.sent.length).toBe(pings); // the heartbeat stopped with it
  });

  it('a message that cannot be read rejects the pending requests (their answer may be lost) but keeps the engine', async () => {
    const client = new EngineClient(port);
    const pending = settled(client.save());
    port.garble();
    const r = await pending;
    expect(r.ok).toBe(false);
    const e = (r as { e: unknown }).e;
    expect(e).toBeInstanceOf(EngineRequestError);
    expect(e).toMatchObject({ name: 'DataCloneError', message: expect.stringMatching(/could not be read.*try again/) });
    expect(client.stopped).toBeNull();
    const again = client.listAutosaves();
    port.answer({ type: 'autosaves', requestId: port.last('list-autosaves').requestId, runs: [] });
    expect(await again).toEqual([]);
  });

  it('a command the worker could not read rejects the pending requests too (the worker cannot say which one it was)', async () => {
    const client = new EngineClient(port);
    const events: EngineEvent[] = [];
    client.on((e) => events.push(e));
    const pending = settled(client.load(new Uint8Array(4)));
    port.answer({ type: 'error', error: { name: 'DataCloneError', message: 'the engine received a message it could not read' } });
    const r = await pending;
    expect(r.ok).toBe(false);
    expect((r as { e: unknown }).e).toMatchObject({ name: 'DataCloneError', message: 'the engine received a message it could not read, so a request was lost; try again' });
    expect(events.map((e) => e.type)).toEqual(['error']); // the page still hears it
    expect(client.stopped).toBeNull();
    // Other errors without a request id (a background failure) leave pending requests alone.
    let settledYet = false;
    const other = client.listAutosaves().finally(() => (settledYet = true));
    port.answer({ type: 'error', error: { name: 'CheckpointError', message: 'autosave failed', code: 'quota' } });
    await Promise.resolve();
    expect(settledYet).toBe(false);
    port.answer({ type: 'autosaves', requestId: port.last('list-autosaves').requestId, runs: [] });
    await other;
  });
});
