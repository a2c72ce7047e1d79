import { describe, expect, it } from 'vitest';
import { createRun } from '../../src/engine/run';
import { testGpu } from '../util/gpu';

const TEXT = 'abcdefghij'.repeat(200);
/**
 * `npm test` soaks 400 steps (about 110 s on SwiftShader, compiles included, where every dispatch costs milliseconds); the issue's
 * 2,000 (about 300 s there) run with VITE_SOAK_STEPS=2000 npx vitest run --project gpu tests/gpu/soak.test.ts.
 * Eight evaluations either way, each followed by a sample and a checkpoint, with GPU memory measured after each.
 */
const STEPS = Number(import.meta.env.VITE_SOAK_STEPS ?? 400);
const tiny = {
  model: { contextLength: 8, nLayer: 1, nEmbd: 16, nHead: 2, nKvHead: 1, mlp: 'swiglu', moeEvery: 1, moeExperts: 2, moeTopK: 1 },
  optim: { lr: 1e-2, warmupSteps: 10 },
  train: { batchSize: 2, steps: STEPS, evalEvery: Math.ceil(STEPS / 8), evalBatches: 1 },
  seed: 5,
};

describe('soak', () => {
  it(`${STEPS} training steps (with evaluations, sampling and checkpoints) hold GPU memory constant after warm-up`, async () => {
    const gpu = await testGpu();
    const base = gpu.allocatedBytes;
    const run = await createRun(tiny, { gpu, text: TEXT });
    const samples: number[] = [];
    let warm = -1;
    let steps = 0;
    let evals = 0;
    for await (const p of run.train()) {
      if (p.kind === 'eval') {
        evals++;
        await run.sample('abc', { maxTokens: 4, temperature: 0.5 }); // the sampler's decoder is made once, then reused
        await run.save(); // reads the state back through temporary buffers
        samples.push(gpu.allocatedBytes);
        if (warm < 0) warm = gpu.allocatedBytes;
      } else steps += p.steps.length;
    }
    expect(steps).toBe(STEPS);
    expect(evals).toBe(8);
    console.log(`soak: ${(warm / 1024).toFixed(0)} KiB after warm-up; at each evaluation: ${samples.map((b) => (b / 1024).toFixed(0)).join(', ')} KiB`);
    expect(new Set(samples).size).toBe(1); // not one byte more after the first evaluation
    run.destroy();
    expect(gpu.allocatedBytes).toBe(base); // destroying the run gives every byte back
  }, 600_000);
});
