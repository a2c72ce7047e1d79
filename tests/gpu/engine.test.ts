// The engine through its real Web Worker (EngineClient.spawn), on the browser's WebGPU device.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineClient } from '../../src/engine/client';
import type { EngineEvent, EngineState } from '../../src/engine/protocol';
import { SPECIAL_TOKENS } from '../../src/data/tokenizer';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint';

// The next byte is fixed by the current one: tens of steps teach it (see train.test.ts).
const PERIODIC = 'abcdefghij'.repeat(1500);

const tiny = (train: Record<string, unknown> = {}, model: Record<string, unknown> = {}) => ({
  data: { corpus: 'user', validationFraction: 0.1 },
  model: { contextLength: 16, nLayer: 1, nEmbd: 32, nHead: 2, nKvHead: 1, ...model },
  optim: { lr: 1e-2, warmupSteps: 2 },
  train: { batchSize: 4, steps: 8, evalEvery: 0, evalBatches: 2, autosaveEvery: 0, ...train },
  seed: 7,
});
const TOKENS_PER_STEP = 4 * 16;
const DEBUG = false; // true: log every event with its time (what a slow or stuck test was waiting for)

type Ev<T extends EngineEvent['type']> = Extract<EngineEvent, { type: T }>;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A spawned engine and every event it sent, with waits that look at past events too. */
class Harness {
  readonly client = EngineClient.spawn();
  readonly events: EngineEvent[] = [];
  private waiters: (() => void)[] = [];
  /** Errors a test provoked on purpose. */
  readonly expected = new Set<EngineEvent>();

  constructor() {
    const t0 = performance.now();
    this.client.on((e) => {
      if (DEBUG) console.log(`${((performance.now() - t0) / 1000).toFixed(2)}s ${JSON.stringify(e).slice(0, 140)}`);
      this.events.push(e);
      for (const w of this.waiters.slice()) w();
    });
  }

  /** Index of the next event (a mark to look after). */
  get mark(): number {
    return this.events.length;
  }

  of<T extends EngineEvent['type']>(type: T, from = 0, to = this.events.length): Ev<T>[] {
    return this.events.slice(from, to).filter((e): e is Ev<T> => e.type === type);
  }

  /** The first event of `type` at index ≥ from that satisfies `pred`, with its index. */
  waitFor<T extends EngineEvent['type']>(type: T, from = 0, pred: (e: Ev<T>) => boolean = () => true, timeoutMs = 90_000): Promise<{ e: Ev<T>; at: number }> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const at = this.events.findIndex((e, i) => i >= from && e.type === type && pred(e as Ev<T>));
        if (at < 0) return false;
        this.waiters = this.waiters.filter((w) => w !== check);
        clearTimeout(timer);
        resolve({ e: this.events[at] as Ev<T>, at });
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        const tail = this.events.slice(-8).map((e) => JSON.stringify(e).slice(0, 160));
        reject(new Error(`no '${type}' event after #${from} within ${timeoutMs} ms; last events:\n${tail.join('\n')}`));
      }, timeoutMs);
      if (!check()) this.waiters.push(check);
    });
  }

  waitState(state: EngineState, from = 0) {
    return this.waitFor('state', from, (e) => e.state === state);
  }

  /** Trains and waits until training has ended (state back to idle). */
  async trainToIdle(steps?: number): Promise<number> {
    const from = this.mark;
    this.client.train(steps);
    const { at } = await this.waitState('training', from);
    return (await this.waitState('idle', at)).at;
  }

  /** Errors that belong to no request: none should happen. */
  strayErrors() {
    return this.of('error').filter((e) => e.requestId === undefined && !this.expected.has(e)).map((e) => e.error);
  }
}

let engine: Harness;
const runIds: string[] = [];

beforeAll(async () => {
  engine = new Harness();
  const { e } = await engine.waitFor('ready');
  expect(e.limits.maxBufferSize).toBeGreaterThan(0);
  expect(typeof e.features.subgroups).toBe('boolean');
});

afterAll(async () => {
  for (const id of runIds) await engine.client.deleteAutosave(id);
  expect(engine.strayErrors()).toEqual([]);
});

async function create(config: unknown): Promise<string> {
  const info = await engine.client.create(config, PERIODIC);
  runIds.push(info.runId);
  return info.runId;
}

describe('engine worker', () => {
  it('creates a run and trains it to done, reporting every step, evaluations and autosaves', async () => {
    const from = engine.mark;
    const info = await engine.client.create(tiny({ steps: 20, evalEvery: 10, autosaveEvery: 10 }), PERIODIC);
    runIds.push(info.runId);
    expect(info).toMatchObject({ step: 0, tokensPerStep: TOKENS_PER_STEP, optimizerFlopsPerStep: 0, config: { model: { nLayer: 1, nEmbd: 32 } } });
    expect(info.params).toBeGreaterThan(0);
    expect(info.unigramEntropy).toBeCloseTo(Math.log(10), 2);
    engine.client.train();
    const done = await engine.waitFor('done', from);
    expect(done.e.step).toBe(20);
    const progress = engine.of('progress', from);
    const steps = progress.flatMap((p) => p.steps);
    expect(steps.map((s) => s.step)).toEqual(range(0, 20));
    expect(steps.every((s) => Number.isFinite(s.loss) && s.loss > 0 && !s.skipped)).toBe(true);
    expect(steps.at(-1)!.loss).toBeLessThan(steps[0].loss);
    for (const p of progress) expect(p.step).toBe(p.steps.at(-1)!.step + 1);
    expect(progress.at(-1)!).toMatchObject({ step: 20, tokens: 20 * TOKENS_PER_STEP });
    expect(progress.some((p) => p.moe !== undefined)).toBe(false); // a dense model has no expert loads
    const evals = engine.of('eval', from);
    expect(evals.map((e) => e.step)).toEqual([10, 20]);
    expect(evals.every((e) => Number.isFinite(e.valLoss))).toBe(true);
    expect(engine.of('autosaved', from).map((e) => [e.runId, e.step])).toEqual([[info.runId, 0], [info.runId, 10], [info.runId, 20]]);
    // training, then idle once done
    const idle = await engine.waitState('idle', done.at);
    expect(engine.of('state', from, idle.at + 1).map((e) => e.state).slice(-2)).toEqual(['training', 'idle']);
    // at the end already: 'train' just says done again
    const again = engine.mark;
    engine.client.train();
    expect((await engine.waitFor('done', again)).e.step).toBe(20);
  });

  it('pauses between progress messages, resumes, stops (autosaving) and trains on from where it stopped', async () => {
    const runId = await create(tiny({ steps: 2000, autosaveEvery: 5000 }));
    const from = engine.mark;
    engine.client.train();
    await engine.waitFor('progress', from);
    engine.client.train(); // already training: refused, and training goes on
    const refused = await engine.waitFor('error', from);
    engine.expected.add(refused.e);
    expect(refused.e.error).toMatchObject({ name: 'EngineStateError', message: expect.stringMatching(/already training/) });
    engine.client.pause();
    const paused = await engine.waitState('paused', from);
    const count = engine.of('progress', from).length;
    await sleep(800);
    expect(engine.of('progress', from).length).toBe(count);
    const resumeAt = engine.mark;
    engine.client.resume();
    await engine.waitState('training', resumeAt);
    await engine.waitFor('progress', paused.at);
    const stopAt = engine.mark;
    engine.client.stop();
    const idle = await engine.waitState('idle', stopAt);
    const stoppedAt = engine.of('autosaved', stopAt, idle.at).at(-1)!;
    expect(stoppedAt.runId).toBe(runId);
    expect(stoppedAt.step).toBeGreaterThan(0);
    expect(stoppedAt.step).toBeLessThan(2000);
    expect(engine.of('done', from)).toEqual([]);
    const more = engine.mark;
    await engine.trainToIdle(3);
    expect(engine.of('progress', more).at(-1)!.step).toBe(stoppedAt.step + 3);
    expect(engine.of('autosaved', more).map((e) => e.step)).toEqual([stoppedAt.step + 3]);
  });

  it('streams samples, and sampling during training pauses it for the sample and then resumes it', async () => {
    await create(tiny({ steps: 2000 }));
    const from = engine.mark;
    engine.client.train();
    await engine.waitFor('progress', from);
    const chunks: string[] = [];
    const sampleAt = engine.mark;
    const s = await engine.client.sample('abc', { maxTokens: 8, temperature: 0 }, (t) => chunks.push(t));
    expect(s.tokens).toBe(8);
    expect(s.tokensPerSecond).toBeGreaterThan(0);
    expect(s.text).toBe(chunks.join(''));
    expect(engine.of('sample-chunk', sampleAt).length).toBe(chunks.length);
    const back = await engine.waitState('training', sampleAt);
    expect(engine.of('state', sampleAt, back.at + 1).map((e) => e.state)).toEqual(['sampling', 'training']);
    await engine.waitFor('progress', engine.mark); // training goes on
    const stopAt = engine.mark;
    engine.client.stop();
    await engine.waitState('idle', stopAt);
    const a = await engine.client.sample('abcdef', { maxTokens: 12, temperature: 0 });
    const b = await engine.client.sample('abcdef', { maxTokens: 12, temperature: 0 });
    expect(a.text.length).toBeGreaterThan(0);
    expect(b.text).toBe(a.text);
    await expect(engine.client.sample('abc', { maxTokens: 0 })).rejects.toMatchObject({ name: 'RangeError' });
  });

  it('save → load gives the same step, and training continues exactly as it would have', async () => {
    const runId = await create(tiny({ steps: 12 }));
    await engine.trainToIdle(6);
    const saved = await engine.client.save();
    expect(saved.fileName).toMatch(/-L1-d32-step000006\.safetensors$/);
    const tailAt = engine.mark;
    engine.client.train();
    await engine.waitFor('done', tailAt);
    const tail = engine.of('progress', tailAt).flatMap((p) => p.steps);
    const info = await engine.client.load(saved.bytes, PERIODIC);
    runIds.push(info.runId);
    expect(info.step).toBe(6);
    expect(info.runId).not.toBe(runId);
    const from = engine.mark;
    engine.client.train();
    expect((await engine.waitFor('done', from)).e.step).toBe(12);
    const resumed = engine.of('progress', from).flatMap((p) => p.steps);
    expect(resumed.map((s) => s.step)).toEqual(range(6, 12));
    expect(resumed.map((s) => s.loss)).toEqual(tail.map((s) => s.loss));
  });

  it('autosaves show up in listAutosaves; loadAutosave restores the run under its id', async () => {
    const from = engine.mark;
    const runId = await create(tiny({ steps: 8, autosaveEvery: 4 }));
    engine.client.train();
    await engine.waitFor('done', from);
    expect(engine.of('autosaved', from).map((e) => e.step)).toEqual([0, 4, 8]);
    const listed = (await engine.client.listAutosaves()).find((r) => r.id === runId);
    expect(listed).toMatchObject({ id: runId, step: 8, configSummary: expect.stringContaining('d=32') });
    expect(listed!.byteSize).toBeGreaterThan(0);
    await create(tiny({ steps: 3 })); // another run replaces it
    const info = await engine.client.loadAutosave(runId);
    expect(info).toMatchObject({ runId, step: 8 });
    expect((await engine.client.save()).fileName).toMatch(/step000008/);
    await engine.client.deleteAutosave(runId);
    expect((await engine.client.listAutosaves()).some((r) => r.id === runId)).toBe(false);
    await expect(engine.client.loadAutosave(runId)).rejects.toMatchObject({ name: 'CheckpointError', code: 'storage' });
  });

  it('a bad config is refused with the field to change', async () => {
    await expect(engine.client.create({ model: { nEmbd: 30, nHead: 4 } })).rejects.toMatchObject({ name: 'ConfigError', field: 'model.nEmbd' });
    await expect(engine.client.create({ trian: { steps: 3 } })).rejects.toMatchObject({ name: 'ConfigError', field: 'trian' });
    await expect(engine.client.create({ train: { steps: -1 } })).rejects.toMatchObject({ name: 'ConfigError', field: 'train.steps' });
  });

  it('dispose drops the run; commands that need one say so', async () => {
    const at = engine.mark;
    engine.client.send({ type: 'dispose' });
    await engine.waitState('no-run', at);
    await expect(engine.client.save()).rejects.toMatchObject({ name: 'EngineStateError', message: expect.stringMatching(/no run/) });
    await expect(engine.client.sample('a', { maxTokens: 2 })).rejects.toMatchObject({ name: 'EngineStateError' });
  });

  it('corrupt and hostile checkpoints are refused with their CheckpointError code; the current run and the autosaves are untouched', async () => {
    await create(tiny({ steps: 4 }));
    await engine.trainToIdle(2);
    const good = await engine.client.save();
    const before = await engine.client.sample('abc', { maxTokens: 6, temperature: 0 });
    const autosaves = await engine.client.listAutosaves();
    const flipped = good.bytes.slice();
    flipped[flipped.length - 7] ^= 0x40;
    await expect(engine.client.load(flipped, PERIODIC)).rejects.toMatchObject({ name: 'CheckpointError', code: 'checksum' });
    await expect(engine.client.load(new Uint8Array([1, 2, 3]), PERIODIC)).rejects.toMatchObject({ name: 'CheckpointError', code: 'truncated' });
    // A tokenizer bomb: 30 merges, each doubling a token, in a few hundred bytes of metadata (~2 GB if built).
    const merges = [97, 97];
    for (let i = 1; i < 30; i++) merges.push(258 + i, 258 + i);
    const bomb = decodeCheckpoint(good.bytes);
    bomb.tokenizer = { kind: 'bpe', version: 1, pretokenizer: 'spark-v1', specials: [...SPECIAL_TOKENS], vocabSize: 259 + 30, merges };
    await expect(engine.client.load(encodeCheckpoint(bomb), PERIODIC)).rejects.toMatchObject({
      name: 'CheckpointError', code: 'bad-metadata', message: expect.stringMatching(/^checkpoint tokenizer \(metadata "tokenizer"\) is refused: .*merge 8.*256-byte/),
    });
    // A config far beyond the device: refused from the stored config, before a tensor is converted.
    const huge = decodeCheckpoint(good.bytes);
    (huge.config as { model: Record<string, number> }).model = { ...(huge.config as { model: Record<string, number> }).model, nLayer: 96, nEmbd: 2048, nHead: 16 };
    await expect(engine.client.load(encodeCheckpoint(huge), PERIODIC)).rejects.toMatchObject({ name: 'LimitExceededError' });
    expect((await engine.client.save()).fileName).toBe(good.fileName);
    expect((await engine.client.sample('abc', { maxTokens: 6, temperature: 0 })).text).toBe(before.text);
    expect(await engine.client.listAutosaves()).toEqual(autosaves);
  });

  it('loads a checkpoint sent as a File: the worker checks its size and header, then reads it', async () => {
    await create(tiny({ steps: 4 }));
    await engine.trainToIdle(2);
    const saved = await engine.client.save();
    const info = await engine.client.load(new File([saved.bytes as Uint8Array<ArrayBuffer>], saved.fileName), PERIODIC);
    runIds.push(info.runId);
    expect(info.step).toBe(2);
    // A 16-byte file whose header length claims 200 MiB: refused from its first 9 bytes.
    const bomb = new Uint8Array(16);
    new DataView(bomb.buffer).setUint32(0, 200 * 2 ** 20, true);
    bomb[8] = 0x7b;
    await expect(engine.client.load(new File([bomb], 'bomb.safetensors'), PERIODIC)).rejects.toMatchObject({ name: 'CheckpointError', code: 'header-too-large' });
  });

  it('an MoE model reports expert loads that add up to tokens·k', async () => {
    const from = engine.mark;
    await create(tiny({ steps: 12, autosaveEvery: 4 }, { nLayer: 2, moeEvery: 1, moeExperts: 4, moeTopK: 2 }));
    engine.client.train();
    await engine.waitFor('done', from);
    const withLoads = engine.of('progress', from).filter((p) => p.moe);
    expect(withLoads.length).toBeGreaterThan(0);
    for (const p of withLoads) expect(p.moe!.map((l) => l.layer)).toEqual([0, 1]);
    for (const l of withLoads.flatMap((p) => p.moe!)) {
      expect(l.load).toHaveLength(4);
      expect(l.routed).toBe(TOKENS_PER_STEP * 2);
      expect(l.load.reduce((a, b) => a + b, 0)).toBe(l.routed);
      expect(l.dropped).toBeGreaterThanOrEqual(0);
      expect(l.dropped).toBeLessThanOrEqual(l.routed);
    }
  });

  // Last: it leaves the shared engine on a new device. Recompiling every pipeline on it takes a minute on SwiftShader.
  it('recovers from device loss mid-training from the last autosave and trains on to done', { timeout: 300_000 }, async () => {
    const lossy = engine;
    const every = 8;
    const info = await lossy.client.create(tiny({ steps: 64, autosaveEvery: every }), PERIODIC);
    runIds.push(info.runId);
    lossy.client.train();
    const from = lossy.mark;
    const saved = await lossy.waitFor('autosaved', from, (e) => e.step >= 2 * every);
    await lossy.waitFor('progress', saved.at);
    lossy.client.send({ type: 'debug-lose-device' });
    const lost = await lossy.waitFor('device-lost', saved.at);
    const lastSaved = lossy.of('autosaved', from, lost.at).at(-1)!.step;
    const lastSeen = Math.max(...lossy.of('progress', from, lost.at).map((p) => p.step));
    expect(lost.e.recoveredFromStep).toBe(lastSaved);
    expect(lastSeen - lastSaved).toBeLessThanOrEqual(every);
    expect(lastSeen).toBeLessThan(64);
    const reloaded = await lossy.waitFor('run', lost.at, () => true, 240_000);
    expect(reloaded.e.requestId).toBeUndefined();
    expect(reloaded.e.run).toMatchObject({ runId: info.runId, step: lastSaved });
    const done = await lossy.waitFor('done', lost.at, () => true, 240_000);
    expect(done.e.step).toBe(64);
    expect(lossy.of('ready').length).toBe(2);
    const after = lossy.of('progress', reloaded.at).flatMap((p) => p.steps);
    expect(after.map((s) => s.step)).toEqual(range(lastSaved, 64));
    expect(after.every((s) => Number.isFinite(s.loss))).toBe(true);
  });
});
