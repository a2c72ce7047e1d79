/**
 * Experiment (not part of `npm test`): train a small reasoner on multi-digit addition with worked thinking, then
 * sweep test-time compute on two difficulties: best-of-N by every selection rule, thinking budgets, contemplation.
 * Run it with `npm run experiment -- experiments/tts-sweep.test.ts` (2 h on SwiftShader with two CPU cores:
 * 100 min training, 16 min sweep; minutes on a real GPU). Every result line starts with `[tts]`; the issue's
 * closing note quotes them.
 */
import { it } from 'vitest';
import { createRun } from '../src/engine/run';
import { reasoningCorpus } from '../src/data/tasks';
import { runSweep } from '../src/eval/sweep';
import { testGpu } from '../tests/util/gpu';

const STEPS = Number(import.meta.env.VITE_TTS_STEPS ?? 2600);
const PROBLEMS = 48;

it('train a tiny reasoner, then sweep test-time compute', async () => {
  const gpu = await testGpu();
  console.log(`[tts] adapter: ${JSON.stringify(gpu.adapter)}`);
  const run = await createRun({
    model: { contextLength: 48, nLayer: 2, nEmbd: 64, nHead: 4, nKvHead: 2, mlp: 'swiglu' },
    optim: { lr: 6e-3, warmupSteps: 50, schedule: 'cosine' },
    train: { batchSize: 16, steps: STEPS, evalEvery: 250, evalBatches: 4 }, seed: 1,
  }, { gpu, text: reasoningCorpus({ tasks: ['addition'], difficulty: [1, 2], examples: 40000, thinking: 'full', seed: 1 }) });
  const t0 = performance.now();
  for await (const p of run.train()) {
    if (p.kind === 'eval') console.log(`[tts] step ${p.step} val ${p.valLoss.toFixed(3)} at ${((performance.now() - t0) / 1000).toFixed(0)} s (unigram ${run.summary.unigramEntropy.toFixed(3)})`);
  }
  const sampler = run.batchSampler();
  for (const difficulty of [1, 2]) {
    for await (const e of runSweep(sampler, run.tokenizer, {
      // Prompt (at most 8 tokens) + thinking + answer + 2 must fit the context of 48; the longest worked thinking
      // here (3 columns) is 25 tokens.
      task: 'addition', difficulty, problems: PROBLEMS, ns: [1, 2, 4, 8], budgets: [0, 6, 12, 18, 24, 30], extends: [], reasoners: 4,
      maxThinkingTokens: 30, maxAnswerTokens: 6, temperature: 0.8, seed: 7,
    })) {
      if (e.kind === 'point') console.log(`[tts] d${difficulty} ${JSON.stringify(e.point)}`);
      if (e.kind === 'progress') console.log(`[tts] d${difficulty} ${e.label} at ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      if (e.kind === 'pass-at-k') console.log(`[tts] d${difficulty} pass@k n=${e.n} ${JSON.stringify(e.curve)}`);
    }
  }
}, 4 * 3_600_000);
