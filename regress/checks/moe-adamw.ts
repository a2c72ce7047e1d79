/**
 * The mixture-of-experts layer (router, top-k, capacity assignment, dispatch, expert FFN, combine, and every
 * backward) and AdamW (several steps, clipping on, decay on some segments) against their float64 references.
 */
import { AdamW, type AdamWHyper } from '../../src/kernels/adamw';
import { decodeRoutingStats } from '../../src/kernels/moe';
import { MoeLayer, moeUpWidth, type MoeLayerConfig } from '../../src/model/moe-layer';
import { GlobalNorm } from '../../src/kernels/reduce';
import { adamwRef, type AdamWState } from '../../tests/reference/adamw';
import { moeLayerBackwardRef, moeLayerForwardRef, type MoeDims } from '../../tests/reference/moe';
import { adamwLayout } from '../../tests/util/cases/adamw';
import { poisoned, run } from '../../tests/util/gpu';
import { randn } from '../../tests/util/random';
import { mismatchCheck, relErrorCheck, seedOf } from '../harness';
import type { CheckResult, RegressContext, Suite, Task } from '../types';

interface MoeCase {
  name: string;
  config: MoeLayerConfig;
}

async function moeChecks(ctx: RegressContext, c: MoeCase): Promise<CheckResult[]> {
  const { gpu } = ctx;
  const base = `correctness/moe/${c.name}`;
  const seed = seedOf(base);
  const layer = await gpu.pipelines.build(() => new MoeLayer(gpu, c.config));
  const r = layer.routing;
  const d: MoeDims = { N: r.tokens, C: r.width, E: r.experts, K: r.topK, cap: r.capacity };
  const o = { H: c.config.hidden, normalize: r.normalizeGates, activation: layer.activation };
  const F = moeUpWidth(c.config);
  const x = randn(d.N * d.C, seed);
  const w = { wr: randn(d.C * d.E, seed + 1), w1: randn(d.E * d.C * F, seed + 2, 0.5), w2: randn(d.E * o.H * d.C, seed + 3, 0.5) };
  const dy = randn(d.N * d.C, seed + 4);
  const xb = gpu.upload(x, 'x');
  const dyb = gpu.upload(dy, 'dy');
  const wb = { wr: gpu.upload(w.wr, 'wr'), w1: gpu.upload(w.w1, 'w1'), w2: gpu.upload(w.w2, 'w2') };
  const y = poisoned(gpu, d.N * d.C, 'y');
  const dx = poisoned(gpu, d.N * d.C, 'dx');
  const dw = { wr: poisoned(gpu, w.wr.length, 'dwr'), w1: poisoned(gpu, w.w1.length, 'dw1'), w2: poisoned(gpu, w.w2.length, 'dw2') };
  try {
    await run(gpu, (p) => {
      layer.forward(p, xb, wb, y);
      layer.backward(p, xb, wb, dyb, dx, dw);
      ctx.perturb(p, 'moe', y, d.N * d.C);
      ctx.perturb(p, 'moe', dx, d.N * d.C);
    });
    const f = moeLayerForwardRef(x, w, d, o);
    const g = moeLayerBackwardRef(x, w, f, dy, d, o, r.auxLossWeight);
    const out: CheckResult[] = [
      mismatchCheck(`${base}/expertIndex`, 'moe', await gpu.readUint32(layer.buffers.expertIndex, d.N * d.K), f.router.expertIndex),
      mismatchCheck(`${base}/slots`, 'moe', await gpu.readUint32(layer.buffers.slots, d.N * d.K), f.assign.slots),
      relErrorCheck(`${base}/y`, 'moe', await gpu.readFloat32(y, d.N * d.C), f.y),
    ];
    const st = decodeRoutingStats(await gpu.readback(layer.buffers.stats), d.E);
    out.push(relErrorCheck(`${base}/auxLoss`, 'moe', [st.auxLoss], [f.assign.auxLoss]));
    out.push(relErrorCheck(`${base}/dx`, 'moe', await gpu.readFloat32(dx, d.N * d.C), g.dx));
    for (const k of ['wr', 'w1', 'w2'] as const) {
      out.push(relErrorCheck(`${base}/d${k}`, 'moe', await gpu.readFloat32(dw[k], w[k].length), g[`d${k}`]));
    }
    return out;
  } finally {
    for (const b of [xb, dyb, y, dx, wb.wr, wb.w1, wb.w2, dw.wr, dw.w1, dw.w2]) gpu.release(b);
    layer.destroy();
  }
}

function moeCases(suite: Suite): MoeCase[] {
  const quick: MoeCase[] = [
    { name: 'N37-C8-E4-k2-H8-swiglu', config: { tokens: 37, width: 8, experts: 4, topK: 2, hidden: 8, activation: 'swiglu', auxLossWeight: 0.1 } },
  ];
  if (suite === 'quick') return quick;
  return [
    ...quick,
    { name: 'N37-C5-E4-k1-H7-gelu-cf0.5', config: { tokens: 37, width: 5, experts: 4, topK: 1, hidden: 7, capacityFactor: 0.5, auxLossWeight: 0.3 } },
    { name: 'N512-C64-E8-k2-H128-swiglu', config: { tokens: 512, width: 64, experts: 8, topK: 2, hidden: 128, activation: 'swiglu' } },
  ];
}

async function adamwChecks(ctx: RegressContext, scale: number): Promise<CheckResult[]> {
  const { gpu } = ctx;
  const base = `correctness/adamw/n${adamwLayout(scale).n}-3steps-clip`;
  const seed = seedOf(base);
  const { n, segments } = adamwLayout(scale);
  const p0 = randn(n, seed);
  const params = gpu.upload(p0, 'params');
  const grads = gpu.createBuffer(4 * n, 'grads');
  const m = gpu.upload(new Float32Array(n), 'm');
  const v = gpu.upload(new Float32Array(n), 'v');
  const stats = gpu.createBuffer(512, 'norm² and status');
  const normSq = { buffer: stats, offset: 0, size: 4 };
  const status = { buffer: stats, offset: 256, size: 8 };
  const opt = new AdamW(gpu, { n, segments });
  const norm = new GlobalNorm(gpu, n);
  let ref: AdamWState = { params: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) };
  try {
    const steps = 3;
    for (let t = 1; t <= steps; t++) {
      const g = randn(n, seed + t, 0.01);
      gpu.queue.writeBuffer(grads, 0, g);
      const h: AdamWHyper = { lr: 0.02 * (1 - t / 10), beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxNorm: 0.05, step: t };
      opt.setHyper(h);
      await run(gpu, (p) => {
        norm.encode(p, grads, normSq);
        opt.encode(p, params, grads, m, v, normSq, status);
        if (t === steps) ctx.perturb(p, 'adamw', params, n);
      });
      ({ params: ref.params, m: ref.m, v: ref.v } = adamwRef(ref, g, segments, h));
    }
    const [gp, gm, gv] = [await gpu.readFloat32(params, n), await gpu.readFloat32(m, n), await gpu.readFloat32(v, n)];
    // The update p − p0 (the weights' own magnitude would hide an error in it), then the moments.
    const delta = (p: ArrayLike<number>) => Float64Array.from(p0, (x, i) => p[i] - x);
    return [
      relErrorCheck(`${base}/update`, 'adamw', delta(gp), delta(ref.params)),
      relErrorCheck(`${base}/m`, 'adamw', gm, ref.m),
      relErrorCheck(`${base}/v`, 'adamw', gv, ref.v),
    ];
  } finally {
    for (const b of [params, grads, m, v, stats]) gpu.release(b);
    opt.destroy();
  }
}

export function moeAdamwTasks(suite: Suite): Task[] {
  const adamwScale = suite === 'quick' ? 1 : 40;
  return [
    ...moeCases(suite).map((c): Task => ({ id: `moe/${c.name}`, kernels: ['moe'], run: (ctx) => moeChecks(ctx, c) })),
    { id: `adamw/x${adamwScale}`, kernels: ['adamw'], run: (ctx) => adamwChecks(ctx, adamwScale) },
  ];
}
