// How the engine builds a run, with createRun/loadRun, the device and its kernel tuning replaced by recorders (Node has no WebGPU):
// the page's memory budget and a progress callback reach them, progress goes out as 'build-progress' events with
// the request's id, thinned, and the budget is kept for the reload after a device loss.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { EngineEvent } from '../../src/engine/protocol';
import type { CreateProgress, RunOptions } from '../../src/engine/run';

const calls: { fn: 'createRun' | 'loadRun'; opts: RunOptions }[] = [];

vi.mock('../../src/gpu/device', () => ({
  requestGpu: async () => ({ limits: { maxBufferSize: 2 ** 30 }, adapter: { vendor: 'fake' }, features: {} }),
}));
const tuning = vi.hoisted(() => ({ fails: false }));
vi.mock('../../src/kernels/autotune', () => ({
  tuneKernels: async () => {
    if (tuning.fails) throw new Error('every candidate gave a wrong result');
    return { choices: {}, measured: [], ms: 0, tunedAt: 0, version: 1, key: 'fake' };
  },
}));
vi.mock('../../src/engine/run', () => {
  /** Reports a BPE training of 1000 merges at one report per merge, then refuses as a budget check would. */
  const build = (fn: 'createRun' | 'loadRun') => async (_input: unknown, opts: RunOptions) => {
    calls.push({ fn, opts });
    const p: CreateProgress = { phase: 'tokenizer', done: 0, total: 1000 };
    for (let i = 0; i <= 1000; i++) opts.onProgress?.({ ...p, done: i });
    opts.onProgress?.({ phase: 'encoding', done: 0, total: 1 });
    throw Object.assign(new Error('training would allocate about 1.85 GiB, over the 64.0 MiB memory budget'), { name: 'LimitExceededError', field: 'model.nEmbd' });
  };
  return { createRun: build('createRun'), loadRun: build('loadRun') };
});

const { Engine } = await import('../../src/engine/engine');

async function answerOf(events: EngineEvent[], requestId: number): Promise<EngineEvent> {
  for (let i = 0; i < 200; i++) {
    const hit = events.find((e) => 'requestId' in e && e.requestId === requestId && e.type !== 'build-progress');
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`no answer to request ${requestId}`);
}

describe('engine: building a run', () => {
  beforeEach(() => {
    calls.length = 0;
    tuning.fails = false;
  });

  it('says so when measuring the kernels fails, and builds runs with the default choices all the same', async () => {
    tuning.fails = true;
    const events: EngineEvent[] = [];
    const engine = new Engine((e) => events.push(e), { store: { load: async () => new Uint8Array(8), list: async () => [] } as never });
    engine.handle({ type: 'create', requestId: 3, config: {}, text: 'abc' });
    await answerOf(events, 3);
    expect(calls).toHaveLength(1); // the build was reached
    const said = events.find((e) => e.type === 'error' && !('requestId' in e && e.requestId !== undefined));
    expect(said).toMatchObject({ error: { message: expect.stringMatching(/measuring the kernel variants on this device failed, so it runs with the default choices: every candidate/) } });
    expect(events.some((e) => e.type === 'tuning')).toBe(false);
  });

  it('passes the memory budget and a progress callback; progress goes out thinned, with the request id', async () => {
    const events: EngineEvent[] = [];
    const engine = new Engine((e) => events.push(e), { store: { load: async () => new Uint8Array(8), list: async () => [] } as never });
    engine.handle({ type: 'create', requestId: 7, config: {}, text: 'abc', memoryBudgetBytes: 64 * 2 ** 20 });
    const answer = await answerOf(events, 7);
    expect(answer).toMatchObject({ type: 'error', error: { name: 'LimitExceededError', field: 'model.nEmbd' } });
    expect(calls).toHaveLength(1);
    expect(calls[0].opts).toMatchObject({ text: 'abc', memoryBudgetBytes: 64 * 2 ** 20 });
    const progress = events.filter((e): e is Extract<EngineEvent, { type: 'build-progress' }> => e.type === 'build-progress');
    expect(progress.every((e) => e.requestId === 7)).toBe(true);
    expect(progress[0].progress).toEqual({ phase: 'tokenizer', done: 0, total: 1000 });
    expect(progress.some((e) => e.progress.phase === 'tokenizer' && e.progress.done === 1000)).toBe(true);
    expect(progress.at(-1)!.progress).toEqual({ phase: 'encoding', done: 0, total: 1 });
    expect(progress.length).toBeLessThan(50); // not one event per merge (the merges here take a few ms in all)

    engine.handle({ type: 'load', requestId: 8, checkpoint: new Uint8Array(8), memoryBudgetBytes: 5 * 2 ** 30 });
    await answerOf(events, 8);
    engine.handle({ type: 'load-autosave', requestId: 9, runId: 'r', memoryBudgetBytes: 3 * 2 ** 30 });
    await answerOf(events, 9);
    expect(calls.map((c) => [c.fn, c.opts.memoryBudgetBytes])).toEqual([['createRun', 64 * 2 ** 20], ['loadRun', 5 * 2 ** 30], ['loadRun', 3 * 2 ** 30]]);
    expect(calls.every((c) => typeof c.opts.onProgress === 'function')).toBe(true);
  });
});
