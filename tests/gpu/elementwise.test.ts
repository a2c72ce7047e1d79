import { describe, expect, it } from 'vitest';
import { Add, GeluBackward, GeluForward, Rope, Scale, SwigluBackward, SwigluForward, type RopeShape } from '../../src/kernels/elementwise';
import { addRef, geluBackwardRef, geluRef, ropeRef, scaleRef, swigluBackwardRef, swigluRef } from '../reference/elementwise';
import {
  ADD_SIZES, AXPY_SIZES, FILL_SIZES, GELU_SIZES, ROPE_SHAPES, SWIGLU_SHAPES, addCase, axpyCase, fillCase, geluCase, ropeCase, swigluCase,
} from '../util/cases/elementwise';
import { expectClose } from '../util/compare';
import { poisoned, run, testGpu } from '../util/gpu';
import { testKernel } from '../util/kernel-test';
import { freshSeed, randn } from '../util/random';

const TOL = 1e-5;

describe('fill / add / scale / axpy', () => {
  it.each(FILL_SIZES)('fill n=%i writes every element', async (n) => {
    await testKernel(await testGpu(), fillCase(n));
  });

  it.each(ADD_SIZES)('add n=%i matches the reference', async (n) => {
    await testKernel(await testGpu(), addCase(n));
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

  it.each(AXPY_SIZES)('axpy n=%i', async (n) => {
    await testKernel(await testGpu(), axpyCase(n));
  });
});

describe('gelu', () => {
  it.each(GELU_SIZES)('forward and backward n=%i', async (n) => {
    await testKernel(await testGpu(), geluCase(n));
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
  it.each(SWIGLU_SHAPES)('forward and backward N=%i H=%i', async (N, H) => {
    await testKernel(await testGpu(), swigluCase(N, H));
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

  it.each(ROPE_SHAPES.map((c) => [c.name, c.shape] as const))('%s: forward out of place, backward in place', async (_, shape) => {
    await testKernel(await testGpu(), ropeCase(shape));
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
