import { beforeAll, describe, expect, it } from 'vitest';
import { Attention, attentionSizes, SHORT_KEYS, type AttentionShape, type AttentionTiles } from '../../src/kernels/attention';
import type { Gpu } from '../../src/gpu/device';
import { attentionBackwardRef, attentionForwardRef } from '../reference/attention';
import { expectClose } from '../util/compare';
import { poisoned, run, testGpu } from '../util/gpu';
import { freshSeed, randn } from '../util/random';

interface Case extends AttentionShape {
  tiles?: AttentionTiles;
  /** Standard deviation of q and k (large values make the softmax peaky). */
  spread?: number;
}

async function forwardBackward(gpu: Gpu, c: Case, seed: number) {
  const n = attentionSizes(c);
  const spread = c.spread ?? 1;
  const host = { q: randn(n.q, seed, spread), k: randn(n.kv, seed + 1, spread), v: randn(n.kv, seed + 2), dy: randn(n.q, seed + 3) };
  const q = gpu.upload(host.q, 'q');
  const k = gpu.upload(host.k, 'k');
  const v = gpu.upload(host.v, 'v');
  const dy = gpu.upload(host.dy, 'dy');
  const y = poisoned(gpu, n.q, 'y');
  const lse = poisoned(gpu, n.lse, 'lse');
  const dq = poisoned(gpu, n.q, 'dq');
  const dk = poisoned(gpu, n.kv, 'dk');
  const dv = poisoned(gpu, n.kv, 'dv');
  const scratch = poisoned(gpu, Attention.scratchFloats(c), 'D');
  const att = new Attention(gpu, c, c.tiles);
  await run(gpu, (p) => att.encodeForward(p, q, k, v, y, lse));
  await run(gpu, (p) => att.encodeBackward(p, q, k, v, y, lse, dy, dq, dk, dv, scratch));
  const out = {
    y: await gpu.readFloat32(y, n.q),
    lse: await gpu.readFloat32(lse, n.lse),
    dq: await gpu.readFloat32(dq, n.q),
    dk: await gpu.readFloat32(dk, n.kv),
    dv: await gpu.readFloat32(dv, n.kv),
  };
  for (const b of [q, k, v, dy, y, lse, dq, dk, dv, scratch]) gpu.release(b);
  att.destroy();
  return { host, out };
}

const name = (c: Case) =>
  `B${c.B} T${c.T} NH${c.NH} NKV${c.NKV} HS${c.HS}` +
  (c.scale !== undefined ? ` scale ${c.scale}` : '') +
  (c.spread ? ` spread ${c.spread}` : '') +
  (c.tiles ? ` rows ${c.tiles.rows} staged ${c.tiles.staged}` : '');

// Pipelines are specialised by head size and tiles only, and SwiftShader compiles each in seconds, so the
// cases share four variants, compiled up front in parallel: HS 16 with the short-sequence tiles (16 x 8, up to
// SHORT_KEYS keys) and the long ones (32 x 16), HS 64 with the short ones, and HS 5 (not a multiple of 4) with
// 8 x 8 tiles (many row and staged blocks, partial ones at both ends).
const small: AttentionTiles = { rows: 8, staged: 8 };
const variants: [Partial<AttentionShape> & { HS: number }, AttentionTiles | undefined][] = [
  [{ HS: 16, T: SHORT_KEYS }, undefined],
  [{ HS: 16, T: SHORT_KEYS + 1 }, undefined],
  [{ HS: 64, T: SHORT_KEYS }, undefined],
  [{ HS: 5 }, small],
];
const cases: Case[] = [
  { B: 2, T: 1, NH: 4, NKV: 2, HS: 16 }, // several rows: one lse near 0 alone would make a relative norm flaky
  { B: 2, T: 33, NH: 4, NKV: 2, HS: 16 },
  { B: 1, T: 40, NH: 3, NKV: 1, HS: 16, scale: 0.3, spread: 3 },
  { B: 2, T: 70, NH: 4, NKV: 2, HS: 16 }, // past SHORT_KEYS: 32 x 16 tiles, a partial block of rows at the end
  { B: 1, T: 33, NH: 4, NKV: 1, HS: 64 },
  { B: 1, T: 7, NH: 2, NKV: 2, HS: 5, tiles: small },
  { B: 2, T: 70, NH: 2, NKV: 1, HS: 5, tiles: small, spread: 3 },
  { B: 1, T: 19, NH: 4, NKV: 4, HS: 5, tiles: small },
];

describe('attention', () => {
  beforeAll(async () => {
    const gpu = await testGpu();
    await Promise.all(variants.map(([shape, tiles]) => Attention.prepare(gpu, shape, tiles)));
  }, 600_000);

  it.each(cases)('forward and backward match the float64 reference: B $B T $T NH $NH NKV $NKV HS $HS tiles $tiles', async (c) => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const { host, out } = await forwardBackward(gpu, c, seed);
    const ctx = `${name(c)}, seed ${seed}`;
    const ref = attentionForwardRef(host.q, host.k, host.v, c);
    expectClose('y', out.y, ref.y, 1e-5, ctx);
    expectClose('lse', out.lse, ref.lse, 1e-5, ctx);
    const grads = attentionBackwardRef(host.q, host.k, host.v, host.dy, c);
    expectClose('dq', out.dq, grads.dq, 1e-4, ctx);
    expectClose('dk', out.dk, grads.dk, 1e-4, ctx);
    expectClose('dv', out.dv, grads.dv, 1e-4, ctx);
  });

  it.each([
    { B: 2, T: 5, Tk: 37, kvRows: 40, NH: 4, NKV: 2, HS: 16 },
    { B: 1, T: 1, Tk: 33, kvRows: 33, NH: 2, NKV: 1, HS: 16 },
  ])('decoding forward: T $T queries after Tk $Tk keys of a $kvRows-row cache match the reference', async (c) => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const n = attentionSizes(c);
    const host = { q: randn(n.q, seed), k: randn(n.kv, seed + 1), v: randn(n.kv, seed + 2) };
    const [q, k, v] = [gpu.upload(host.q, 'q'), gpu.upload(host.k, 'k'), gpu.upload(host.v, 'v')];
    const y = poisoned(gpu, n.q, 'y');
    const lse = poisoned(gpu, n.lse, 'lse');
    const att = new Attention(gpu, c);
    await run(gpu, (p) => att.encodeForward(p, q, k, v, y, lse));
    const ref = attentionForwardRef(host.q, host.k, host.v, c);
    expectClose('y', await gpu.readFloat32(y, n.q), ref.y, 1e-5, `seed ${seed}`);
    expectClose('lse', await gpu.readFloat32(lse, n.lse), ref.lse, 1e-5, `seed ${seed}`);
    expect(() => att.encodeBackward(null as never, q, k, v, y, lse, q, y, k, v, lse)).toThrow(/needs Tk = kvRows = T/);
    for (const b of [q, k, v, y, lse]) gpu.release(b);
    att.destroy();
  });

  it('backward is deterministic (bitwise equal across runs)', async () => {
    const gpu = await testGpu();
    const c: Case = { B: 1, T: 40, NH: 4, NKV: 1, HS: 5, tiles: small };
    const seed = freshSeed();
    const a = await forwardBackward(gpu, c, seed);
    const b = await forwardBackward(gpu, c, seed);
    for (const key of ['y', 'lse', 'dq', 'dk', 'dv'] as const) expect(Array.from(b.out[key]), key).toEqual(Array.from(a.out[key]));
  });

  it('takes small tiles up to SHORT_KEYS keys (T, or the cache rows when decoding) and the large ones past it', async () => {
    const gpu = await testGpu();
    const tilesOf = (s: AttentionShape) => {
      const att = new Attention(gpu, s);
      const t = att.tiles;
      att.destroy();
      return t.forward;
    };
    expect(tilesOf({ B: 1, T: SHORT_KEYS, NH: 2, NKV: 2, HS: 16 })).toEqual({ rows: 16, staged: 8 });
    expect(tilesOf({ B: 1, T: SHORT_KEYS + 1, NH: 2, NKV: 2, HS: 16 })).toEqual({ rows: 32, staged: 16 });
    expect(tilesOf({ B: 1, T: 1, Tk: 10, kvRows: SHORT_KEYS + 1, NH: 2, NKV: 2, HS: 16 })).toEqual({ rows: 32, staged: 16 });
  });

  it('rejects bad shapes and small buffers with a message', async () => {
    const gpu = await testGpu();
    expect(() => new Attention(gpu, { B: 1, T: 4, NH: 3, NKV: 2, HS: 16 })).toThrow(/NH 3 is not divisible by NKV 2/);
    expect(() => new Attention(gpu, { B: 1, T: 0, NH: 1, NKV: 1, HS: 16 })).toThrow(/T must be a positive integer/);
    const att = new Attention(gpu, { B: 1, T: 4, NH: 2, NKV: 1, HS: 16 });
    const tooSmall = gpu.createBuffer(4 * 10, 'small');
    const ok = gpu.createBuffer(4 * 128, 'ok');
    const lse = gpu.createBuffer(4 * 8, 'lse');
    const y = gpu.createBuffer(4 * 128, 'y');
    await expect(run(gpu, (p) => att.encodeForward(p, tooSmall, ok, ok, y, lse))).rejects.toThrow(
      /attention forward: q \('small'\) holds 10 floats, needs 128/,
    );
    await expect(run(gpu, (p) => att.encodeForward(p, ok, ok, ok, ok, lse))).rejects.toThrow(/attention forward: y must not share a buffer with q/);
    await expect(run(gpu, (p) => att.encodeForward(p, ok, ok, ok, y, y))).rejects.toThrow(/attention forward: lse must not share a buffer with y/);
    expect(() => new Attention(gpu, { B: 1, T: 4, Tk: 3, NH: 1, NKV: 1, HS: 16 })).toThrow(/Tk 3 must be an integer >= T 4/);
    for (const b of [tooSmall, ok, y, lse]) gpu.release(b);
    att.destroy();
  });
});
