// The one inference path: KV-cache streaming against the cache-free reference, and bounded decoder memory.
import { describe, expect, it } from 'vitest';
import { END_OF_TEXT_ID } from '../../src/data/specials';
import { ByteTokenizer } from '../../src/data/tokenizer';
import { BatchSampler } from '../../src/eval/batch-sample';
import { runSweep } from '../../src/eval/sweep';
import { resolveSweepConfig } from '../../src/eval/sweep-config';
import { LimitExceededError } from '../../src/gpu/errors';
import { headSize, resolveModelConfig, type ModelConfig } from '../../src/model/config';
import { initialParams } from '../../src/model/init';
import { buildLayout } from '../../src/model/layout';
import { Generator } from '../reference/generate';
import { expectClose } from '../util/compare';
import { testGpu } from '../util/gpu';
import { randint } from '../util/random';

// As in decoder.test.ts (shared pipelines); context 24: 24 tokens after a 5-token prompt slide the window once.
const DENSE: Partial<ModelConfig> = { vocabSize: 259, contextLength: 24, nLayer: 2, nEmbd: 32, nHead: 4, nKvHead: 2, mlp: 'swiglu', initScale: 0.5 };
const MOE: Partial<ModelConfig> = { vocabSize: 259, contextLength: 24, nLayer: 2, nEmbd: 16, nHead: 2, mlp: 'gelu', moeEvery: 1, moeExperts: 4, moeTopK: 2, moeCapacityFactor: 4, tiedEmbeddings: false, initScale: 0.5 };
// GPT-2's shape: LayerNorm (the means), learned positions (no RoPE tables)
const GPT2: Partial<ModelConfig> = { vocabSize: 259, contextLength: 24, nLayer: 2, nEmbd: 16, nHead: 2, mlp: 'gelu', norm: 'layernorm', positions: 'learned', initScale: 0.5 };
// QK-norm: pre-norm q and k, their rstd per head, two more norm kernels per stage
const QK_NORM: Partial<ModelConfig> = { ...DENSE, qkNorm: true };

async function setup(cfg: Partial<ModelConfig>, seed: number) {
  const gpu = await testGpu();
  const c = resolveModelConfig(cfg);
  return { gpu, c, params: gpu.upload(initialParams(c, buildLayout(c), seed), 'params') };
}

async function collect(chunks: AsyncGenerator<{ tokens: number[]; logprobs: number[] }>) {
  const tokens: number[] = [];
  const logprobs: number[] = [];
  for await (const ch of chunks) {
    tokens.push(...ch.tokens);
    logprobs.push(...ch.logprobs);
  }
  return { tokens, logprobs };
}

describe('streaming through the KV-cache decoder', () => {
  const short = Uint32Array.from([72, 105, 32, 116, 104]);
  const long = randint(30, 3, 256); // longer than the context: its last 24 tokens are the window
  it.each([
    ['dense', DENSE, [[short, { temperature: 0 }], [short, { temperature: 1, seed: 42 }], [long, { temperature: 1.2, topK: 50, seed: 7 }]]],
    ['MoE', MOE, [[short, { temperature: 1, seed: 43 }]]],
  ] as const)('%s: the same tokens as the cache-free reference, greedy and seeded, as the window slides', async (_, cfg, runs) => {
    const { gpu, c, params } = await setup(cfg, 11);
    const sampler = new BatchSampler(gpu, c, params);
    const reference = new Generator(gpu, c, params);
    for (const [prompt, settings] of runs) {
      const maxTokens = 24;
      const got = await collect(sampler.stream(prompt, { maxTokens, chunk: 5, ...settings }));
      const want = await collect(reference.generate(prompt, { maxTokens, chunk: 8, ...settings }));
      const ctx = `${prompt.length}-token prompt, ${JSON.stringify(settings)}`;
      expect(got.tokens, ctx).toEqual(want.tokens);
      expectClose(`logprobs (${ctx})`, got.logprobs, want.logprobs, 1e-4);
    }
    // a stop token ends the stream after it
    const first = (await collect(sampler.stream(short, { maxTokens: 8, temperature: 0 }))).tokens;
    const stopped = await collect(sampler.stream(short, { maxTokens: 8, temperature: 0, stopToken: first[2] }));
    expect(stopped.tokens).toEqual(first.slice(0, first.indexOf(first[2]) + 1));
    await expect(collect(sampler.stream(new Uint32Array(0), { maxTokens: 4 }))).rejects.toThrow(/the prompt is empty/);
    reference.destroy();
    sampler.destroy();
    gpu.release(params);
  }, 300_000); // compiles the reference's training-model pipelines when run alone (decoder.test.ts shares them)
});

describe('decoder memory', () => {
  it.each([['dense', DENSE], ['MoE', MOE], ['LayerNorm, learned positions', GPT2], ['QK-norm', QK_NORM]] as const)('%s: the estimate covers what a batch allocates; one decoder set and one prefill shape are kept', async (_, cfg) => {
    const { gpu, c, params } = await setup(cfg, 12);
    const base = gpu.allocatedBytes;
    const sampler = new BatchSampler(gpu, c, params);
    const opts = { maxTokens: 3, temperature: 1, seed: 1, padId: END_OF_TEXT_ID };
    const prompts = (P: number, count: number) => Array.from({ length: count }, (_, i) => randint(P, 20 + i, 256));
    const held = () => gpu.allocatedBytes - base;
    const slack = () => 512; // bytes the estimate may run over: nothing larger may be left out of it

    await sampler.sample(prompts(5, 2), { ...opts, samplesPerPrompt: 2 }); // S = 4, P = 5
    const est4 = sampler.estimateBytes(4, 5).totalBytes;
    expect(held()).toBeLessThanOrEqual(est4);
    expect(est4 - held()).toBeLessThanOrEqual(slack());
    // another prompt length replaces the prefill activations instead of adding to them
    await sampler.sample(prompts(9, 2), { ...opts, samplesPerPrompt: 2 });
    expect(held()).toBeLessThanOrEqual(sampler.estimateBytes(4, 9).totalBytes);
    expect(sampler.estimateBytes(4, 9).totalBytes - held()).toBeLessThanOrEqual(slack());
    // another batch size frees the previous decoder set first
    await sampler.sample(prompts(5, 1), { ...opts, samplesPerPrompt: 3 }); // S = 3
    const est3 = sampler.estimateBytes(3, 5).totalBytes;
    expect(held()).toBeLessThanOrEqual(est3);
    expect(est3 - held()).toBeLessThanOrEqual(slack());
    const kvBytes = 4 * 3 * c.contextLength * c.nKvHead * headSize(c) * 2 * c.nLayer;
    expect(held()).toBeGreaterThan(kvBytes);

    // over budget or past the per-buffer limit: refused before anything is allocated, the decoder set kept
    const before = gpu.allocatedBytes;
    const over = sampler.sample(prompts(5, 2), { ...opts, samplesPerPrompt: 2, memoryBudgetBytes: est4 - 1 });
    await expect(over).rejects.toThrow(LimitExceededError);
    await expect(over).rejects.toMatchObject({ field: 'samplesPerPrompt', message: expect.stringMatching(/^2 prompts × 2 samples \(4 sequences, prompts of 5 tokens\) would allocate about [\d.]+ KiB for decoding .* over the [\d.]+ KiB memory budget for decoding/) });
    const perBuffer = Math.min(gpu.limits.maxBufferSize, gpu.limits.maxStorageBufferBindingSize);
    const huge = Math.ceil(perBuffer / (4 * c.contextLength * c.nKvHead * headSize(c))) + 1;
    const refusal = (() => {
      try {
        sampler.checkFits(huge, 5, { field: 'sweep.problems', what: 'w', advice: 'a' });
      } catch (e) {
        return e;
      }
    })();
    expect(refusal).toMatchObject({
      name: 'LimitExceededError', field: 'sweep.problems',
      message: expect.stringMatching(/^w \(\d+ sequences, prompts of 5 tokens\) would need [\d.]+ (MiB|GiB) in one buffer \(.+\); this GPU binds at most [\d.]+ (MiB|GiB) per buffer\. Decode fewer sequences at once: a$/),
    });
    expect(gpu.allocatedBytes).toBe(before);

    sampler.destroy();
    expect(gpu.allocatedBytes).toBe(base);
    gpu.release(params);
  });

  it("a sweep whose largest batch would pass the budget is refused before it samples, naming 'sweep.problems'", async () => {
    const { gpu, c, params } = await setup(DENSE, 13);
    const sampler = new BatchSampler(gpu, c, params);
    const before = gpu.allocatedBytes;
    const config = resolveSweepConfig({ task: 'addition', difficulty: 1, problems: 16, ns: [1, 256], budgets: [], reasoners: 0, maxThinkingTokens: 4, maxAnswerTokens: 2 });
    const events = runSweep(sampler, new ByteTokenizer(), config, { memoryBudgetBytes: 64 * 2 ** 20 });
    await expect(events.next()).rejects.toMatchObject({
      name: 'LimitExceededError', field: 'sweep.problems', message: expect.stringMatching(/^16 problems × 256 samples \(4096 sequences, prompts of \d+ tokens\) would allocate about [\d.]+ MiB .* over the 64.0 MiB memory budget for decoding\. Decode fewer sequences at once: fewer problems or a smaller N$/),
    });
    expect(gpu.allocatedBytes).toBe(before);
    sampler.destroy();
    gpu.release(params);
  });
});
