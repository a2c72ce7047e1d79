// A test-time sweep through the real engine worker: every strategy yields its point, samples come with verdicts.
import { describe, expect, it } from 'vitest';
import { reasoningCorpus } from '../../src/data/tasks';
import { EngineClient } from '../../src/engine/client';
import type { SweepEvent } from '../../src/eval/sweep';
import { estimateTrainingMemory } from '../../src/model/memory';
import { resolveRunConfig } from '../../src/train/config';

describe('engine: test-time sweep', () => {
  it('trains a tiny reasoner for a few steps, sweeps N, thinking budgets and contemplation, and refuses a bad sweep', async () => {
    const client = EngineClient.spawn();
    const text = reasoningCorpus({ tasks: ['addition'], difficulty: 1, examples: 800, seed: 2 });
    const config = {
      data: { corpus: 'user' },
      model: { contextLength: 48, nLayer: 1, nEmbd: 32, nHead: 2, nKvHead: 1 },
      train: { batchSize: 4, steps: 3, evalEvery: 0, autosaveEvery: 0 },
    };
    // A budget of the run's training memory plus 4 MiB: what is left bounds the sweep's decoding.
    const training = estimateTrainingMemory({ ...resolveRunConfig(config), model: { ...resolveRunConfig(config).model, vocabSize: 259 } }).totalBytes;
    const run = await client.create(config, text, { memoryBudgetBytes: training + 4 * 2 ** 20 });
    expect(run.step).toBe(0);
    const done = new Promise<void>((resolve) => client.on((e) => e.type === 'done' && resolve()));
    client.train();
    await done;

    const events: SweepEvent[] = [];
    const result = await client.sweep(
      { task: 'addition', difficulty: 1, problems: 2, ns: [1, 2], budgets: [0, 3], extends: [2], reasoners: 2, maxThinkingTokens: 6, maxAnswerTokens: 3, temperature: 1, seed: 1 },
      (e) => events.push(e),
    );
    const points = events.flatMap((e) => (e.kind === 'point' ? [e.point] : []));
    const strategies = new Set(points.map((p) => p.strategy));
    expect([...strategies].sort()).toEqual(['budget-cap', 'budget-extend', 'contemplate-vote', 'contemplate-write', 'logprob', 'majority', 'oracle', 'weighted']);
    expect(points.filter((p) => p.strategy === 'budget-cap').map((p) => p.budget)).toEqual([0, 3]);
    for (const p of points) {
      expect(p.total).toBe(2);
      expect(p.tokens).toBeGreaterThan(0);
      expect(p.ms).toBeGreaterThan(0);
    }
    // a cap of 0 thinking tokens: every budget-cap-0 sample closes thinking at once
    const capped = events.flatMap((e) => (e.kind === 'samples' ? e.samples : [])).filter((s) => s.strategy === 'budget-cap' && s.budget === 0);
    expect(capped).toHaveLength(2);
    for (const s of capped) expect(s.completion.startsWith('</think>')).toBe(true);
    expect(events.at(-1)).toMatchObject({ kind: 'progress', label: 'done' });
    expect(result.config.ns).toEqual([1, 2]);

    await expect(client.sweep({ task: 'chess' }, () => undefined)).rejects.toMatchObject({ name: 'ConfigError', field: 'sweep.task' });
    await expect(client.sweep({ ns: [0] }, () => undefined)).rejects.toMatchObject({ name: 'ConfigError', field: 'sweep.ns' });
    // 16 problems × 256 samples decode 4,096 sequences at once: more than the 4 MiB the budget leaves beside training
    await expect(client.sweep({ problems: 16, ns: [256], budgets: [], reasoners: 0 }, () => undefined)).rejects.toMatchObject({
      name: 'LimitExceededError', field: 'sweep.problems', message: expect.stringMatching(/^16 problems × 256 samples .* over the 4\.0 MiB memory budget for decoding/),
    });
  }, 300_000);
});
