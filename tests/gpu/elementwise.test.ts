import { describe, expect, it } from 'vitest';
import {
  Add, Axpy, Fill, GeluBackward, GeluForward, Rope, Scale, SwigluBackward, SwigluForward, type RopeShape,
} from '../../src/kernels/elementwise';
import { addRef, axpyRef, fillRef, geluBackwardRef, geluRef, ropeRef, scaleRef, swigluBackwardRef, swigluRef } from '../reference/elementwise';
import { expectClose } from '../util/compare';
import { poisoned, run, testGpu } from '../util/gpu';
import { freshSeed, randn } from '../util/random';

const TOL = 1e-5;

describe('fill / add / scale / axpy', () => {
  it.each([1, 4, 7, 255, 256, 257, 1000, 1024])('fill n=%i writes every element', async (n) => {
    const gpu = await testGpu();
    const out = poisoned(gpu, n);
    const k = new Fill(gpu, n, 2.5);
    await run(gpu, (p) => k.encode(p, out));
    expectClose('fill', await gpu.readFloat32(out, n), fillRef(n, 2.5), 0);
  });

  it.each([1, 13, 257, 1024, 4099])('add n=%i matches the reference', async (n) => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const a = randn(n, seed);
    const b = randn(n, seed + 1);
    const out = poisoned(gpu, n);
    const k = new Add(gpu, n);
    await run(gpu, (p) => k.encode(p, gpu.upload(a, 'a'), gpu.upload(b, 'b'), out));
    expectClose('add', await gpu.readFloat32(out, n), addRef(a, b), 1e-6, `seed ${seed}`);
  });

  it('add rejects a buffer too small for n', async () => {
    const gpu = await testGpu();
    const k = new Add(gpu, 100);
    const small = gpu.upload(new Float32Array(10), 'small');
    await expect(run(gpu, (p) => k.encode(p, small, small, poisoned(gpu, 100)))).rejects.toThrow(/holds 10 floats, needs 100/);
  });

  it('add writes into a range of a larger buffer and leaves the rest alone', async () => {
    const gpu = await testGpu();
    const n = 96;
    const a = randn(n, 1);
    const b = randn(n, 2);
    const big = gpu.upload(new Float32Array(64 + n + 8).fill(7), 'big');
    const k = new Add(gpu, n);
    await run(gpu, (p) => k.encode(p, gpu.upload(a, 'a'), gpu.upload(b, 'b'), { buffer: big, offset: 256, size: 4 * n }));
    const got = await gpu.readFloat32(big);
    expectClose('add range', got.slice(64, 64 + n), addRef(a, b), 1e-6);
    expect([got[0], got[63], got[64 + n], got[64 + n + 7]]).toEqual([7, 7, 7, 7]);
  });

  it.each([1, 6, 1024, 1027])('scale n=%i and setValue', async (n) => {
    const gpu = await testGpu();
    const x = randn(n, freshSeed());
    const buf = gpu.upload(x, 'x');
    const k = new Scale(gpu, n, 0.25);
    await run(gpu, (p) => k.encode(p, buf));
    expectClose('scale', await gpu.readFloat32(buf, n), scaleRef(x, 0.25), 1e-7);
    k.setValue(-3);
    await run(gpu, (p) => k.encode(p, buf));
    expectClose('scale again', await gpu.readFloat32(buf, n), scaleRef(x, -0.75), 1e-7);
  });

  it.each([1, 6, 1024, 1027])('axpy n=%i', async (n) => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const x = randn(n, seed);
    const y = randn(n, seed + 1);
    const ybuf = gpu.upload(y, 'y');
    const k = new Axpy(gpu, n, 0.5);
    await run(gpu, (p) => k.encode(p, gpu.upload(x, 'x'), ybuf));
    expectClose('axpy', await gpu.readFloat32(ybuf, n), axpyRef(0.5, x, y), 1e-6, `seed ${seed}`);
  });
});

describe('gelu', () => {
  it.each([1, 7, 256, 1000, 4096])('forward and backward n=%i', async (n) => {
    const gpu = await testGpu();
    const seed = freshSeed();
    // tiny n: fixed inputs away from gelu'(x) = 0 (x ≈ -0.75), where one element's relative error is unbounded
    const x = n < 8 ? Float32Array.from({ length: n }, (_, i) => 1.5 - 0.4 * i) : randn(n, seed, 3);
    const dy = randn(n, seed + 1);
    const xb = gpu.upload(x, 'x');
    const out = poisoned(gpu, n, 'out');
    const dx = poisoned(gpu, n, 'dx');
    const fwd = new GeluForward(gpu, n);
    const bwd = new GeluBackward(gpu, n);
    await run(gpu, (p) => {
      fwd.encode(p, xb, out);
      bwd.encode(p, xb, gpu.upload(dy, 'dy'), dx);
    });
    expectClose('gelu forward', await gpu.readFloat32(out, n), geluRef(x), TOL, `seed ${seed}`);
    expectClose('gelu backward', await gpu.readFloat32(dx, n), geluBackwardRef(x, dy), TOL, `seed ${seed}`);
  });

  it('backward in place over dy', async () => {
    const gpu = await testGpu();
    const n = 1001;
    const x = randn(n, 5, 2);
    const dy = randn(n, 6);
    const dyDx = gpu.upload(dy, 'dyDx');
    const bwd = new GeluBackward(gpu, n, { inPlace: true });
    await run(gpu, (p) => bwd.encode(p, gpu.upload(x, 'x'), dyDx));
    expectClose('gelu backward in place', await gpu.readFloat32(dyDx, n), geluBackwardRef(x, dy), TOL);
  });

  it('keeps per-element relative accuracy in the tails', async () => {
    const gpu = await testGpu();
    const x = Float32Array.from({ length: 64 }, (_, i) => (i < 32 ? -9 + (6 * i) / 31 : 3 + (6 * (i - 32)) / 31));
    const n = x.length;
    const out = poisoned(gpu, n);
    const dx = poisoned(gpu, n);
    const xb = gpu.upload(x, 'x');
    await run(gpu, (p) => {
      new GeluForward(gpu, n).encode(p, xb, out);
      new GeluBackward(gpu, n).encode(p, xb, gpu.upload(new Float32Array(n).fill(1), 'dy'), dx);
    });
    const y = await gpu.readFloat32(out, n);
    const g = await gpu.readFloat32(dx, n);
    const yRef = geluRef(x);
    const gRef = geluBackwardRef(x, new Float32Array(n).fill(1));
    for (let i = 0; i < n; i++) {
      expect(Math.abs(y[i] - yRef[i]), `gelu(${x[i]}) = ${y[i]}, want ${yRef[i]}`).toBeLessThanOrEqual(1e-5 * Math.abs(yRef[i]));
      expect(Math.abs(g[i] - gRef[i]), `gelu'(${x[i]}) = ${g[i]}, want ${gRef[i]}`).toBeLessThanOrEqual(1e-4 * Math.abs(gRef[i]));
    }
  });

  it('stays finite at extreme inputs', async () => {
    const gpu = await testGpu();
    const x = new Float32Array([-1e4, -100, -20, -1e-6, 0, 1e-6, 20, 100, 1e4, 3e38, -3e38, 50]);
    const n = x.length;
    const dy = new Float32Array(n).fill(1);
    const out = poisoned(gpu, n);
    const dx = poisoned(gpu, n);
    const xb = gpu.upload(x, 'x');
    await run(gpu, (p) => {
      new GeluForward(gpu, n).encode(p, xb, out);
      new GeluBackward(gpu, n).encode(p, xb, gpu.upload(dy, 'dy'), dx);
    });
    const y = await gpu.readFloat32(out, n);
    const g = await gpu.readFloat32(dx, n);
    // 3e38 overflows x^3 to inf in float32; the tanh form still saturates to gelu(x) = x and gelu'(x) = 1 or 0.
    for (let i = 0; i < n; i++) expect(Number.isFinite(y[i]) && Number.isFinite(g[i]), `gelu(${x[i]}) = ${y[i]}, gelu' = ${g[i]}`).toBe(true);
    const small = Array.from(x, (v) => Math.abs(v) < 1e3);
    expectClose('gelu extreme forward', y.filter((_, i) => small[i]), geluRef(x.filter((_, i) => small[i])), TOL);
    expectClose('gelu extreme forward, huge', y.filter((_, i) => !small[i]), geluRef(x.filter((_, i) => !small[i])), TOL);
    expectClose('gelu extreme backward', g, geluBackwardRef(x, dy), TOL);
  });
});

describe('swiglu', () => {
  it.each([
    [1, 1],
    [1, 7],
    [3, 8],
    [5, 257],
    [64, 256],
  ])('forward and backward N=%i H=%i', async (N, H) => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const inp = randn(N * 2 * H, seed, 2);
    const dout = randn(N * H, seed + 1);
    const inpBuf = gpu.upload(inp, 'inp');
    const out = poisoned(gpu, N * H, 'out');
    const dinp = poisoned(gpu, N * 2 * H, 'dinp');
    const fwd = new SwigluForward(gpu, { N, H });
    const bwd = new SwigluBackward(gpu, { N, H });
    await run(gpu, (p) => {
      fwd.encode(p, inpBuf, out);
      bwd.encode(p, inpBuf, gpu.upload(dout, 'dout'), dinp);
    });
    expectClose('swiglu forward', await gpu.readFloat32(out, N * H), swigluRef(inp, N, H), TOL, `seed ${seed}`);
    expectClose('swiglu backward', await gpu.readFloat32(dinp, N * 2 * H), swigluBackwardRef(inp, dout, N, H), TOL, `seed ${seed}`);
  });

  it('stays finite at extreme gates', async () => {
    const gpu = await testGpu();
    const inp = new Float32Array([-1e4, -100, 0, 100, 1e4, 1, 2, 3, 4, 5]);
    const out = poisoned(gpu, 5);
    const dinp = poisoned(gpu, 10);
    const ib = gpu.upload(inp, 'inp');
    await run(gpu, (p) => {
      new SwigluForward(gpu, { N: 1, H: 5 }).encode(p, ib, out);
      new SwigluBackward(gpu, { N: 1, H: 5 }).encode(p, ib, gpu.upload(new Float32Array(5).fill(1), 'dout'), dinp);
    });
    expectClose('swiglu extreme forward', await gpu.readFloat32(out, 5), swigluRef(inp, 1, 5), TOL);
    expectClose('swiglu extreme backward', await gpu.readFloat32(dinp, 10), swigluBackwardRef(inp, new Float32Array(5).fill(1), 1, 5), TOL);
  });

  it('rejects an output that aliases the input', async () => {
    const gpu = await testGpu();
    const buf = gpu.createBuffer(4 * 16, 'shared');
    expect(() => new SwigluForward(gpu, { N: 2, H: 4 }).encode(null as unknown as GPUComputePassEncoder, buf, buf)).toThrow(/must not share a buffer/);
  });
});

describe('rope', () => {
  const dense = (s: RopeShape): number => s.B * s.T * s.NH * s.HS;

  it.each<[string, RopeShape]>([
    ['HS=2', { B: 1, T: 3, NH: 1, HS: 2 }],
    ['HS=6', { B: 2, T: 5, NH: 3, HS: 6 }],
    ['HS=8 vec4', { B: 2, T: 4, NH: 2, HS: 8 }],
    ['HS=64 posOffset', { B: 2, T: 16, NH: 4, HS: 64, posOffset: 37 }],
    ['T=1 decoding at 300', { B: 3, T: 1, NH: 2, HS: 16, posOffset: 300, theta: 500 }],
  ])('%s: forward out of place, backward in place', async (_, shape) => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const n = dense(shape);
    const x = randn(n, seed);
    const dy = randn(n, seed + 1);
    const out = poisoned(gpu, n, 'out');
    const dyBuf = gpu.upload(dy, 'dy');
    const fwd = new Rope(gpu, shape, { inPlace: false });
    const bwd = new Rope(gpu, shape);
    await run(gpu, (p) => {
      fwd.encodeForward(p, gpu.upload(x, 'x'), out);
      bwd.encodeBackward(p, dyBuf);
    });
    expectClose('rope forward', await gpu.readFloat32(out, n), ropeRef(x, shape), TOL, `seed ${seed}`);
    expectClose('rope backward', await gpu.readFloat32(dyBuf, n), ropeRef(dy, shape, true), TOL, `seed ${seed}`);
  });

  it('rotates k in place inside a fused qkv buffer (rowStride, offset), leaving q and v alone', async () => {
    const gpu = await testGpu();
    for (const HS of [6, 8]) {
      const B = 2, T = 3, NH = 2;
      const C = NH * HS;
      const shape: RopeShape = { B, T, NH, HS, rowStride: 3 * C, offset: C, posOffset: 2 };
      const qkv = randn(B * T * 3 * C, freshSeed());
      const buf = gpu.upload(qkv, 'qkv');
      await run(gpu, (p) => new Rope(gpu, shape).encodeForward(p, buf));
      expectClose(`rope k in qkv HS=${HS}`, await gpu.readFloat32(buf, qkv.length), ropeRef(qkv, shape), TOL);
    }
  });

  it('stays accurate at large positions (angle reduced exactly)', async () => {
    const gpu = await testGpu();
    const shape: RopeShape = { B: 1, T: 8, NH: 1, HS: 64, posOffset: 8000 };
    const x = randn(dense(shape), freshSeed());
    const buf = gpu.upload(x, 'x');
    await run(gpu, (p) => new Rope(gpu, shape).encodeForward(p, buf));
    expectClose('rope at pos 8000', await gpu.readFloat32(buf, x.length), ropeRef(x, shape), TOL);
  });

  it('setPosOffset moves the positions of later submits', async () => {
    const gpu = await testGpu();
    const shape: RopeShape = { B: 1, T: 1, NH: 2, HS: 8 };
    const x = randn(16, freshSeed());
    const k = new Rope(gpu, shape, { inPlace: false });
    const out = poisoned(gpu, 16);
    const xb = gpu.upload(x, 'x');
    for (const pos of [0, 5, 129]) {
      k.setPosOffset(pos);
      await run(gpu, (p) => k.encodeForward(p, xb, out));
      expectClose(`rope pos ${pos}`, await gpu.readFloat32(out, 16), ropeRef(x, { ...shape, posOffset: pos }), TOL);
    }
  });

  it('rejects odd head sizes with a message', async () => {
    const gpu = await testGpu();
    expect(() => new Rope(gpu, { B: 1, T: 1, NH: 1, HS: 5 })).toThrow(/HS must be even/);
  });
});
