import { describe, expect, it } from 'vitest';
import { ADDITION, isHeldOut } from '../../src/data/tasks';
import { ByteTokenizer } from '../../src/data/tokenizer';
import type { BatchSampleOptions, BatchSampleResult } from '../../src/eval/batch-sample';
import { runSweep, sweepTotal, type SweepConfig, type SweepEvent, type SweepPoint } from '../../src/eval/sweep';

const tok = new ByteTokenizer();

/** The problem a+b= inside a generation prompt (the sweep prompts `<|endoftext|>a+b=<think>`). */
function sumOf(prompt: string): number {
  const m = /(\d+)\+(\d+)=/.exec(prompt)!;
  return Number(m[1]) + Number(m[2]);
}

/**
 * A scripted model: sample j of a problem answers right when j % 4 is 1 or 2 (so best-of-1 is wrong, N = 2 has one
 * right answer, N = 4 two right against two different wrong ones), right answers carry higher log-probs. With a
 * thinking budget it needs 6 thinking tokens to be right. The aggregator (temperature 0) repeats its first candidate.
 */
class ScriptedSampler {
  readonly calls: BatchSampleOptions[] = [];
  readonly prompts: string[] = [];
  async sample(prompts: readonly Uint32Array[], opts: BatchSampleOptions): Promise<BatchSampleResult> {
    this.calls.push(opts);
    this.prompts.push(...prompts.map((p) => tok.decode(p)));
    const sequences = prompts.flatMap((p, prompt) => {
      const text = tok.decode(p);
      const sum = sumOf(text);
      return Array.from({ length: opts.samplesPerPrompt }, (_, sample) => {
        let completion: string;
        let good = false;
        if (text.endsWith('</think>')) {
          completion = `${text.slice(text.indexOf('<think>') + 7, -8).split(',')[0]}<|endoftext|>`;
        } else {
          const cap = opts.budget?.maxThinkingTokens ?? Infinity;
          const min = opts.budget?.minThinkingTokens ?? 0;
          const thinking = Math.max(min, Math.min(cap, 6));
          good = thinking >= 6 && (opts.samplesPerPrompt === 1 && opts.budget?.maxThinkingTokens !== undefined && cap < 64 ? true : sample % 4 === 1 || sample % 4 === 2);
          completion = `${'.'.repeat(thinking)}</think>${good ? sum : sum + 1 + (sample % 4)}<|endoftext|>`;
        }
        const tokens = Array.from(tok.encode(completion));
        return { prompt, sample, tokens, logprobs: tokens.map(() => (good ? -0.1 : -1)) };
      });
    });
    const generatedTokens = sequences.reduce((a, s) => a + s.tokens.length, 0);
    return { sequences, generatedTokens, ms: 10 * opts.samplesPerPrompt, tokensPerSecond: generatedTokens / 0.01 };
  }
}

const config: SweepConfig = {
  task: 'addition', difficulty: 1, problems: 5, ns: [1, 2, 4], budgets: [2, 6], extends: [], reasoners: 4,
  maxThinkingTokens: 64, maxAnswerTokens: 8, temperature: 1, seed: 3,
};

async function collect(c: SweepConfig): Promise<{ events: SweepEvent[]; points: SweepPoint[]; sampler: ScriptedSampler }> {
  const sampler = new ScriptedSampler();
  const events: SweepEvent[] = [];
  for await (const e of runSweep(sampler, tok, c)) events.push(e);
  return { events, points: events.flatMap((e) => (e.kind === 'point' ? [e.point] : [])), sampler };
}

const acc = (points: SweepPoint[], strategy: string, n: number, budget?: number) =>
  points.find((p) => p.strategy === strategy && p.n === n && p.budget === budget)!.accuracy;

describe('test-time scaling sweep', () => {
  it('best-of-N rules pick as their definitions say', async () => {
    const { points } = await collect(config);
    expect(acc(points, 'oracle', 1)).toBe(0);
    expect(acc(points, 'oracle', 2)).toBe(1); // pass@2: sample 1 is right
    expect(acc(points, 'majority', 2)).toBe(0); // 1-1 tie: the first sample's (wrong) answer wins
    expect(acc(points, 'logprob', 2)).toBe(1); // the right answer has the higher mean log-prob
    expect(acc(points, 'majority', 4)).toBe(1); // right 2 votes, two different wrong answers 1 each
    expect(acc(points, 'weighted', 4)).toBe(1);
    for (const p of points) {
      expect(p.low).toBeLessThanOrEqual(p.accuracy);
      expect(p.high).toBeGreaterThanOrEqual(p.accuracy);
      expect(p.total).toBe(5);
      expect(p.tokens).toBeGreaterThan(0);
    }
  });

  it('thinking caps reach the sampler, and accuracy follows the budget', async () => {
    const { points, sampler } = await collect(config);
    expect(acc(points, 'budget-cap', 1, 2)).toBe(0);
    expect(acc(points, 'budget-cap', 1, 6)).toBe(1);
    expect(sampler.calls.filter((o) => o.budget).map((o) => o.budget!.maxThinkingTokens)).toEqual([2, 6]);
  });

  it('the extend direction asks for a minimum of thinking with the task continuation', async () => {
    const { sampler, points } = await collect({ ...config, ns: [], budgets: [], extends: [10], reasoners: 0 });
    const b = sampler.calls[0].budget!;
    expect(b.minThinkingTokens).toBe(10);
    expect(b.maxThinkingTokens).toBeGreaterThanOrEqual(18);
    expect(b.continuation).toEqual(Array.from(tok.encode('Wait')));
    expect(points.map((p) => p.strategy)).toEqual(['budget-extend']);
  });

  it('contemplating mode: a confidence-weighted vote of M reasoners, and an aggregator that writes the answer', async () => {
    const { points, sampler } = await collect({ ...config, ns: [], budgets: [] });
    expect(acc(points, 'contemplate-vote', 4)).toBe(1);
    const agg = sampler.calls.at(-1)!;
    expect(agg.temperature).toBe(0);
    expect(agg.budget).toBeUndefined();
    // the scripted aggregator repeats the first distinct candidate, which is sample 0's wrong answer
    expect(acc(points, 'contemplate-write', 4)).toBe(0);
    const write = points.find((p) => p.strategy === 'contemplate-write')!;
    const vote = points.find((p) => p.strategy === 'contemplate-vote')!;
    expect(write.tokens).toBeGreaterThan(vote.tokens);
  });

  it('reports progress to the end, pass@k curves, and every sample for the inspector', async () => {
    const { events } = await collect(config);
    const progress = events.flatMap((e) => (e.kind === 'progress' ? [e] : []));
    expect(progress.at(-1)).toMatchObject({ done: sweepTotal(config), total: sweepTotal(config), label: 'done' });
    const curve = events.find((e) => e.kind === 'pass-at-k' && e.n === 4);
    expect(curve).toMatchObject({ curve: [{ k: 1, passAtK: 0.5 }, { k: 2 }, { k: 4, passAtK: 1 }] });
    const samples = events.flatMap((e) => (e.kind === 'samples' ? e.samples : []));
    expect(samples.filter((s) => s.strategy === 'oracle' && s.n === 4)).toHaveLength(20);
    expect(samples.some((s) => s.chosen?.majority && s.correct)).toBe(true);
  });

  it('draws every problem from the held-out side, which no training corpus contains', async () => {
    const { sampler } = await collect({ ...config, problems: 40, ns: [1], budgets: [], reasoners: 0 });
    const problems = sampler.prompts.map((p) => /(\d+\+\d+=)/.exec(p)![1]);
    expect(problems).toHaveLength(40);
    expect(problems.filter((p) => !isHeldOut(ADDITION, p))).toEqual([]);
  });

  it('checks the largest batch against the sampler before sampling anything', async () => {
    const seen: [number, number, string][] = [];
    const sampler = Object.assign(new ScriptedSampler(), {
      checkFits: (S: number, P: number, fit: { field: string }) => void seen.push([S, P, fit.field]),
    });
    for await (const _ of runSweep(sampler, tok, { ...config, problems: 3, ns: [1, 8], reasoners: 16 }, { memoryBudgetBytes: 1e9 })) break;
    expect(seen).toEqual([[48, tok.encode('<|endoftext|>12+34=<think>').length, 'sweep.problems']]);
    expect(sampler.calls).toEqual([]);
  });

  it('refuses an unknown task', async () => {
    await expect(collect({ ...config, task: 'chess' })).rejects.toThrow(/unknown task 'chess'/);
  });
});
