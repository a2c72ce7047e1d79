import { beforeAll, describe, expect, it } from 'vitest';
import { createRun, loadRun, type CreateProgress } from '../../src/engine/run';
import { GpuOutOfMemoryError } from '../../src/gpu/errors';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../../src/train/checkpoint';
import { resolveRunConfig } from '../../src/train/config';
import { Trainer } from '../../src/train/trainer';
import { testGpu } from '../util/gpu';

// createRun and loadRun: refusals before any allocation, failure paths that release, progress.
// The dense config of faults.test.ts: its pipelines are compiled already when the suite gets here.
const TEXT = 'abcdefghij'.repeat(300);
const CONFIG = {
  model: { contextLength: 16, nLayer: 1, nEmbd: 32, nHead: 2, nKvHead: 1, mlp: 'swiglu' },
  optim: { lr: 1e-2, warmupSteps: 1 },
  train: { batchSize: 4, steps: 6, evalEvery: 0 },
  seed: 3,
};
/** About 200 MiB to train (no single buffer above 64 MiB, so under any device's per-buffer limit). */
const LARGE_MODEL = { contextLength: 16, nLayer: 4, nEmbd: 512, nHead: 8 };

let good: Uint8Array;

/** The good checkpoint with `edit` applied, re-encoded (so its checksum is right and only the edit is wrong). */
function crafted(edit: (c: Checkpoint) => void): Uint8Array {
  const c = decodeCheckpoint(good);
  edit(c);
  return encodeCheckpoint(c);
}

/** Sets one tensor in the parameters and both moments alike. */
const everywhere = (c: Checkpoint, f: (m: Checkpoint['params']) => void) => [c.params, c.optimizer!.m, c.optimizer!.v].forEach(f);

beforeAll(async () => {
  const gpu = await testGpu();
  const run = await createRun(CONFIG, { gpu, text: TEXT });
  good = await run.save();
  run.destroy();
}, 300_000); // compiles the pipelines when this file runs alone

describe('a load or create that fails releases every GPU buffer it made, with its exact error', () => {
  const loads: [string, () => Uint8Array, object][] = [
    ['a missing tensor', () => crafted((c) => everywhere(c, (m) => m.delete('h.0.wk'))), {
      name: 'CheckpointError', code: 'missing-tensor',
      message: 'checkpoint has no parameter "h.0.wk" [32, 16], which the model its config describes needs; the file is incomplete or its config was edited: load a checkpoint Spark Lab saved',
    }],
    ['a transposed tensor', () => crafted((c) => everywhere(c, (m) => (m.get('wte')!.shape = [32, 259]))), {
      name: 'CheckpointError', code: 'shape', message: 'checkpoint parameter "wte" has shape [32, 259] (transposed); the model its config describes needs [259, 32]',
    }],
    ['an extra tensor', () => crafted((c) => everywhere(c, (m) => m.set('h.1.wq', { shape: [32, 32], data: new Float32Array(1024) }))), {
      name: 'CheckpointError', code: 'unexpected-tensor', message: expect.stringMatching(/^checkpoint parameter "h\.1\.wq" is not in the model its config describes/),
    }],
    ['a NaN weight', () => crafted((c) => (c.params.get('h.0.wq')!.data[3] = NaN)), {
      name: 'CheckpointError', code: 'bad-values', message: expect.stringMatching(/^checkpoint parameter "h\.0\.wq" holds NaN at index 3 \(the first bad one of 1024\)/),
    }],
    ['no optimizer state', () => crafted((c) => (c.optimizer = null)), {
      name: 'CheckpointError', code: 'optimizer-mismatch', message: expect.stringMatching(/^checkpoint has no AdamW state/),
    }],
    ['a bad data-order state', () => crafted((c) => (c.rng = { rng: { kind: 'xoshiro128**', s: [0, 0, 0, 0] }, step: 0 })), {
      name: 'CheckpointError', code: 'bad-metadata', message: 'checkpoint rng (the data order) is invalid: RNG state: all-zero state is invalid for xoshiro128**',
    }],
    ['a run too big for the budget', () => crafted((c) => ((c.config as { model: object }).model = LARGE_MODEL)), {
      name: 'LimitExceededError', field: 'model.nEmbd',
      message: expect.stringMatching(/^this checkpoint's run does not fit: training would allocate about \d+\.\d MiB, over the 64\.0 MiB memory budget; the largest part is parameters/),
    }],
  ];

  it.each(loads)('loadRun with %s', async (_, bytes, error) => {
    const gpu = await testGpu();
    const before = gpu.allocatedBytes;
    await expect(loadRun(bytes(), { gpu, text: TEXT, memoryBudgetBytes: 64 * 2 ** 20 })).rejects.toMatchObject(error);
    expect(gpu.allocatedBytes).toBe(before);
  });

  it('loadRun with a corpus too small for one window', async () => {
    const gpu = await testGpu();
    const before = gpu.allocatedBytes;
    await expect(loadRun(good, { gpu, text: 'abcdefghij' })).rejects.toMatchObject({ name: 'ConfigError', field: 'model.contextLength', message: expect.stringMatching(/^the text has 10 tokens/) });
    expect(gpu.allocatedBytes).toBe(before);
  });

  it('createRun refuses a run too big for the device before it reads the corpus (an unknown one here)', async () => {
    const gpu = await testGpu();
    const before = gpu.allocatedBytes;
    const huge = { model: { contextLength: 16, nLayer: 12, nEmbd: 1024, nHead: 8 }, data: { corpus: 'no-such-corpus' } }; // ~2.4 GB
    await expect(createRun(huge, { gpu })).rejects.toMatchObject({ name: 'LimitExceededError' }); // the default budget
    const bpe = { ...CONFIG, data: { corpus: 'no-such-corpus', tokenizer: 'bpe', bpeVocabSize: 65_536 } };
    await expect(createRun(bpe, { gpu, memoryBudgetBytes: 16 * 2 ** 20 })).rejects.toMatchObject({ name: 'LimitExceededError', message: expect.stringMatching(/over the 16\.0 MiB memory budget/) });
    await expect(createRun({ ...CONFIG, data: { corpus: 'no-such-corpus' } }, { gpu })).rejects.toMatchObject({ name: 'ConfigError', field: 'data.corpus' });
    // the vocabulary is derived from the tokenizer: a stated one that differs is refused, not silently replaced
    await expect(createRun({ ...CONFIG, model: { ...CONFIG.model, vocabSize: 300 }, data: { corpus: 'no-such-corpus' } }, { gpu })).rejects.toMatchObject({
      name: 'ConfigError', field: 'model.vocabSize', message: expect.stringMatching(/^model\.vocabSize 300 does not match the tokenizer's 259/),
    });
    expect(gpu.allocatedBytes).toBe(before);
  });

  it('createRun with a text whose validation split cannot fill one evaluation batch', async () => {
    const gpu = await testGpu();
    const before = gpu.allocatedBytes;
    const evaluating = { ...CONFIG, train: { ...CONFIG.train, evalEvery: 2, batchSize: 8 } };
    await expect(createRun(evaluating, { gpu, text: 'abcdefghij'.repeat(100) })).rejects.toMatchObject({
      name: 'ConfigError', field: 'data.validationFraction', message: expect.stringMatching(/holds 6 evaluation windows .* fewer than one batch of train\.batchSize 8.*: raise data\.validationFraction to 0\.129, lower train\.batchSize to 6/),
    });
    expect(gpu.allocatedBytes).toBe(before);
  });

  it('an allocation that fails halfway through building the model or the trainer releases the ones before it', async () => {
    const gpu = await testGpu();
    const before = gpu.allocatedBytes;
    const g = gpu as unknown as Record<'createBuffer' | 'uniform', (...a: unknown[]) => GPUBuffer>;
    const real = { createBuffer: g.createBuffer, uniform: g.uniform };
    let calls = 0;
    let failAt = Infinity;
    for (const k of ['createBuffer', 'uniform'] as const) {
      g[k] = (...a: unknown[]) => {
        if (++calls === failAt) throw new GpuOutOfMemoryError(`injected at allocation ${failAt}`);
        return real[k].apply(gpu, a);
      };
    }
    try {
      (await createRun(CONFIG, { gpu, text: TEXT })).destroy();
      const total = calls; // the model's buffers first, the trainer's (moments, optimizer, reductions) last
      expect(gpu.allocatedBytes).toBe(before);
      for (failAt of [1, Math.floor(total / 3), Math.floor((2 * total) / 3), total - 1, total]) {
        calls = 0;
        await expect(createRun(CONFIG, { gpu, text: TEXT })).rejects.toThrow(`injected at allocation ${failAt}`);
        expect(gpu.allocatedBytes, `failing at allocation ${failAt} of ${total}`).toBe(before);
      }
    } finally {
      Object.assign(g, real);
    }
  });

  it('a Trainer whose training tokens cannot fill one window throws before it allocates', async () => {
    const gpu = await testGpu();
    const before = gpu.allocatedBytes;
    const config = resolveRunConfig(CONFIG);
    expect(() => new Trainer(gpu, config, { train: new Uint32Array(16), validation: new Uint32Array(0) })).toThrow(/the training split has 16 tokens, fewer than one window of seqLen \+ 1 = 17/);
    expect(gpu.allocatedBytes).toBe(before);
  });

  it('a pipeline that fails to compile, or a state that fails to load, releases the whole run', async () => {
    const gpu = await testGpu();
    const before = gpu.allocatedBytes;
    const build = gpu.pipelines.build;
    gpu.pipelines.build = async <T>(construct: () => T): Promise<T> => {
      construct();
      throw new Error('compile failed (injected)');
    };
    try {
      await expect(createRun(CONFIG, { gpu, text: TEXT })).rejects.toThrow('compile failed (injected)');
    } finally {
      gpu.pipelines.build = build;
    }
    expect(gpu.allocatedBytes).toBe(before);
    const loadState = Trainer.prototype.loadState;
    Trainer.prototype.loadState = () => {
      throw new Error('load failed (injected)');
    };
    try {
      await expect(loadRun(good, { gpu, text: TEXT })).rejects.toThrow('load failed (injected)');
    } finally {
      Trainer.prototype.loadState = loadState;
    }
    expect(gpu.allocatedBytes).toBe(before);
    (await loadRun(good, { gpu, text: TEXT })).destroy(); // the good one still loads
    expect(gpu.allocatedBytes).toBe(before);
  });
});

describe('createRun reports its progress', () => {
  /** Checks each phase's reports rise within their total, and returns the phases in order of first report. */
  function phases(seen: CreateProgress[]): string[] {
    const order: string[] = [];
    for (const p of seen) {
      if (!order.includes(p.phase)) order.push(p.phase);
      expect(p.done).toBeGreaterThanOrEqual(0);
      expect(p.done).toBeLessThanOrEqual(p.total);
    }
    for (const key of new Set(seen.map((p) => `${p.phase} ${p.part}`))) {
      const mine = seen.filter((p) => `${p.phase} ${p.part}` === key); // the tokenizer's parts count apart
      for (let i = 1; i < mine.length; i++) expect(mine[i].done).toBeGreaterThanOrEqual(mine[i - 1].done);
    }
    return order;
  }

  it('training the BPE tokenizer, then encoding the corpus (here refused after it, before any buffer)', async () => {
    const gpu = await testGpu();
    const seen: CreateProgress[] = [];
    const bpe = { ...CONFIG, data: { tokenizer: 'bpe', bpeVocabSize: 300 }, train: { ...CONFIG.train, evalEvery: 2, batchSize: 64 } };
    await expect(createRun(bpe, { gpu, text: TEXT, onProgress: (p) => seen.push(p) })).rejects.toMatchObject({ name: 'ConfigError' });
    expect(phases(seen)).toEqual(['tokenizer', 'encoding']);
    expect([...new Set(seen.filter((p) => p.phase === 'tokenizer').map((p) => p.part))]).toEqual(['counting', 'merging']);
    expect(seen.filter((p) => p.phase === 'encoding').at(-1)).toEqual({ phase: 'encoding', done: TEXT.length, total: TEXT.length });
  });

  it('encoding, then building the model (and compiling the kernels it needs, when any are new to the device)', async () => {
    const gpu = await testGpu();
    const seen: CreateProgress[] = [];
    const run = await createRun(CONFIG, { gpu, text: TEXT, onProgress: (p) => seen.push(p) });
    run.destroy();
    const order = phases(seen);
    expect(order.slice(0, 2)).toEqual(['encoding', 'building']);
    expect(seen[0]).toEqual({ phase: 'encoding', done: 0, total: TEXT.length });
    expect(seen.filter((p) => p.phase === 'building')).toEqual([{ phase: 'building', done: 0, total: 1 }, { phase: 'building', done: 1, total: 1 }]);
    const compiling = seen.filter((p) => p.phase === 'compiling');
    if (compiling.length > 0) {
      // between the building reports, from 0 to all of them
      const first = seen.indexOf(compiling[0]!);
      expect(seen[first - 1]).toEqual({ phase: 'building', done: 0, total: 1 });
      expect(seen.at(-1)).toEqual({ phase: 'building', done: 1, total: 1 });
      expect(compiling[0]!.done).toBe(0);
      expect(compiling.at(-1)!.done).toBe(compiling.at(-1)!.total);
    }
  });
});
