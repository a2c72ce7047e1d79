import { beforeAll, describe, expect, it } from 'vitest';
import { NewtonSchulz5 } from '../../src/kernels/muon';
import { GlobalNorm } from '../../src/kernels/reduce';
import { MuonGroup, MuonStep, type MuonHyper, type MuonRegion } from '../../src/train/muon';
import { muonStepRef, type MuonState } from '../reference/muon';
import { ns5Case, NS5_SHAPES } from '../util/cases/muon';
import { expectClose } from '../util/compare';
import { run, testGpu } from '../util/gpu';
import { testKernel } from '../util/kernel-test';
import { freshSeed, randn } from '../util/random';

// Every pipeline this file uses, compiled side by side (createComputePipelineAsync) as the trainer does at start-up:
// on SwiftShader each matmul pipeline takes seconds, and one after another they are most of this file's time.
beforeAll(async () => {
  const gpu = await testGpu();
  const made = await gpu.pipelines.build(() => [
    ...NS5_SHAPES.map((s) => new NewtonSchulz5(gpu, s)),
    new MuonStep(gpu, { n: 91, region: { offset: 0, rows: 7, cols: 13 } }),
    new GlobalNorm(gpu, 100),
  ]);
  made.forEach((k) => k.destroy());
});

describe('newton-schulz', () => {
  it.each(NS5_SHAPES)('%o matches the float64 reference, every scratch buffer NaN-poisoned first', async (s) => {
    await testKernel(await testGpu(), ns5Case(s));
  });
});

/**
 * Three matrices in one flat buffer, at offsets no binding could start at (37 floats = 148 bytes), with NaN
 * between and around them: a tall one, a wide one (the √(cols/rows) scale), and one of the same shape sharing
 * its NewtonSchulz5 with a zero gradient and zero momentum (only the decay may move it; 0/0 must not appear).
 */
const REGIONS: MuonRegion[] = [
  { name: 'tall', offset: 37, rows: 40, cols: 24 },
  { name: 'wide', offset: 1002, rows: 7, cols: 13 },
  { name: 'zero', offset: 1096, rows: 7, cols: 13 },
];
const N = 1198;

describe('muon step', () => {
  it('two steps on regions of flat buffers match the reference; every float outside the regions stays NaN', async () => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const before = gpu.allocatedBytes;
    const params = new Float32Array(N).fill(NaN);
    const grads = new Float32Array(N).fill(NaN);
    const momentum = new Float32Array(N).fill(NaN);
    REGIONS.forEach((r, i) => {
      const len = r.rows * r.cols;
      params.set(randn(len, seed + i, 0.5), r.offset);
      grads.set(r.name === 'zero' ? new Float32Array(len) : randn(len, seed + 10 + i), r.offset);
      momentum.set(r.name === 'zero' ? new Float32Array(len) : randn(len, seed + 20 + i, 0.3), r.offset);
    });
    const h1: MuonHyper = { lr: 0.02, momentum: 0.95, weightDecay: 0.1 };
    const h2: MuonHyper = { ...h1, lr: 0.01 };
    const wideNs = new NewtonSchulz5(gpu, REGIONS[1]);
    const steps = await gpu.pipelines.build(() =>
      REGIONS.map((region) => new MuonStep(gpu, { n: N, region, hyper: h1, newtonSchulz: region.rows === 7 ? wideNs : undefined })),
    );
    const b = {
      params: gpu.upload(params, 'params'),
      grads: gpu.upload(grads, 'grads'),
      momentum: gpu.upload(momentum, 'momentum'),
      normSq: gpu.upload(new Float32Array([4]), 'norm²'), // finite: the steps are taken
    };
    try {
      await run(gpu, (pass) => steps.forEach((s) => s.encode(pass, b.params, b.grads, b.momentum, b.normSq)));
      steps.forEach((s) => s.setHyper({ lr: h2.lr }));
      await run(gpu, (pass) => steps.forEach((s) => s.encode(pass, b.params, b.grads, b.momentum, b.normSq)));
      const [gotP, gotM] = await Promise.all([gpu.readFloat32(b.params, N), gpu.readFloat32(b.momentum, N)]);

      let ref: MuonState = { params: Float64Array.from(params), momentum: Float64Array.from(momentum) };
      for (const h of [h1, h2]) for (const region of REGIONS) ref = muonStepRef(ref, grads, region, h);
      const inside = new Uint8Array(N);
      for (const r of REGIONS) {
        const [from, to] = [r.offset, r.offset + r.rows * r.cols];
        inside.fill(1, from, to);
        const delta = (p: ArrayLike<number>) => Array.from({ length: to - from }, (_, i) => p[from + i] - params[from + i]);
        const where = `seed ${seed} '${r.name}'`;
        if (r.name === 'zero') {
          const decayed = Array.from(params.subarray(from, to), (w) => w * (1 - h1.lr * h1.weightDecay) * (1 - h2.lr * h2.weightDecay));
          expectClose('params', gotP.subarray(from, to), decayed, 1e-6, where);
          expect(Array.from(gotM.subarray(from, to)), where).toEqual(new Array(to - from).fill(0));
          continue;
        }
        // The update (lr·O ≈ 1% of W) is compared on its own, so an error in O is not hidden by W.
        expectClose('params update', delta(gotP), delta(ref.params), 2e-4, where);
        expectClose('momentum', gotM.subarray(from, to), ref.momentum.subarray(from, to), 1e-6, where);
      }
      const touched = Array.from(inside.keys()).filter((i) => !inside[i] && !(Number.isNaN(gotP[i]) && Number.isNaN(gotM[i])));
      expect(touched, `seed ${seed}: floats outside every region were written`).toEqual([]);
    } finally {
      Object.values(b).forEach((x) => gpu.release(x));
      steps.forEach((s) => s.destroy());
      wideNs.destroy();
    }
    expect(gpu.allocatedBytes).toBe(before);
  });

  it('rejects aliased and short buffers with a message naming them', async () => {
    const gpu = await testGpu();
    const step = new MuonStep(gpu, { n: N, region: REGIONS[1] });
    const full = gpu.createBuffer(4 * N, 'flat');
    const other = gpu.createBuffer(4 * N, 'other');
    const short = gpu.createBuffer(4 * 1050, 'short');
    const grads = gpu.createBuffer(4 * N, 'grads');
    try {
      await run(gpu, (pass) => {
        expect(() => step.encode(pass, full, full, other, short)).toThrow('muon: params, grads and momentum must be three different buffers');
        expect(() => step.encode(pass, full, short, other, short)).toThrow("muon momentum: grads ('short') holds 1050 floats, needs 1093");
        expect(() => step.encode(pass, full, grads, other, other)).toThrow('muon momentum: momentum must not share a buffer with normSq');
      });
      const before = gpu.allocatedBytes;
      const small = gpu.createBuffer(4 * 90, 'small update');
      expect(() => new MuonStep(gpu, { n: N, region: { ...REGIONS[1], name: 'wide' }, update: small })).toThrow(
        "muon: the shared update buffer ('small update') holds 90 floats; 'wide' needs 91",
      );
      gpu.release(small);
      expect(gpu.allocatedBytes).toBe(before);
    } finally {
      [full, other, short, grads].forEach((x) => gpu.release(x));
      step.destroy();
    }
  });
});

describe('muon step on a non-finite gradient', () => {
  it('is skipped (m and W keep their bits) when the global norm² is NaN, and taken once the gradient is finite', async () => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const region: MuonRegion = { offset: 5, rows: 7, cols: 13 };
    const n = 100;
    const h: MuonHyper = { lr: 0.02, momentum: 0.9, weightDecay: 0.1 };
    const [params, momentum, grads] = [randn(n, seed), randn(n, seed + 1, 0.3), randn(n, seed + 2)];
    const bad = grads.slice();
    bad[40] = NaN;
    const step = await gpu.pipelines.build(() => new MuonStep(gpu, { n, region, hyper: h }));
    const norm = new GlobalNorm(gpu, n);
    const b = { p: gpu.upload(params, 'params'), g: gpu.upload(bad, 'grads'), m: gpu.upload(momentum, 'momentum'), normSq: gpu.createBuffer(4, 'norm²') };
    const stepOnce = () => run(gpu, (pass) => {
      norm.encode(pass, b.g, b.normSq);
      step.encode(pass, b.p, b.g, b.m, b.normSq);
    });
    try {
      await stepOnce();
      expect(Array.from(await gpu.readFloat32(b.p, n)), `seed ${seed}: params`).toEqual(Array.from(params));
      expect(Array.from(await gpu.readFloat32(b.m, n)), `seed ${seed}: momentum`).toEqual(Array.from(momentum));
      gpu.queue.writeBuffer(b.g, 0, grads);
      await stepOnce();
      const ref = muonStepRef({ params: Float64Array.from(params), momentum: Float64Array.from(momentum) }, grads, region, h);
      const [from, to] = [region.offset, region.offset + 91];
      const delta = (p: ArrayLike<number>) => Array.from({ length: to - from }, (_, i) => p[from + i] - params[from + i]);
      expectClose('params update', delta(await gpu.readFloat32(b.p, n)), delta(ref.params), 2e-4, `seed ${seed}`);
    } finally {
      Object.values(b).forEach((x) => gpu.release(x));
      step.destroy();
      norm.destroy();
    }
  });
});

describe('muon group', () => {
  it('shares one Newton–Schulz and update buffer per shape, and releases everything when a matrix is refused', async () => {
    const gpu = await testGpu();
    const before = gpu.allocatedBytes;
    const bytes = (matrices: MuonRegion[]) => {
      const g = new MuonGroup(gpu, { n: 300, matrices });
      const used = gpu.allocatedBytes - before;
      g.destroy();
      return used;
    };
    const one = bytes([{ offset: 0, rows: 7, cols: 13 }]);
    // A second 7x13 matrix adds only its momentum and apply uniforms (16 bytes each).
    expect(bytes([{ offset: 0, rows: 7, cols: 13 }, { offset: 128, rows: 7, cols: 13 }]) - one).toBe(32);
    expect(gpu.allocatedBytes).toBe(before);
    expect(() => new MuonGroup(gpu, { n: 300, matrices: [{ offset: 0, rows: 7, cols: 13 }, { name: 'late', offset: 250, rows: 7, cols: 13 }] })).toThrow(
      "muon: 'late' (7x13 at float 250) ends at float 341, past the buffers' 300",
    );
    expect(gpu.allocatedBytes).toBe(before);
  });
});
