/** The engine's sampling jobs on a run: streamed text for the sample box, and test-time scaling sweeps. */
import { runSweep, type SweepConfig } from '../eval/sweep';
import type { Emit } from './protocol';
import type { SampleOptions } from './protocol';
import type { Run } from './run';

/** `memoryBudgetBytes`: refuse a sample whose decoder would allocate more (see Run.decodingBudget). */
export async function streamSample(run: Run, requestId: number, prompt: string, opts: SampleOptions, emit: Emit, memoryBudgetBytes?: number): Promise<void> {
  const t0 = performance.now();
  for await (const text of run.stream(prompt, { ...opts, memoryBudgetBytes })) if (text) emit({ type: 'sample-chunk', requestId, text });
  const seconds = Math.max(1e-6, (performance.now() - t0) / 1000);
  // Run.stream samples exactly maxTokens tokens (it passes no stop token).
  emit({ type: 'sample-done', requestId, tokens: opts.maxTokens, tokensPerSecond: opts.maxTokens / seconds });
}

/**
 * `memoryBudgetBytes`: refuse a sweep whose decoding would allocate more (LimitExceededError on 'sweep.problems').
 * The sweep's decoder set is freed when it ends, so its (possibly large) batch does not stay allocated while training.
 */
export async function sweepJob(run: Run, requestId: number, config: SweepConfig, emit: Emit, memoryBudgetBytes?: number): Promise<void> {
  const t0 = performance.now();
  const sampler = run.batchSampler();
  try {
    for await (const event of runSweep(sampler, run.tokenizer, config, { memoryBudgetBytes })) emit({ type: 'sweep', requestId, event });
  } finally {
    sampler.release();
  }
  emit({ type: 'sweep-done', requestId, config, ms: performance.now() - t0 });
}
