// The engine's sweep job: events stream out, the budget reaches the sweep, and the decoder set is freed at the end.
import { describe, expect, it } from 'vitest';
import { ByteTokenizer } from '../../src/data/tokenizer';
import { sweepJob } from '../../src/engine/inference';
import type { EngineEvent } from '../../src/engine/protocol';
import type { Run } from '../../src/engine/run';
import type { BatchSampleOptions, BatchSampleResult, FitCheck } from '../../src/eval/batch-sample';
import { resolveSweepConfig } from '../../src/eval/sweep-config';

/** Answers nothing (every sample wrong); records what the job asks of it. */
class FakeSampler {
  budgets: (number | undefined)[] = [];
  released = 0;
  async sample(prompts: readonly Uint32Array[], opts: BatchSampleOptions): Promise<BatchSampleResult> {
    this.budgets.push(opts.memoryBudgetBytes);
    const sequences = prompts.flatMap((_, prompt) => Array.from({ length: opts.samplesPerPrompt }, (_, sample) => ({ prompt, sample, tokens: [], logprobs: [] })));
    return { sequences, generatedTokens: 0, ms: 1, tokensPerSecond: 0 };
  }
  checkFits(S: number, _P: number, fit: FitCheck): void {
    if (fit.budgetBytes !== undefined && S > 4) throw Object.assign(new Error(`${fit.what} is too many`), { name: 'LimitExceededError', field: fit.field });
  }
  release(): void {
    this.released++;
  }
}

const fakeRun = (sampler: FakeSampler) => ({ batchSampler: () => sampler, tokenizer: new ByteTokenizer() }) as unknown as Run;

describe('sweepJob', () => {
  it('passes the memory budget to every batch and frees the decoder set when the sweep ends', async () => {
    const sampler = new FakeSampler();
    const events: EngineEvent[] = [];
    const config = resolveSweepConfig({ task: 'addition', difficulty: 1, problems: 2, ns: [1, 2], budgets: [], reasoners: 0 });
    await sweepJob(fakeRun(sampler), 7, config, (e) => void events.push(e), 123_456);
    expect(sampler.budgets).toEqual([123_456, 123_456]);
    expect(events.at(-1)).toMatchObject({ type: 'sweep-done', requestId: 7 });
    expect(sampler.released).toBe(1);
  });

  it('frees it too when the sweep is refused', async () => {
    const sampler = new FakeSampler();
    const config = resolveSweepConfig({ task: 'addition', difficulty: 1, problems: 4, ns: [8], budgets: [], reasoners: 0 });
    await expect(sweepJob(fakeRun(sampler), 1, config, () => undefined, 1)).rejects.toMatchObject({ field: 'sweep.problems' });
    expect(sampler.budgets).toEqual([]);
    expect(sampler.released).toBe(1);
  });
});
