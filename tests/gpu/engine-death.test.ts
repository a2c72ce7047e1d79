// A real engine worker that dies: one that throws an uncaught error, and one that closes itself without a word (as a
// worker killed for running out of memory does). The client rejects every pending request and says the engine
// stopped; the autosaves in IndexedDB outlive the worker, and a new one lists them.
import { afterAll, describe, expect, it } from 'vitest';
import { EngineClient, EngineStoppedError } from '../../src/engine/client';
import type { EngineEvent } from '../../src/engine/protocol';
import { CheckpointStore } from '../../src/train/storage';

const RUN_ID = 'engine-death-test-run';

function spawn(options?: { pingEveryMs: number; silenceLimitMs: number }) {
  const client = EngineClient.spawn(options);
  const events: EngineEvent[] = [];
  client.on((e) => events.push(e));
  const ready = new Promise<void>((resolve, reject) => {
    client.on((e) => {
      if (e.type === 'ready') resolve();
      else if (e.type === 'engine-stopped' || (e.type === 'error' && e.requestId === undefined)) reject(new Error(JSON.stringify(e)));
    });
  });
  return { client, events, ready };
}

const rejection = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a rejection'); }, (e: unknown) => e as Error);

describe('engine worker death', () => {
  afterAll(async () => {
    await new CheckpointStore().delete(RUN_ID);
  });

  it('an uncaught error in the worker rejects the pending requests at once; a new worker still lists the autosaves', async () => {
    // An autosave as the engine writes them (the store does not read the bytes).
    await new CheckpointStore().save(RUN_ID, new Uint8Array([1, 2, 3, 4]), { name: 'death test', configSummary: '1 layer', step: 3 });
    const { client, events, ready } = spawn();
    // Sent before the worker has its device: the create waits for it (no GPU work starts that a killed worker would
    // leave the GPU process compiling), and the crash comes first. Were it answered, it would be a ConfigError.
    const create = rejection(client.create({ model: { nEmbd: 30, nHead: 4 } }));
    client.send({ type: 'debug-crash', how: 'throw' });
    ready.catch(() => undefined);
    const e = await create;
    expect(e).toBeInstanceOf(EngineStoppedError);
    expect(e.message).toMatch(/^The engine stopped: its worker failed: .*debug-crash/);
    expect(events.filter((x) => x.type === 'engine-stopped')).toHaveLength(1);
    await expect(client.listAutosaves()).rejects.toBeInstanceOf(EngineStoppedError);

    const next = spawn();
    await next.ready;
    expect((await next.client.listAutosaves()).find((r) => r.id === RUN_ID)).toMatchObject({ name: 'death test', step: 3 });
    next.client.terminate();
  });

  it('a worker that closes itself is noticed by the heartbeat: pending requests are rejected once it is silent too long', async () => {
    const { client, events, ready } = spawn({ pingEveryMs: 100, silenceLimitMs: 2000 });
    await ready;
    await new Promise((r) => setTimeout(r, 800)); // alive: pings answered, nothing happens
    expect(client.stopped).toBeNull();
    client.send({ type: 'debug-crash', how: 'close' });
    const t0 = performance.now();
    const e = await rejection(client.listAutosaves()); // never answered: the worker is gone
    expect(e).toBeInstanceOf(EngineStoppedError);
    expect(e.message).toMatch(/has not answered for \d+ s: its worker has stopped \(it may have run out of memory\)/);
    expect(performance.now() - t0).toBeLessThan(6000);
    expect(events.at(-1)).toEqual({ type: 'engine-stopped', message: e.message });
  });
});
