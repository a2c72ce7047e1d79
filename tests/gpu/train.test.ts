import { describe, expect, it } from 'vitest';
import { createRun } from '../../src/engine/run';
import { loadRun } from '../../src/engine/run';
import type { StepStats } from '../../src/train/trainer';
import { testGpu } from '../util/gpu';

// A corpus whose next byte is fixed by the current one: a working training loop drives the loss far below the
// unigram entropy (ln 10 ≈ 2.30 nats) in tens of steps, which SwiftShader can afford in CI. (Learning English
// text below its unigram entropy takes hundreds of steps: that is measured outside CI.)
const PERIODIC = 'abcdefghij'.repeat(1500);

const tiny = (extra: Record<string, unknown> = {}, train: Record<string, unknown> = {}) => ({
  data: { validationFraction: 0.1 },
  model: { contextLength: 16, nLayer: 1, nEmbd: 32, nHead: 2, nKvHead: 1, mlp: 'swiglu', ...extra },
  optim: { lr: 1e-2, warmupSteps: 5 },
  train: { batchSize: 8, steps: 50, evalEvery: 0, evalBatches: 4, ...train },
  seed: 7,
});

async function trainAll(run: Awaited<ReturnType<typeof createRun>>, steps?: number): Promise<StepStats[]> {
  const out: StepStats[] = [];
  for await (const p of run.train({ steps })) if (p.kind === 'progress') out.push(...p.steps);
  return out;
}

describe('training on the GPU', () => {
  it.each([
    ['dense', {}],
    ['MoE (4 experts, top-2)', { moeEvery: 1, moeExperts: 4, moeTopK: 2 }],
  ])('a tiny %s model drives the validation loss far below the unigram entropy', async (name, extra) => {
    const gpu = await testGpu();
    const run = await createRun(tiny(extra), { gpu, text: PERIODIC });
    const before = await run.evaluate();
    const stats = await trainAll(run);
    const after = await run.evaluate();
    const H = run.summary.unigramEntropy;
    console.log(`${name}: unigram entropy ${H.toFixed(3)} nats, val loss ${before.toFixed(3)} → ${after.toFixed(3)}`);
    expect(stats.map((s) => s.step)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(stats.every((s) => Number.isFinite(s.loss) && !s.skipped)).toBe(true);
    expect(before).toBeGreaterThan(H);
    expect(after).toBeLessThan(0.25 * H);
    expect(await run.sample('abc', { maxTokens: 7, temperature: 0 })).toBe('defghij');
    run.destroy();
  });

  it('resuming from a checkpoint continues the same loss curve as an uninterrupted run', async () => {
    const gpu = await testGpu();
    const cfg = tiny({}, { steps: 8, evalBatches: 1 });
    const a = await createRun(cfg, { gpu, text: PERIODIC });
    await trainAll(a, 4);
    const bytes = await a.save();
    const tail = await trainAll(a, 4);
    const b = await loadRun(bytes, { gpu, text: PERIODIC });
    expect(b.trainer.step).toBe(4);
    const resumed = await trainAll(b, 4);
    expect(resumed.map((s) => s.step)).toEqual([4, 5, 6, 7]);
    expect(resumed.map((s) => s.loss)).toEqual(tail.map((s) => s.loss));
    expect(resumed.map((s) => s.gradNorm)).toEqual(tail.map((s) => s.gradNorm));
    a.destroy();
    b.destroy();
  });
});
