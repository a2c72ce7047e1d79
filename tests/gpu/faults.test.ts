import { describe, expect, it } from 'vitest';
import { createRun, type Run } from '../../src/engine/run';
import type { StepStats } from '../../src/train/trainer';
import { estimateTrainingMemory } from '../../src/model/memory';
import { muonMatrices, optimizerFlopsPerStep } from '../../src/model/param-groups';
import { testGpu } from '../util/gpu';

const TEXT = 'abcdefghij'.repeat(300);

// GPT-2's shape: LayerNorm (biases, row means), learned positions (wpe, its gradient and moments), GELU
const GPT2 = { norm: 'layernorm', positions: 'learned', mlp: 'gelu' };

const config = (moe: boolean, model: Record<string, unknown> = {}, optim: Record<string, unknown> = {}) => ({
  model: { contextLength: 16, nLayer: 1, nEmbd: 32, nHead: 2, nKvHead: 1, mlp: 'swiglu', ...(moe ? { moeEvery: 1, moeExperts: 3, moeTopK: 2 } : {}), ...model },
  optim: { lr: 1e-2, warmupSteps: 1, ...optim },
  train: { batchSize: 4, steps: 6, evalEvery: 0 },
  seed: 3,
});

async function trainSteps(run: Run, steps: number): Promise<StepStats[]> {
  const out: StepStats[] = [];
  for await (const p of run.train({ steps })) if (p.kind === 'progress') out.push(...p.steps);
  return out;
}

describe('a non-finite gradient', () => {
  it.each([
    ['NaN', 'h.0.wq', NaN, false],
    ['+Infinity', 'wte', Infinity, false],
    ['-Infinity', 'h.0.moe.router', -Infinity, true],
  ] as const)('%s in %s: the step is skipped, names the tensor, and the weights stay the last good ones', async (_, tensor, value, moe) => {
    const gpu = await testGpu();
    const run = await createRun(config(moe), { gpu, text: TEXT });
    const target = tensor;
    await trainSteps(run, 2);
    const good = await run.trainer.readState();
    run.trainer.injectGradientFault(target, value);
    const [bad] = await trainSteps(run, 1);
    expect(bad.step).toBe(2);
    expect(bad.skipped).toBe(true);
    expect(bad.nonFinite).toEqual([target]);
    const after = await run.trainer.readState();
    expect(after.params).toEqual(good.params); // bitwise: the update was not applied
    expect(after.m).toEqual(good.m);
    expect(after.v).toEqual(good.v);
    const rest = await trainSteps(run, 3);
    expect(rest.map((s) => s.skipped)).toEqual([false, false, false]);
    expect(rest.every((s) => Number.isFinite(s.loss) && Number.isFinite(s.gradNorm))).toBe(true);
    const final = await run.trainer.readState();
    expect(final.params.every(Number.isFinite)).toBe(true);
    expect(final.params).not.toEqual(good.params);
    run.destroy();
  });

  it('with optimizer muon, in an AdamW tensor or a Muon one (an expert\'s), skips the step for both groups, bitwise', async () => {
    const gpu = await testGpu();
    const run = await createRun(config(true, {}, { optimizer: 'muon' }), { gpu, text: TEXT });
    await trainSteps(run, 1);
    const good = await run.trainer.readState();
    for (const [tensor, value] of [['wte', NaN], ['h.0.moe.wo', Infinity]] as const) {
      run.trainer.injectGradientFault(tensor, value);
      const [bad] = await trainSteps(run, 1);
      expect(bad.skipped).toBe(true);
      expect(bad.nonFinite).toEqual([tensor]);
      const after = await run.trainer.readState();
      expect(after.params).toEqual(good.params);
      expect(after.m).toEqual(good.m); // Muon's momentum lives here too
      expect(after.v).toEqual(good.v);
    }
    const [next] = await trainSteps(run, 1);
    expect(next.skipped).toBe(false);
    const moved = await run.trainer.readState();
    const [wq] = muonMatrices(run.trainer.model.layout);
    const region = (p: Float32Array) => p.subarray(wq.offset, wq.offset + wq.rows * wq.cols);
    expect(region(moved.params)).not.toEqual(region(good.params));
    expect(moved.params.every(Number.isFinite)).toBe(true);
    run.destroy();
  });

  it('an unknown tensor name is refused with the known names', async () => {
    const gpu = await testGpu();
    const run = await createRun(config(false), { gpu, text: TEXT });
    expect(() => run.trainer.injectGradientFault('h.9.wq')).toThrow(/no parameter tensor 'h\.9\.wq'; known: wte/);
    run.destroy();
  });
});

describe('a config the device cannot hold', () => {
  it('is refused before any buffer is allocated, naming the field to shrink', async () => {
    const gpu = await testGpu();
    const before = gpu.allocatedBytes;
    const limit = Math.min(gpu.limits.maxBufferSize, gpu.limits.maxStorageBufferBindingSize);
    // logits alone: B·T·V·4 bytes, past the per-buffer limit
    const T = 2048;
    const batchSize = Math.ceil(limit / (T * 259 * 4)) + 1;
    expect(batchSize).toBeLessThanOrEqual(4096); // the schema's largest batch
    const big = { model: { contextLength: T, nLayer: 1, nEmbd: 16, nHead: 2 }, train: { batchSize } };
    await expect(createRun(big, { gpu, text: TEXT })).rejects.toMatchObject({ name: 'LimitExceededError', field: 'train.batchSize', message: expect.stringMatching(/logits.*Shrink train\.batchSize/) });
    await expect(createRun(config(false), { gpu, text: TEXT, memoryBudgetBytes: 64 * 1024 })).rejects.toMatchObject({ name: 'LimitExceededError', message: expect.stringMatching(/over the 64\.0 KiB memory budget/) });
    expect(gpu.allocatedBytes).toBe(before);
  });

  // The estimate counts every buffer exactly except kernel uniforms, reduction tables and scratch rounding, which it
  // bounds from above (about 1% here): below 1 means a buffer it misses, above 1.1 one it invents or counts twice.
  it('the estimate of training memory is never below what a run allocates, and at most 10% above', async () => {
    const gpu = await testGpu();
    const cases = [
      ['dense', false, {}, {}], ['MoE', true, {}, {}], ['GPT-2 shape', false, GPT2, {}], ['MoE with Muon', true, {}, { optimizer: 'muon' }],
      ['QK-norm', false, { qkNorm: true }, {}], ['GPT-2 shape with linear biases', false, { ...GPT2, bias: true }, {}],
    ] as const;
    for (const [name, moe, model, optim] of cases) {
      const before = gpu.allocatedBytes;
      const run = await createRun(config(moe, model, optim), { gpu, text: TEXT });
      // The FLOPs the scaling lab counts for the optimizer: the trainer's, as the pure count gives them.
      expect(run.trainer.optimizerFlopsPerStep).toBe(optimizerFlopsPerStep(run.config.model, run.config.optim));
      const real = gpu.allocatedBytes - before;
      const est = estimateTrainingMemory(run.config).totalBytes;
      console.log(`${name}: estimated ${est} bytes, allocated ${real}`);
      expect(est / real).toBeGreaterThanOrEqual(1);
      expect(est / real).toBeLessThanOrEqual(1.1);
      run.destroy();
      expect(gpu.allocatedBytes).toBe(before);
    }
  });
});
