import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device';
import { MoeLayer, moeUpWidth, type MoeLayerConfig } from '../../src/model/moe-layer';
import { decodeRoutingStats, MoeRouting, NO_SLOT, statsWords, type MoeConfig } from '../../src/kernels/moe';
import {
  moeAssignRef,
  moeCombineBackwardRef,
  moeCombineRef,
  moeDispatchBackwardRef,
  moeDispatchRef,
  moeLayerBackwardRef,
  moeLayerForwardRef,
  moeRouterBackwardMagnitude,
  moeRouterBackwardRef,
  moeRouterRef,
  type MoeDims,
} from '../reference/moe';
import { expectClose, expectCloseToScale, expectEqualInts } from '../util/compare';
import { poisoned, run, testGpu } from '../util/gpu';
import { freshSeed, randint, randn } from '../util/random';

/** u32 buffer filled with a value no kernel writes, so an unwritten element fails the exact comparison. */
function poisonedU32(gpu: Gpu, n: number, label: string): GPUBuffer {
  return gpu.upload(new Uint32Array(n).fill(0xdeadbeef), label);
}

interface Case {
  name: string;
  config: MoeConfig;
  /** Integer logits in [0, 3): many exact ties. */
  ties?: boolean;
}

const cases: Case[] = [
  { name: 'E=1 k=1 N=37', config: { tokens: 37, width: 5, experts: 1, topK: 1 } },
  { name: 'E=3 k=1 N=37', config: { tokens: 37, width: 7, experts: 3, topK: 1 } },
  { name: 'E=3 k=2 N=37', config: { tokens: 37, width: 7, experts: 3, topK: 2 } },
  { name: 'E=3 k=2 N=1', config: { tokens: 1, width: 3, experts: 3, topK: 2 } },
  { name: 'E=64 k=2 N=37 C=33', config: { tokens: 37, width: 33, experts: 64, topK: 2 } },
  { name: 'E=64 k=1 N=1', config: { tokens: 1, width: 4, experts: 64, topK: 1 } },
  { name: 'E=4 k=2 overflow cf=0.3', config: { tokens: 37, width: 6, experts: 4, topK: 2, capacityFactor: 0.3, auxLossWeight: 0.5 } },
  { name: 'E=8 k=1 overflow cf=0.5', config: { tokens: 300, width: 3, experts: 8, topK: 1, capacityFactor: 0.5 } },
  { name: 'E=5 k=2 ties', config: { tokens: 37, width: 4, experts: 5, topK: 2 }, ties: true },
  { name: 'E=5 k=1 ties normalised', config: { tokens: 37, width: 4, experts: 5, topK: 1, normalizeGates: true }, ties: true },
  { name: 'E=6 k=2 raw gates', config: { tokens: 37, width: 4, experts: 6, topK: 2, normalizeGates: false } },
  { name: 'E=8 k=2 N=1500 (several scan chunks)', config: { tokens: 1500, width: 2, experts: 8, topK: 2, capacityFactor: 0.9 } },
];

describe('moe routing kernels', () => {
  it.each(cases)('$name: every kernel matches the float64 reference', async ({ config, ties }) => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const ctx = `seed ${seed}`;
    const moe = new MoeRouting(gpu, config);
    const d: MoeDims = { N: moe.tokens, C: moe.width, E: moe.experts, K: moe.topK, cap: moe.capacity };
    const { N, C, E, K, cap } = d;
    const norm = moe.normalizeGates;
    const logits = ties ? Float32Array.from(randint(N * E, seed, 3)) : randn(N * E, seed, 2);

    // router
    const r = moeRouterRef(logits, d, norm);
    const probs = poisoned(gpu, N * E);
    const expertIndex = poisonedU32(gpu, N * K, 'expertIndex');
    const gates = poisoned(gpu, N * K);
    await run(gpu, (p) => moe.router(p, { logits: gpu.upload(logits, 'logits'), probs, expertIndex, gates }));
    expectEqualInts('router expertIndex', await gpu.readUint32(expertIndex, N * K), r.expertIndex, ctx);
    expectClose('router probs', await gpu.readFloat32(probs, N * E), r.probs, 1e-6, ctx);
    expectClose('router gates', await gpu.readFloat32(gates, N * K), r.gates, 1e-6, ctx);

    // assign + finalize, from the reference routing
    const a = moeAssignRef(r.expertIndex, Float32Array.from(r.probs), d);
    const refIndex = gpu.upload(r.expertIndex, 'ref expertIndex');
    const refProbs = gpu.upload(Float32Array.from(r.probs), 'ref probs');
    const slots = poisonedU32(gpu, N * K, 'slots');
    const slotSource = poisonedU32(gpu, E * cap, 'slotSource');
    const stats = poisonedU32(gpu, statsWords(E), 'stats');
    await run(gpu, (p) => moe.assign(p, { expertIndex: refIndex, probs: refProbs, slots, slotSource, stats }));
    expectEqualInts('assign slots', await gpu.readUint32(slots, N * K), a.slots, ctx);
    expectEqualInts('assign slotSource', await gpu.readUint32(slotSource, E * cap), a.slotSource, ctx);
    const st = decodeRoutingStats(await gpu.readback(stats), E);
    expectEqualInts('load', st.load, a.load, ctx);
    expectEqualInts('kept', st.kept, a.kept, ctx);
    expectEqualInts('firstChoice', st.firstChoice, a.firstChoice, ctx);
    expect(st.dropped).toBe(a.dropped);
    expectClose('probSum', st.probSum, a.probSum, 1e-6, ctx);
    expectClose('auxLoss', [st.auxLoss], [a.auxLoss], 1e-6, ctx);

    // dispatch / combine and their backward passes, from reference slots
    const refSlots = gpu.upload(a.slots, 'ref slots');
    const refSource = gpu.upload(a.slotSource, 'ref slotSource');
    const refGates = gpu.upload(Float32Array.from(r.gates), 'ref gates');
    const x = randn(N * C, seed + 1);
    const expertOut = randn(E * cap * C, seed + 2);
    const dy = randn(N * C, seed + 3);
    const dDispatched = randn(E * cap * C, seed + 4);
    const dGatesIn = randn(N * K, seed + 5);
    const dxInit = randn(N * C, seed + 6);
    const dispatched = poisoned(gpu, E * cap * C);
    const y = poisoned(gpu, N * C);
    const dExpertOut = poisoned(gpu, E * cap * C);
    const dGates = poisoned(gpu, N * K);
    const dLogits = poisoned(gpu, N * E);
    const dx = poisoned(gpu, N * C);
    const dxAcc = gpu.upload(dxInit, 'dx accumulated');
    const expertOutBuf = gpu.upload(expertOut, 'expertOut');
    const dDispatchedBuf = gpu.upload(dDispatched, 'dDispatched');
    const dyBuf = gpu.upload(dy, 'dy');
    await run(gpu, (p) => {
      moe.dispatch(p, { x: gpu.upload(x, 'x'), slotSource: refSource, dispatched });
      moe.combine(p, { expertOut: expertOutBuf, expertIndex: refIndex, slots: refSlots, gates: refGates, y });
      moe.combineBackward(p, { dy: dyBuf, expertOut: expertOutBuf, expertIndex: refIndex, slots: refSlots, slotSource: refSource, gates: refGates, dExpertOut, dGates });
      moe.routerBackward(p, { dGates: gpu.upload(dGatesIn, 'dGates in'), probs: refProbs, expertIndex: refIndex, stats, dLogits });
      moe.dispatchBackward(p, { dDispatched: dDispatchedBuf, expertIndex: refIndex, slots: refSlots, dx });
      moe.dispatchBackward(p, { dDispatched: dDispatchedBuf, expertIndex: refIndex, slots: refSlots, dx: dxAcc }, true);
    });
    expectClose('dispatch', await gpu.readFloat32(dispatched, E * cap * C), moeDispatchRef(x, a.slotSource, d), 0, ctx);
    expectClose('combine', await gpu.readFloat32(y, N * C), moeCombineRef(expertOut, r.expertIndex, a.slots, Float32Array.from(r.gates), d), 1e-6, ctx);
    const cb = moeCombineBackwardRef(dy, expertOut, r.expertIndex, a.slots, Float32Array.from(r.gates), d);
    expectClose('combineBackward dExpertOut', await gpu.readFloat32(dExpertOut, E * cap * C), cb.dExpertOut, 1e-6, ctx);
    // dGates are C-term dot products that may cancel (C=4 here and there): judge them against Σ|dy·out|.
    const abs = (a: Float32Array): Float32Array => a.map(Math.abs);
    const cbAbs = moeCombineBackwardRef(abs(dy), abs(expertOut), r.expertIndex, a.slots, Float32Array.from(r.gates), d);
    expectCloseToScale('combineBackward dGates', await gpu.readFloat32(dGates, N * K), cb.dGates, cbAbs.dGates, 1e-5, ctx);
    const dl = moeRouterBackwardRef(dGatesIn, Float32Array.from(r.probs), r.expertIndex, a.firstChoice, d, norm, moe.auxLossWeight);
    // The gate's and the aux loss's gradients may cancel (dg ≈ −auxWeight·E/N² at N=1): judge against the terms' size.
    const dlScale = moeRouterBackwardMagnitude(dGatesIn, Float32Array.from(r.probs), r.expertIndex, a.firstChoice, d, norm, moe.auxLossWeight);
    expectCloseToScale('routerBackward', await gpu.readFloat32(dLogits, N * E), dl, dlScale, 1e-5, ctx);
    const dxRef = moeDispatchBackwardRef(dDispatched, r.expertIndex, a.slots, d);
    expectClose('dispatchBackward', await gpu.readFloat32(dx, N * C), dxRef, 1e-6, ctx);
    expectClose('dispatchBackward accumulate', await gpu.readFloat32(dxAcc, N * C), dxRef.map((v, i) => v + dxInit[i]), 1e-6, ctx);
  });

  it('drops exactly the pairs past capacity: every first choice before any second choice', async () => {
    const gpu = await testGpu();
    // 4 tokens, 2 experts, capacity 2; every token prefers expert 0, second choice expert 1.
    const moe = new MoeRouting(gpu, { tokens: 4, width: 1, experts: 2, topK: 2, capacity: 2 });
    const logits = gpu.upload(new Float32Array([2, 1, 2, 1, 2, 1, 2, 1]), 'logits');
    const b = moe.createBuffers('fixed');
    await run(gpu, (p) => {
      moe.router(p, { logits, ...b });
      moe.assign(p, b);
    });
    const X = NO_SLOT;
    expectEqualInts('expertIndex', await gpu.readUint32(b.expertIndex, 8), [0, 1, 0, 1, 0, 1, 0, 1]);
    expectEqualInts('slots', await gpu.readUint32(b.slots, 8), [0, 0, 1, 1, X, X, X, X]);
    expectEqualInts('slotSource', await gpu.readUint32(b.slotSource, 4), [0, 2, 1, 3]);
    const st = decodeRoutingStats(await gpu.readback(b.stats), 2);
    expect(st.dropped).toBe(4);
    expect(Array.from(st.load)).toEqual([4, 4]);
    expect(Array.from(st.firstChoice)).toEqual([4, 0]);
  });

  it('rejects shapes it cannot route, with a message saying why', async () => {
    const gpu = await testGpu();
    expect(() => new MoeRouting(gpu, { tokens: 4, width: 2, experts: 65, topK: 1 })).toThrow(/experts must be an integer in 1..64/);
    expect(() => new MoeRouting(gpu, { tokens: 4, width: 2, experts: 1, topK: 2 })).toThrow(/topK 2 needs at least 2 experts/);
    expect(() => new MoeRouting(gpu, { tokens: 4, width: 2, experts: 2, topK: 1, capacityFactor: 0 })).toThrow(/capacityFactor/);
    const moe = new MoeRouting(gpu, { tokens: 4, width: 2, experts: 2, topK: 1 });
    const small = gpu.createBuffer(4, 'small');
    const b = moe.createBuffers();
    await expect(run(gpu, (p) => moe.router(p, { logits: small, ...b }))).rejects.toThrow(/moe router: logits \('small'\) holds 1 floats, needs 8/);
  });
});

describe('moe layer (router matmul, routing, expert FFN, combine)', () => {
  const layerCases: MoeLayerConfig[] = [
    { tokens: 37, width: 6, experts: 3, topK: 2, hidden: 10, auxLossWeight: 0.1 },
    { tokens: 37, width: 5, experts: 4, topK: 1, hidden: 7, capacityFactor: 0.5, auxLossWeight: 0.3, activation: 'swiglu', accumulateGrads: true },
    { tokens: 37, width: 8, experts: 5, topK: 2, hidden: 8, activation: 'swiglu' },
    { tokens: 1, width: 4, experts: 1, topK: 1, hidden: 3, accumulateGrads: true },
  ];
  it.each(layerCases)('forward and backward match the float64 reference (%o)', async (config) => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const ctx = `seed ${seed}`;
    const layer = new MoeLayer(gpu, config);
    const r = layer.routing;
    const d: MoeDims = { N: r.tokens, C: r.width, E: r.experts, K: r.topK, cap: r.capacity };
    const o = { H: config.hidden, normalize: r.normalizeGates, activation: layer.activation };
    const F = moeUpWidth(config);
    const x = randn(d.N * d.C, seed);
    const w = { wr: randn(d.C * d.E, seed + 1), w1: randn(d.E * d.C * F, seed + 2, 0.5), w2: randn(d.E * o.H * d.C, seed + 3, 0.5) };
    const dy = randn(d.N * d.C, seed + 4);
    const acc = config.accumulateGrads ?? false;
    const dwInit = { wr: randn(w.wr.length, seed + 5), w1: randn(w.w1.length, seed + 6), w2: randn(w.w2.length, seed + 7) };
    const xb = gpu.upload(x, 'x');
    const wb = { wr: gpu.upload(w.wr, 'wr'), w1: gpu.upload(w.w1, 'w1'), w2: gpu.upload(w.w2, 'w2') };
    const y = poisoned(gpu, d.N * d.C);
    const dx = poisoned(gpu, d.N * d.C);
    const dwBuf = (k: 'wr' | 'w1' | 'w2') => (acc ? gpu.upload(dwInit[k], `d${k}`) : poisoned(gpu, w[k].length));
    const dw = { wr: dwBuf('wr'), w1: dwBuf('w1'), w2: dwBuf('w2') };
    await run(gpu, (p) => {
      layer.forward(p, xb, wb, y);
      layer.backward(p, xb, wb, gpu.upload(dy, 'dy'), dx, dw);
    });
    const f = moeLayerForwardRef(x, w, d, o);
    const g = moeLayerBackwardRef(x, w, f, dy, d, o, r.auxLossWeight);
    expectEqualInts('expertIndex', await gpu.readUint32(layer.buffers.expertIndex, d.N * d.K), f.router.expertIndex, ctx);
    expectEqualInts('slots', await gpu.readUint32(layer.buffers.slots, d.N * d.K), f.assign.slots, ctx);
    expectClose('y', await gpu.readFloat32(y, d.N * d.C), f.y, 1e-5, ctx);
    const st = decodeRoutingStats(await gpu.readback(layer.buffers.stats), d.E);
    expect(st.dropped).toBe(f.assign.dropped);
    expectClose('auxLoss', [st.auxLoss], [f.assign.auxLoss], 1e-5, ctx);
    expectClose('dx', await gpu.readFloat32(dx, d.N * d.C), g.dx, 1e-5, ctx);
    for (const k of ['wr', 'w1', 'w2'] as const) {
      const want = g[`d${k}`].map((v, i) => (acc ? v + dwInit[k][i] : v));
      expectClose(`d${k}`, await gpu.readFloat32(dw[k], w[k].length), want, 1e-5, ctx);
    }
    layer.destroy();
  });
});
