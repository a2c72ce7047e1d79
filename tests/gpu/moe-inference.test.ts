// MoE layers at inference: capacity N (nothing dropped) and each expert's matmuls sized by its routed rows.
import { describe, expect, it } from 'vitest';
import { decodeRoutingStats } from '../../src/kernels/moe';
import { MoeLayer, moeUpWidth, type MoeLayerConfig } from '../../src/model/moe-layer';
import { moeLayerForwardRef, type MoeDims } from '../reference/moe';
import { expectClose, expectEqualInts } from '../util/compare';
import { poisoned, run, testGpu } from '../util/gpu';
import { freshSeed, randn } from '../util/random';

// Shapes near tests/gpu/moe.test.ts's layer cases, so a full run compiles few new pipelines.
const cases: [string, MoeLayerConfig, number][] = [
  ['E=3 k=2 GELU N=37', { tokens: 37, width: 6, experts: 3, topK: 2, hidden: 10, inference: true }, 0],
  ['E=2 k=1 N=1', { tokens: 1, width: 4, experts: 2, topK: 1, hidden: 3, inference: true }, 0],
  // the router favours expert 0: 300 rows over several row tiles for it, few or none for the others
  ['E=4 k=1 SwiGLU skewed N=300', { tokens: 300, width: 8, experts: 4, topK: 1, hidden: 8, activation: 'swiglu', inference: true }, 3],
];

describe('moe layer, inference (sparse expert matmuls)', () => {
  it.each(cases)('%s: matches the float64 reference with nothing dropped; experts run only their routed row tiles', async (_, config, skew) => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const ctx = `seed ${seed}`;
    const layer = new MoeLayer(gpu, config);
    const r = layer.routing;
    const d: MoeDims = { N: r.tokens, C: r.width, E: r.experts, K: r.topK, cap: r.capacity };
    expect(d.cap).toBe(d.N);
    const H = config.hidden;
    const F = moeUpWidth(config);
    const x = randn(d.N * d.C, seed).map(Math.abs);
    const wr = randn(d.C * d.E, seed + 1);
    for (let c = 0; c < d.C; c++) wr[c * d.E] += skew;
    const w = { wr, w1: randn(d.E * d.C * F, seed + 2, 0.5), w2: randn(d.E * H * d.C, seed + 3, 0.5) };
    const y = poisoned(gpu, d.N * d.C);
    const wb = { wr: gpu.upload(w.wr, 'wr'), w1: gpu.upload(w.w1, 'w1'), w2: gpu.upload(w.w2, 'w2') };
    await run(gpu, (p) => layer.forward(p, gpu.upload(x, 'x'), wb, y));
    const f = moeLayerForwardRef(x, w, d, { H, normalize: r.normalizeGates, activation: layer.activation });
    expect(f.assign.dropped).toBe(0);
    expectEqualInts('expertIndex', await gpu.readUint32(layer.buffers.expertIndex, d.N * d.K), f.router.expertIndex, ctx);
    expectClose('y', await gpu.readFloat32(y, d.N * d.C), f.y, 1e-5, ctx);

    // the grid: ceil(kept / rows) row tiles per expert, for both matmuls; x and z as written at construction
    const st = decodeRoutingStats(await gpu.readback(layer.buffers.stats), d.E);
    expect(st.dropped).toBe(0);
    expect(st.kept.reduce((a, b) => a + b, 0)).toBe(d.N * d.K);
    const args = await gpu.readUint32(layer.expertGridArgs!);
    const rows = args[6 * d.E];
    expect(rows).toBeGreaterThan(0);
    let sparse = 0;
    let dense = 0;
    for (let e = 0; e < d.E; e++) {
      const tiles = Math.ceil(st.kept[e] / rows);
      for (const at of [3 * e, 3 * (d.E + e)]) {
        expect([args[at + 1], args[at + 2]]).toEqual([tiles, 1]);
        sparse += args[at] * tiles;
        dense += args[at] * Math.ceil(d.N / rows);
      }
    }
    // counted, not timed: workgroups of the expert matmuls against the dense (every expert, every row) grid
    console.log(`[moe inference] ${JSON.stringify(config)}: kept ${Array.from(st.kept)}, ${rows} rows per workgroup, ${sparse} expert-matmul workgroups (dense: ${dense})`);
    expect(sparse).toBeLessThanOrEqual(dense);
    if (skew) expect(sparse).toBeLessThan(dense);
    layer.destroy();
  });

  it('is forward only and never drops: backward and a capacity are refused', async () => {
    const gpu = await testGpu();
    const config: MoeLayerConfig = { tokens: 4, width: 4, experts: 2, topK: 1, hidden: 4, inference: true };
    expect(() => new MoeLayer(gpu, { ...config, capacityFactor: 1 })).toThrow(/inference drops nothing, so its capacity is tokens \(4\)/);
    expect(() => new MoeLayer(gpu, { ...config, capacity: 2 })).toThrow(/capacity is tokens/);
    const layer = new MoeLayer(gpu, config);
    const b = gpu.createBuffer(64, 'b');
    await expect(run(gpu, (p) => layer.backward(p, b, { wr: b, w1: b, w2: b }, b, b, { wr: b, w1: b, w2: b }))).rejects.toThrow(/made for inference/);
    layer.destroy();
    gpu.release(b);
  });
});
