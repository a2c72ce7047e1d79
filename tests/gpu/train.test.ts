import { describe, expect, it } from 'vitest';
import { createRun } from '../../src/engine/run';
import { loadRun } from '../../src/engine/run';
import { isMuonTensor, muonMatrices, optimizerFlopsPerStep } from '../../src/model/param-groups';
import { resolveRunConfig } from '../../src/train/config';
import { Trainer, type StepStats } from '../../src/train/trainer';
import { adamwRef } from '../reference/adamw';
import { muonStepRef, type MuonState } from '../reference/muon';
import { compare, expectClose } from '../util/compare';
import { testGpu } from '../util/gpu';
import { freshSeed, randint } from '../util/random';

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

// Muon on the hidden matrices, AdamW on the rest (src/model/param-groups.ts). The models are tiny()'s, dense and
// MoE, whose pipelines the tests above compiled already; Muon adds only Newton–Schulz's.
describe('training with optimizer muon', () => {
  const MUON = { optimizer: 'muon', lr: 1e-2, warmupSteps: 0, muonLrScale: 8, muonMomentum: 0.9, weightDecay: 0.1 };
  const f64 = (a: Float32Array) => Float64Array.from(a);

  it('a step updates the Muon matrices as the Muon reference and the rest as AdamW; v stays zero where Muon owns', async () => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const before = gpu.allocatedBytes;
    // Layer 0 dense, layer 1 MoE: dense and expert matrices, the router, norms and wte.
    const model = { ...tiny().model, vocabSize: 259, nLayer: 2, moeEvery: 2, moeExperts: 4, moeTopK: 2 };
    const config = resolveRunConfig({ model, optim: MUON, train: { batchSize: 2, steps: 10, evalEvery: 0 }, seed });
    const t = await Trainer.create(gpu, config, { train: randint(400, seed, 259), validation: new Uint32Array(0) });
    try {
      const { layout } = t.model;
      const { optim } = t.config;
      const mats = muonMatrices(layout);
      expect(mats.filter((m) => m.name.startsWith('h.1.moe.wi[')).length).toBe(4);
      expect(t.optimizerFlopsPerStep).toBe(optimizerFlopsPerStep(t.config.model, optim));
      expect(t.optimizerFlopsPerStep).toBeGreaterThan(0);
      const adamSegments = layout.specs.filter((s) => !isMuonTensor(s));
      expect(adamSegments.map((s) => s.name)).toContain('h.1.moe.router');
      // Two steps: the second starts from a non-zero momentum and AdamW's second bias correction.
      for (let s = 0; s < 2; s++) {
        const old = await t.readState();
        const stats: StepStats[] = [];
        for await (const p of t.train(1)) if (p.kind === 'progress') stats.push(...p.steps);
        expect(stats.map((x) => x.skipped)).toEqual([false]);
        const lr = stats[0].lr;
        const grads = await gpu.readFloat32(t.model.grads); // the step's, until the next step zeroes them
        const got = await t.readState();
        const hyper = { lr, beta1: optim.beta1, beta2: optim.beta2, eps: optim.eps, weightDecay: optim.weightDecay, maxNorm: optim.gradClip, step: s + 1 };
        const adam = adamwRef({ params: f64(old.params), m: f64(old.m), v: f64(old.v) }, grads, adamSegments, hyper);
        let muon: MuonState = { params: f64(old.params), momentum: f64(old.m) };
        for (const m of mats) muon = muonStepRef(muon, grads, m, { lr: optim.muonLrScale * lr, momentum: optim.muonMomentum, weightDecay: optim.weightDecay / optim.muonLrScale }); // the same lr·wd pull per step as AdamW
        const where = (name: string) => `seed ${seed}, step ${s}, ${name}`;
        // Updates compared on their own (about 1% of the weights), so an error in one is not hidden by W.
        const delta = (p: ArrayLike<number>, from: number, to: number) => Array.from({ length: to - from }, (_, i) => p[from + i] - old.params[from + i]);
        for (const m of mats) {
          const [from, to] = [m.offset, m.offset + m.rows * m.cols];
          expectClose('Muon update', delta(got.params, from, to), delta(muon.params, from, to), 2e-4, where(m.name));
          expectClose('Muon momentum', got.m.subarray(from, to), muon.momentum.subarray(from, to), 1e-5, where(m.name));
          expect(got.v.subarray(from, to).every((x) => x === 0), where(`${m.name}: v`)).toBe(true);
        }
        for (const seg of adamSegments) {
          const [from, to] = [seg.offset, seg.offset + seg.length];
          expectClose('AdamW update', delta(got.params, from, to), delta(adam.params, from, to), 1e-4, where(seg.name));
          expectClose('AdamW m', got.m.subarray(from, to), adam.m.subarray(from, to), 1e-4, where(seg.name));
          expectClose('AdamW v', got.v.subarray(from, to), adam.v.subarray(from, to), 1e-4, where(seg.name));
        }
      }
    } finally {
      t.destroy();
    }
    expect(gpu.allocatedBytes).toBe(before);
  });

  it('drives the loss down, and resuming from a checkpoint continues the same loss curve (momentum round-trips)', async () => {
    const gpu = await testGpu();
    const cfg = { ...tiny({}, { steps: 8, evalBatches: 1 }), optim: { ...tiny().optim, optimizer: 'muon' } };
    const a = await createRun(cfg, { gpu, text: PERIODIC });
    const b0 = await a.evaluate();
    await trainAll(a, 4);
    const bytes = await a.save();
    const tail = await trainAll(a, 4);
    const after = await a.evaluate();
    console.log(`muon: val loss ${b0.toFixed(3)} → ${after.toFixed(3)} in 8 steps`);
    expect(after).toBeLessThan(0.75 * b0);
    const b = await loadRun(bytes, { gpu, text: PERIODIC });
    expect(b.config.optim.optimizer).toBe('muon');
    const resumed = await trainAll(b, 4);
    expect(resumed.map((s) => s.step)).toEqual([4, 5, 6, 7]);
    expect(resumed.map((s) => s.loss)).toEqual(tail.map((s) => s.loss));
    expect(resumed.map((s) => s.gradNorm)).toEqual(tail.map((s) => s.gradNorm));
    a.destroy();
    b.destroy();
  });
});

/**
 * Gradient accumulation over G micro-batches of B sequences must give the gradient of one batch of G·B sequences:
 * the trainer scales every micro-batch's loss gradient by 1/G (cross-entropy and the MoE load-balancing term).
 *
 * The comparison is exact only where the math is: cross-entropy is a mean over tokens, so it is additive over any
 * micro-batches; the load-balancing loss E·Σ f_e·P_e is a product of two batch means, so it is additive only when
 * every micro-batch has the same routing statistics as the whole batch. The MoE cases therefore use micro-batches
 * that hold the same sequences in different orders (permutations), and one MoE case with distinct sequences turns
 * the load-balancing loss off. Capacity factor E/K makes the capacity N (every token fits: an expert sees a token
 * at most once), so nothing is dropped in a micro-batch or in the whole batch and capacity cannot differ.
 */
const T = 16;
const B = 2;
const G = 3;
const E = 4;
const K = 2;
/** ‖accumulated − whole‖ / ‖whole‖ per tensor: float32 sums taken in a different order. */
const TOL = 1e-5;
// tiny()'s model (its pipelines are compiled already), with larger initial weights so routing has no near-ties.
const dense = { ...tiny().model, vocabSize: 259, initScale: 0.3 };
const moe = { ...dense, moeEvery: 1, moeExperts: E, moeTopK: K, moeCapacityFactor: E / K };

/** The parameter gradients after one optimisation step's micro-batches (read back, optimiser not run), per tensor. */
async function accumulatedGrads(model: Record<string, unknown>, sequences: number[][], batchSize: number, gradAccum: number): Promise<Map<string, Float32Array>> {
  const gpu = await testGpu();
  const config = resolveRunConfig({ model, train: { batchSize, gradAccum, steps: 1 }, seed: 5 });
  // create(): pipelines compile in parallel, asynchronously (the constructor compiles each on first use).
  const trainer = await Trainer.create(gpu, config, { train: new Uint32Array(T + 2), validation: new Uint32Array(0) });
  try {
    for (let micro = 0; micro < gradAccum; micro++) {
      const rows = sequences.slice(micro * batchSize, (micro + 1) * batchSize);
      trainer.model.setBatch(Uint32Array.from(rows.flatMap((s) => s.slice(0, T))), Uint32Array.from(rows.flatMap((s) => s.slice(1))));
      // One submit per micro-batch: setBatch's upload lands before the next submit, as in the trainer's loop.
      await gpu.scoped(() => {
        const enc = gpu.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        trainer.encodeMicroBatch(pass, micro);
        pass.end();
        gpu.queue.submit([enc.finish()]);
      });
    }
    const flat = await gpu.readFloat32(trainer.model.grads);
    return new Map(trainer.model.layout.specs.map((s) => [s.name, flat.slice(s.offset, s.offset + s.length)]));
  } finally {
    trainer.destroy();
  }
}

/** Accumulated over G micro-batches vs one batch of all of them: every parameter tensor within float32 error. */
async function expectSameGradients(model: Record<string, unknown>, sequences: number[][]): Promise<void> {
  const micro = await accumulatedGrads(model, sequences, B, G);
  const whole = await accumulatedGrads(model, sequences, B * G, 1);
  const failures: string[] = [];
  for (const [name, want] of whole) {
    const r = compare(micro.get(name)!, want, TOL);
    if (!(r.relError <= TOL)) failures.push(`${name}: relative error ${r.relError.toExponential(2)} (${r.firstMismatches.slice(0, 3).join('; ')})`);
  }
  expect(failures, `gradients of ${G} micro-batches of ${B} vs one batch of ${G * B}`).toEqual([]);
}

/** n token sequences of length T + 1 (inputs and the next-token targets), seeded. */
const sequences = (n: number, seed: number): number[][] => Array.from({ length: n }, (_, i) => Array.from(randint(T + 1, seed + i, dense.vocabSize)));

describe(`gradient accumulation (${G} micro-batches of ${B}) equals one batch of ${G * B}`, () => {
  it('dense model, distinct micro-batches', async () => {
    await expectSameGradients(dense, sequences(B * G, 100));
  });

  it('MoE, distinct micro-batches, no load-balancing loss', async () => {
    await expectSameGradients({ ...moe, moeAuxLossWeight: 0 }, sequences(B * G, 200));
  });

  it('MoE with a strong load-balancing loss, micro-batches holding the same sequences in different orders', async () => {
    const [a, b] = sequences(B, 300);
    // Each micro-batch routes the same tokens, so its f_e and P_e equal the whole batch's.
    await expectSameGradients({ ...moe, moeAuxLossWeight: 1 }, [a, b, b, a, a, b]);
  });
});
