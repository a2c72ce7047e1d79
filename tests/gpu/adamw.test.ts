import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device';
import { ADAMW_STEP_APPLIED, ADAMW_STEP_SKIPPED, AdamW, type AdamWHyper, type ParamSegment } from '../../src/kernels/adamw';
import type { Binding } from '../../src/kernels/dispatch';
import { GlobalNorm } from '../../src/kernels/reduce';
import { adamwRef, type AdamWState } from '../reference/adamw';
import { sumSqRef } from '../reference/reduce';
import { adamwLayout } from '../util/cases/adamw';
import { expectClose } from '../util/compare';
import { run, testGpu } from '../util/gpu';
import { freshSeed, randn } from '../util/random';

/** Floats in no segment (padding); their params, m and v must never change. */
function gaps(n: number, segments: readonly ParamSegment[]): number[] {
  const used = new Uint8Array(n);
  for (const s of segments) used.fill(1, s.offset, s.offset + s.length);
  return Array.from(used.keys()).filter((i) => !used[i]);
}

interface Rig {
  gpu: Gpu;
  n: number;
  segments: ParamSegment[];
  opt: AdamW;
  norm: GlobalNorm;
  params: GPUBuffer;
  grads: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
  normSq: Binding;
  status: Binding;
  stats: GPUBuffer;
}

/** params random (padding too), m and v zero except in padding; norm² and status share one buffer at 256-byte-aligned ranges. */
async function rig(seed: number): Promise<Rig> {
  const gpu = await testGpu();
  const { n, segments } = adamwLayout();
  const p0 = randn(n, seed);
  const mv = new Float32Array(n);
  for (const i of gaps(n, segments)) mv[i] = 123.5; // garbage in padding: must stay
  const stats = gpu.upload(new Float32Array(128).fill(NaN), 'stats');
  gpu.queue.writeBuffer(stats, 256, new Uint32Array([7, 0]));
  return {
    gpu, n, segments,
    opt: new AdamW(gpu, { n, segments }),
    norm: new GlobalNorm(gpu, n),
    params: gpu.upload(p0, 'params'),
    grads: gpu.createBuffer(4 * n, 'grads'),
    m: gpu.upload(mv, 'm'),
    v: gpu.upload(mv, 'v'),
    stats,
    normSq: { buffer: stats, offset: 0, size: 4 },
    status: { buffer: stats, offset: 256, size: 8 },
  };
}

async function readState(r: Rig): Promise<AdamWState> {
  const [params, m, v] = await Promise.all([r.params, r.m, r.v].map((b) => r.gpu.readFloat32(b, r.n)));
  return { params: Float64Array.from(params), m: Float64Array.from(m), v: Float64Array.from(v) };
}

/** One training step as the trainer records it: upload grads, norm², AdamW, in one pass. */
async function step(r: Rig, grads: Float32Array, h: Partial<AdamWHyper>): Promise<{ status: number[]; normSq: number }> {
  r.gpu.queue.writeBuffer(r.grads, 0, grads.buffer, grads.byteOffset, grads.byteLength);
  r.opt.setHyper(h);
  await run(r.gpu, (pass) => {
    r.norm.encode(pass, r.grads, r.normSq);
    r.opt.encode(pass, r.params, r.grads, r.m, r.v, r.normSq, r.status);
  });
  const status = Array.from(new Uint32Array(await r.gpu.readback(r.stats, 8, 256)));
  const [normSq] = await r.gpu.readFloat32(r.stats, 1);
  return { status, normSq };
}

function expectState(got: AdamWState, want: AdamWState, context: string): void {
  expectClose('params', got.params, want.params, 1e-5, context);
  expectClose('m', got.m, want.m, 1e-5, context);
  expectClose('v', got.v, want.v, 1e-5, context);
}

function expectBitIdentical(got: AdamWState, want: AdamWState, context: string, indices?: readonly number[]): void {
  for (const k of ['params', 'm', 'v'] as const) {
    const idx = indices ?? Array.from(want[k].keys());
    const bad = idx.filter((i) => !Object.is(got[k][i], want[k][i])).slice(0, 5);
    expect(bad.map((i) => `${k}[${i}] ${got[k][i]} != ${want[k][i]}`), context).toEqual([]);
  }
}

const BASE: AdamWHyper = { lr: 0.02, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxNorm: 0, step: 1 };

describe('adamw', () => {
  // maxNorm 0: clipping off; 1e6: on but inactive (scale 1); 0.05: active (norm of the grads is ≈ 0.9).
  it.each([0, 1e6, 0.05])('6 steps with mixed decay segments and maxNorm=%f match float64 (step 1: bias correction)', async (maxNorm) => {
    const seed = freshSeed();
    const r = await rig(seed);
    const start = await readState(r);
    let ref: AdamWState = start;
    let scale = NaN;
    const pad = gaps(r.n, r.segments);
    for (let t = 1; t <= 6; t++) {
      const g = randn(r.n, seed + t, 0.01);
      const h = { ...BASE, maxNorm, step: t, lr: BASE.lr * (1 - t / 10) };
      const before = await readState(r);
      const { status, normSq } = await step(r, g, h);
      const got = await readState(r);
      const context = `seed ${seed}, step ${t}, maxNorm ${maxNorm}`;
      const fromGpu = adamwRef(before, g, r.segments, h); // this step alone, from the GPU's own previous state
      ({ scale, ...ref } = adamwRef(ref, g, r.segments, h)); // float64 all the way from the start
      if (maxNorm === 0.05) expect(scale, context).toBeLessThan(0.2);
      else expect(scale, context).toBe(1);
      expect(Math.abs(normSq - sumSqRef(g)) / sumSqRef(g), context).toBeLessThan(1e-5);
      expect(status, context).toEqual([ADAMW_STEP_APPLIED, 0]);
      expectState(got, fromGpu, context);
      expectState(got, ref, `${context}, float64 from the start`);
      // the update itself (p_new − p_old), which the params' own magnitude would hide
      const delta = (s: AdamWState) => s.params.map((p, i) => p - before.params[i]);
      expectClose('update', delta(got), delta(fromGpu), 1e-4, context);
      expectBitIdentical(got, start, `${context}: padding`, pad);
    }
  });

  it('skips the step on a NaN or Inf gradient: weights, m and v keep their bits, status says so, training resumes', async () => {
    const seed = freshSeed();
    const r = await rig(seed);
    await step(r, randn(r.n, seed + 1, 0.01), { ...BASE, step: 1 });
    const good = await readState(r);
    let skipped = 0;
    for (const [where, bad] of [[5, NaN], [r.segments[3].offset + 17, Infinity], [r.n - 40, -Infinity]] as const) {
      const g = randn(r.n, seed + 2, 0.01);
      g[where] = bad;
      const { status, normSq } = await step(r, g, { ...BASE, step: 2 });
      skipped++;
      const context = `seed ${seed}, grads[${where}] = ${bad}`;
      expect(Number.isFinite(normSq), context).toBe(false);
      expect(status, context).toEqual([ADAMW_STEP_SKIPPED, skipped]);
      expectBitIdentical(await readState(r), good, context);
    }
    const g = randn(r.n, seed + 3, 0.01);
    const { status } = await step(r, g, { ...BASE, step: 2, maxNorm: 1 });
    expect(status).toEqual([ADAMW_STEP_APPLIED, skipped]);
    expectState(await readState(r), adamwRef(good, g, r.segments, { ...BASE, step: 2, maxNorm: 1 }), `seed ${seed}, after the skips`);
  });

  it('takes hyper-parameters from setHyper at submit time', async () => {
    const r = await rig(freshSeed());
    const before = await readState(r);
    const g1 = randn(r.n, 5, 0.01);
    await step(r, g1, { lr: 0, weightDecay: 0.5, step: 1 });
    const afterZero = await readState(r);
    expect(afterZero.params.every((p, i) => Object.is(p, before.params[i])), 'lr 0 leaves every weight').toBe(true);
    expectState(afterZero, adamwRef(before, g1, r.segments, { ...r.opt.hyper }), 'lr 0: the moments still update');
    const g2 = randn(r.n, 6, 0.01);
    const h: AdamWHyper = { lr: 0.05, beta1: 0.8, beta2: 0.9, eps: 1e-6, weightDecay: 0.3, maxNorm: 0.1, step: 2 };
    await step(r, g2, h);
    expect(r.opt.hyper).toEqual(h);
    expectState(await readState(r), adamwRef(afterZero, g2, r.segments, h), 'every field of the next setHyper is used');
    expect(() => r.opt.setHyper({ step: 0 })).toThrow(/step must be an integer ≥ 1/);
    expect(r.opt.hyper.step).toBe(2); // a rejected update changes nothing
  });

  it('rejects small, shared or aliased buffers with a message', async () => {
    const r = await rig(1);
    const small = r.gpu.createBuffer(4 * 10, 'small');
    const enc = (params: Binding, grads: Binding, m: Binding, v: Binding, normSq: Binding, status: Binding) =>
      run(r.gpu, (p) => r.opt.encode(p, params, grads, m, v, normSq, status));
    await expect(enc(r.params, small, r.m, r.v, r.normSq, r.status)).rejects.toThrow(/grads \('small'\) holds 10 floats, needs/);
    await expect(enc(r.params, r.grads, r.m, r.m, r.normSq, r.status)).rejects.toThrow(/four different buffers/);
    await expect(enc(r.params, r.grads, r.m, r.v, r.normSq, { buffer: r.stats, offset: 256, size: 4 })).rejects.toThrow(/must hold 2 u32/);
    await expect(enc(r.params, r.grads, r.m, r.v, r.grads, r.status)).rejects.toThrow(/must not share a buffer with params/);
  });
});
