import { describe, expect, it } from 'vitest';
import { CrossEntropyForward, FusedCrossEntropy, IGNORE_INDEX, type DlogitsMode } from '../../src/kernels/loss';
import type { Gpu } from '../../src/gpu/device';
import { crossEntropyRef, type CrossEntropyRefInput } from '../reference/loss';
import { CROSS_ENTROPY_SHAPES, crossEntropyInputs, type CrossEntropyInputs, type CrossEntropyMode } from '../util/cases/loss';
import { expectClose } from '../util/compare';
import { poisoned, run, testGpu } from '../util/gpu';
import { freshSeed, randn, randu } from '../util/random';

function refOf(c: CrossEntropyInputs, gradScale: number): ReturnType<typeof crossEntropyRef> {
  const x: CrossEntropyRefInput = { logits: c.logits, rows: c.N, vocab: c.V, targets: c.targets, soft: c.soft, weights: c.weights, gradScale };
  return crossEntropyRef(x);
}

function uploadInputs(gpu: Gpu, c: CrossEntropyInputs) {
  return {
    logits: gpu.upload(c.logits, 'logits'),
    targets: c.targets ? gpu.upload(c.targets, 'targets') : gpu.upload(c.soft!, 'soft targets'),
    weights: c.weights ? gpu.upload(c.weights, 'weights') : undefined,
  };
}

/** Runs the fused kernel on `c` and checks losses, dlogits and stats against the float64 reference. */
async function checkFused(c: CrossEntropyInputs, seed: number, dlogits: DlogitsMode = 'write', tol = 1e-5): Promise<void> {
  const gpu = await testGpu();
  const { N, V } = c;
  const gradScale = 1 / (3 * N);
  const ref = refOf(c, gradScale);
  const ins = uploadInputs(gpu, c);
  const losses = poisoned(gpu, N, 'losses');
  const stats = poisoned(gpu, 2 * N, 'stats');
  const prior = randn(N * V, seed + 7);
  const dl = dlogits === 'inPlace' ? undefined : dlogits === 'accumulate' ? gpu.upload(prior, 'dlogits') : poisoned(gpu, N * V, 'dlogits');
  const k = new FusedCrossEntropy(gpu, { rows: N, vocab: V, targets: c.soft ? 'soft' : 'hard', weighted: !!c.weights, stats: true, gradScale, dlogits });
  await run(gpu, (p) => k.encode(p, { ...ins, losses, stats, dlogits: dl }));
  const ctx = `N=${N} V=${V} ${dlogits} seed ${seed}`;
  expectClose('losses', await gpu.readFloat32(losses, N), ref.losses, tol, ctx);
  const want = dlogits === 'accumulate' ? ref.dlogits.map((g, i) => g + prior[i]) : ref.dlogits;
  expectClose('dlogits', await gpu.readFloat32(dl ?? ins.logits, N * V), want, tol, ctx);
  const st = await gpu.readFloat32(stats, 2 * N);
  expectClose('max prob', st.filter((_, i) => i % 2 === 0), ref.maxProb, tol, ctx);
  expectClose('entropy', st.filter((_, i) => i % 2 === 1), ref.entropy, 1e-4, ctx);
}

describe('loss: fused cross-entropy forward + backward', () => {
  for (const mode of ['hard', 'hard+weights', 'soft', 'soft+weights'] as CrossEntropyMode[]) {
    it.each(CROSS_ENTROPY_SHAPES)(`${mode} N=%i V=%i matches the float64 reference`, async (N, V) => {
      const seed = freshSeed();
      await checkFused(crossEntropyInputs(mode, N, V, seed), seed);
    });
  }

  it('hard targets with a GPT-2-sized vocabulary (V=50304)', async () => {
    const seed = freshSeed();
    await checkFused(crossEntropyInputs('hard', 2, 50304, seed), seed);
  });

  it.each<CrossEntropyMode>(['hard', 'soft+weights'])('%s survives extreme logits (+-1e4)', async (mode) => {
    const seed = freshSeed();
    const c = crossEntropyInputs(mode, 4, 33, seed);
    const signs = randu(c.logits.length, seed + 3);
    c.logits = c.logits.map((z, i) => (signs[i] < 0.5 ? -1e4 : 1e4) + z);
    await checkFused(c, seed);
  });

  it.each<DlogitsMode>(['inPlace', 'accumulate'])('dlogits %s', async (mode) => {
    const seed = freshSeed();
    await checkFused(crossEntropyInputs('hard+weights', 6, 129, seed), seed, mode);
    await checkFused(crossEntropyInputs('soft', 3, 20, seed + 1), seed + 1, mode);
  });

  it('ignored rows give loss 0 and gradient 0; an out-of-range target gives NaN loss and 0 gradient', async () => {
    const gpu = await testGpu();
    const N = 4;
    const V = 9;
    const c = crossEntropyInputs('hard', N, V, 5);
    c.targets = Uint32Array.from([3, IGNORE_INDEX, V, IGNORE_INDEX]);
    const ins = uploadInputs(gpu, c);
    const losses = poisoned(gpu, N);
    const dlogits = poisoned(gpu, N * V);
    const k = new FusedCrossEntropy(gpu, { rows: N, vocab: V, targets: 'hard', gradScale: 1 });
    await run(gpu, (p) => k.encode(p, { ...ins, losses, dlogits }));
    const l = await gpu.readFloat32(losses, N);
    expect(l[0]).toBeGreaterThan(0);
    expect([l[1], l[3]]).toEqual([0, 0]);
    expect(Number.isNaN(l[2])).toBe(true);
    const g = await gpu.readFloat32(dlogits, N * V);
    expect([...g.subarray(V)].every((x) => x === 0)).toBe(true);
    expectClose('row 0 dlogits', g.subarray(0, V), refOf(c, 1).dlogits.subarray(0, V), 1e-5);
  });

  it('setGradScale rescales the gradient and leaves the loss alone', async () => {
    const gpu = await testGpu();
    const c = crossEntropyInputs('hard', 3, 50, 11);
    const ins = uploadInputs(gpu, c);
    const losses = poisoned(gpu, 3);
    const dlogits = poisoned(gpu, 150);
    const k = new FusedCrossEntropy(gpu, { rows: 3, vocab: 50, targets: 'hard', gradScale: 1 });
    k.setGradScale(0.25);
    await run(gpu, (p) => k.encode(p, { ...ins, losses, dlogits }));
    expectClose('dlogits', await gpu.readFloat32(dlogits, 150), refOf(c, 0.25).dlogits, 1e-5);
    expectClose('losses', await gpu.readFloat32(losses, 3), refOf(c, 0.25).losses, 1e-5);
  });

  it('rejects wrong buffers with messages that say what is wrong', async () => {
    const gpu = await testGpu();
    const k = new FusedCrossEntropy(gpu, { rows: 4, vocab: 10, targets: 'hard', gradScale: 1 });
    const logits = gpu.upload(new Float32Array(40), 'logits');
    const targets = gpu.upload(new Uint32Array(4), 'targets');
    const losses = poisoned(gpu, 4);
    expect(() => k.encode({} as GPUComputePassEncoder, { logits, targets, losses, dlogits: poisoned(gpu, 39, 'short') })).toThrow(/cross-entropy: dlogits \('short'\) holds 39 values, needs 40/);
    expect(() => k.encode({} as GPUComputePassEncoder, { logits, targets, losses, dlogits: logits })).toThrow(/must not alias logits/);
    expect(() => k.encode({} as GPUComputePassEncoder, { logits, targets, losses: targets, dlogits: poisoned(gpu, 40) })).toThrow(
      /cross-entropy: losses must not share a buffer with targets/,
    );
    const withStats = new CrossEntropyForward(gpu, { rows: 4, vocab: 10, targets: 'hard', stats: true });
    const wide = poisoned(gpu, 8);
    expect(() => withStats.encode({} as GPUComputePassEncoder, { logits, targets, losses: wide, stats: wide })).toThrow(
      /cross-entropy: stats must not share a buffer with losses/,
    );
    expect(() => k.encode({} as GPUComputePassEncoder, { logits, targets, losses })).toThrow(/needs a dlogits buffer/);
    expect(() => new FusedCrossEntropy(gpu, { rows: 0, vocab: 10, targets: 'hard', gradScale: 1 })).toThrow(/rows must be a positive integer/);
  });
});

describe('loss: forward-only cross-entropy (evaluation)', () => {
  it.each<[CrossEntropyMode, number, number]>([
    ['hard', 7, 257],
    ['soft+weights', 3, 7],
    ['hard+weights', 1, 1],
  ])('%s N=%i V=%i: losses and stats match, logits untouched', async (mode, N, V) => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const c = crossEntropyInputs(mode, N, V, seed);
    const ref = refOf(c, 1);
    const ins = uploadInputs(gpu, c);
    const losses = poisoned(gpu, N);
    const stats = poisoned(gpu, 2 * N);
    const k = new CrossEntropyForward(gpu, { rows: N, vocab: V, targets: c.soft ? 'soft' : 'hard', weighted: !!c.weights, stats: true });
    await run(gpu, (p) => k.encode(p, { ...ins, losses, stats }));
    expectClose('losses', await gpu.readFloat32(losses, N), ref.losses, 1e-5, `seed ${seed}`);
    const st = await gpu.readFloat32(stats, 2 * N);
    expectClose('max prob', st.filter((_, i) => i % 2 === 0), ref.maxProb, 1e-5, `seed ${seed}`);
    expectClose('logits unchanged', await gpu.readFloat32(ins.logits, N * V), c.logits, 0);
  });
});
