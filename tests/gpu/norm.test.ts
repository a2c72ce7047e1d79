import { describe, expect, it } from 'vitest';
import { ColumnSum, LayerNormBackward, LayerNormForward, RmsNormBackward, RmsNormForward, type RmsNormTiling } from '../../src/kernels/norm';
import { layernormBackwardRef, layernormRef, rmsnormBackwardRef, rmsnormRef } from '../reference/norm';
import { COLUMN_SUM_SHAPES, LAYERNORM_SHAPES, LAYERNORM_TILINGS, RMSNORM_SHAPES, RMSNORM_TILINGS, columnSumCase, layernormCase, rmsnormCase } from '../util/cases/norm';
import { expectClose, finiteDifference } from '../util/compare';
import { poisoned, run, testGpu } from '../util/gpu';
import { testKernel } from '../util/kernel-test';
import { freshSeed, randn } from '../util/random';

const TOL = 1e-5;

describe('rmsnorm', () => {
  const cases = [...RMSNORM_SHAPES, ...RMSNORM_TILINGS].map(({ N, C, ...opts }) => [N, C, opts] as const);
  it.each(cases)('forward and backward N=%i C=%i %o match the reference', async (N, C, opts) => {
    await testKernel(await testGpu(), rmsnormCase({ N, C, ...opts }));
  });

  it('accumulates into dx and dweight when asked, with a shared scratch', async () => {
    const gpu = await testGpu();
    const [N, C] = [40, 12];
    const seed = freshSeed();
    const x = randn(N * C, seed);
    const w = randn(C, seed + 1);
    const dy = randn(N * C, seed + 2);
    const dx0 = randn(N * C, seed + 3);
    const dw0 = randn(C, seed + 4);
    const ref = rmsnormRef(x, w, N, C);
    const rstd = Float32Array.from(ref.rstd);
    const dx = gpu.upload(dx0, 'dx');
    const dw = gpu.upload(dw0, 'dw');
    const scratch = gpu.createBuffer(RmsNormBackward.scratchBytes(gpu, { N, C }), 'shared scratch');
    const bwd = new RmsNormBackward(gpu, { N, C }, { accumulateDx: true, accumulateDweight: true, scratch });
    await run(gpu, (p) => bwd.encode(p, gpu.upload(x, 'x'), gpu.upload(w, 'w'), gpu.upload(rstd, 'rstd'), gpu.upload(dy, 'dy'), dx, dw));
    const back = rmsnormBackwardRef(x, w, rstd, dy, N, C);
    expectClose('dx accumulated', await gpu.readFloat32(dx, N * C), back.dx.map((v, i) => v + dx0[i]), TOL);
    expectClose('dweight accumulated', await gpu.readFloat32(dw, C), back.dweight.map((v, i) => v + dw0[i]), TOL);
  });

  it('backward is bitwise deterministic across runs', async () => {
    const gpu = await testGpu();
    const [N, C] = [700, 96];
    const x = gpu.upload(randn(N * C, 1), 'x');
    const w = gpu.upload(randn(C, 2), 'w');
    const dy = gpu.upload(randn(N * C, 3), 'dy');
    const rstd = gpu.createBuffer(4 * N, 'rstd');
    const y = gpu.createBuffer(4 * N * C, 'y');
    const bwd = new RmsNormBackward(gpu, { N, C });
    const results: Float32Array[] = [];
    for (let r = 0; r < 3; r++) {
      const dx = poisoned(gpu, N * C);
      const dw = poisoned(gpu, C);
      await run(gpu, (p) => {
        new RmsNormForward(gpu, { N, C }).encode(p, x, w, y, rstd);
        bwd.encode(p, x, w, rstd, dy, dx, dw);
      });
      results.push(await gpu.readFloat32(dw, C));
    }
    expect(Array.from(results[1])).toEqual(Array.from(results[0]));
    expect(Array.from(results[2])).toEqual(Array.from(results[0]));
  });

  it('rejects mis-sized and aliased buffers with a message', async () => {
    const gpu = await testGpu();
    const fwd = new RmsNormForward(gpu, { N: 4, C: 8 });
    const x = gpu.createBuffer(4 * 32, 'x');
    const w = gpu.createBuffer(4 * 8, 'w');
    const pass = null as unknown as GPUComputePassEncoder;
    expect(() => fwd.encode(pass, x, w, gpu.createBuffer(4 * 31, 'y'), gpu.createBuffer(16, 'rstd'))).toThrow(/y \('y'\) holds 31 floats, needs 32/);
    expect(() => fwd.encode(pass, x, w, x, gpu.createBuffer(16, 'rstd'))).toThrow(/must not share a buffer with x/);
    expect(() => new RmsNormForward(gpu, { N: 0, C: 8 })).toThrow(/N must be an integer >= 1/);
  });
});

describe('layernorm', () => {
  const cases = [...LAYERNORM_SHAPES, ...LAYERNORM_TILINGS].map(({ N, C, ...opts }) => [N, C, opts] as const);
  it.each(cases)('forward and backward N=%i C=%i %o match the reference', async (N, C, opts) => {
    await testKernel(await testGpu(), layernormCase({ N, C, ...opts }));
  });

  // The kernel's gradients against central differences of the float64 loss Σ y·dy (not of its own reference).
  it.each([
    ['one invocation per row', { tpr: 1, rpw: 2 }],
    ['shared-memory rows', { tpr: 4, rpw: 2 }],
  ] as [string, RmsNormTiling][])('backward matches finite differences of the loss (%s)', async (_, tiling) => {
    const gpu = await testGpu();
    const [N, C] = [3, 5];
    const seed = freshSeed();
    const x = randn(N * C, seed, 1.5);
    const gain = randn(C, seed + 1);
    const bias = randn(C, seed + 2);
    const dy = randn(N * C, seed + 3);
    const fwd = new LayerNormForward(gpu, { N, C }, { tiling });
    const bwd = new LayerNormBackward(gpu, { N, C }, { tiling, groups: 1 });
    const b = { x: gpu.upload(x, 'x'), gain: gpu.upload(gain, 'gain'), bias: gpu.upload(bias, 'bias'), dy: gpu.upload(dy, 'dy') };
    const out = {
      y: poisoned(gpu, N * C), mean: poisoned(gpu, N), rstd: poisoned(gpu, N),
      dx: poisoned(gpu, N * C), dgain: poisoned(gpu, C), dbias: poisoned(gpu, C),
    };
    await run(gpu, (p) => {
      fwd.encode(p, b.x, b.gain, b.bias, out.y, out.mean, out.rstd);
      bwd.encode(p, b.x, b.gain, out.mean, out.rstd, b.dy, out.dx, out.dgain, out.dbias);
    });
    const got = { dx: await gpu.readFloat32(out.dx, N * C), dgain: await gpu.readFloat32(out.dgain, C), dbias: await gpu.readFloat32(out.dbias, C) };
    const p64 = { x: Float64Array.from(x), gain: Float64Array.from(gain), bias: Float64Array.from(bias) };
    const loss = (): number => layernormRef(p64.x, p64.gain, p64.bias, N, C).y.reduce((a, v, i) => a + v * dy[i], 0);
    for (const name of ['x', 'gain', 'bias'] as const) {
      const fd = finiteDifference(loss, p64[name], p64[name].keys());
      const grad = got[name === 'x' ? 'dx' : name === 'gain' ? 'dgain' : 'dbias'];
      expectClose(`d${name} vs finite differences`, grad, Float64Array.from(fd.values()), 1e-4, `seed ${seed}, tiling ${JSON.stringify(tiling)}`);
    }
    fwd.destroy();
    bwd.destroy();
    [...Object.values(b), ...Object.values(out)].forEach((buf) => gpu.release(buf));
  });

  it('accumulates into dx, dgain and dbias when asked, with a shared scratch', async () => {
    const gpu = await testGpu();
    const [N, C] = [40, 12];
    const seed = freshSeed();
    const x = randn(N * C, seed);
    const gain = randn(C, seed + 1);
    const dy = randn(N * C, seed + 2);
    const dx0 = randn(N * C, seed + 3);
    const dg0 = randn(C, seed + 4);
    const db0 = randn(C, seed + 5);
    const ref = layernormRef(x, gain, new Float32Array(C), N, C);
    const mean = Float32Array.from(ref.mean);
    const rstd = Float32Array.from(ref.rstd);
    const dx = gpu.upload(dx0, 'dx');
    const dg = gpu.upload(dg0, 'dgain');
    const db = gpu.upload(db0, 'dbias');
    const scratchBytes = LayerNormBackward.scratchBytes(gpu, { N, C });
    expect(scratchBytes).toBe(2 * RmsNormBackward.scratchBytes(gpu, { N, C }));
    const scratch = gpu.createBuffer(scratchBytes, 'shared scratch');
    const bwd = new LayerNormBackward(gpu, { N, C }, { accumulateDx: true, accumulateDparams: true, scratch });
    await run(gpu, (p) =>
      bwd.encode(p, gpu.upload(x, 'x'), gpu.upload(gain, 'gain'), gpu.upload(mean, 'mean'), gpu.upload(rstd, 'rstd'), gpu.upload(dy, 'dy'), dx, dg, db),
    );
    const back = layernormBackwardRef(x, gain, mean, rstd, dy, N, C);
    expectClose('dx accumulated', await gpu.readFloat32(dx, N * C), back.dx.map((v, i) => v + dx0[i]), TOL, `seed ${seed}`);
    expectClose('dgain accumulated', await gpu.readFloat32(dg, C), back.dgain.map((v, i) => v + dg0[i]), TOL, `seed ${seed}`);
    expectClose('dbias accumulated', await gpu.readFloat32(db, C), back.dbias.map((v, i) => v + db0[i]), TOL, `seed ${seed}`);
    bwd.destroy();
  });

  it('backward is bitwise deterministic across runs', async () => {
    const gpu = await testGpu();
    const [N, C] = [150, 36];
    const x = gpu.upload(randn(N * C, 1), 'x');
    const gain = gpu.upload(randn(C, 2), 'gain');
    const bias = gpu.upload(randn(C, 3), 'bias');
    const dy = gpu.upload(randn(N * C, 4), 'dy');
    const [y, mean, rstd] = [gpu.createBuffer(4 * N * C, 'y'), gpu.createBuffer(4 * N, 'mean'), gpu.createBuffer(4 * N, 'rstd')];
    const fwd = new LayerNormForward(gpu, { N, C });
    const bwd = new LayerNormBackward(gpu, { N, C });
    const results: number[][] = [];
    for (let r = 0; r < 2; r++) {
      const [dx, dg, db] = [poisoned(gpu, N * C), poisoned(gpu, C), poisoned(gpu, C)];
      await run(gpu, (p) => {
        fwd.encode(p, x, gain, bias, y, mean, rstd);
        bwd.encode(p, x, gain, mean, rstd, dy, dx, dg, db);
      });
      results.push([...(await gpu.readFloat32(dg, C)), ...(await gpu.readFloat32(db, C))]);
    }
    expect(results[1]).toEqual(results[0]);
    fwd.destroy();
    bwd.destroy();
  });

  it('rejects mis-sized and aliased buffers and a short scratch with a message, leaving nothing allocated', async () => {
    const gpu = await testGpu();
    const [N, C] = [4, 8];
    const fwd = new LayerNormForward(gpu, { N, C });
    const bwd = new LayerNormBackward(gpu, { N, C });
    const buf = (n: number, label: string): GPUBuffer => gpu.createBuffer(4 * n, label);
    const [x, gain, bias, y, mean, rstd, dy, dx, dg] = [buf(N * C, 'x'), buf(C, 'gain'), buf(C, 'bias'), buf(N * C, 'y'), buf(N, 'mean'), buf(N, 'rstd'), buf(N * C, 'dy'), buf(N * C, 'dx'), buf(C, 'dgain')];
    const pass = null as unknown as GPUComputePassEncoder;
    expect(() => fwd.encode(pass, x, gain, buf(C - 1, 'short'), y, mean, rstd)).toThrow(/layerNormForward: bias \('short'\) holds 7 floats, needs 8/);
    expect(() => fwd.encode(pass, x, gain, bias, y, mean, mean)).toThrow(/layerNormForward: rstd .*must not share a buffer with mean/);
    expect(() => bwd.encode(pass, x, gain, mean, rstd, dy, dx, dg, dg)).toThrow(/layerNormBackward: dbias .*must not share a buffer with dgain where their ranges overlap/);
    // two ranges of one buffer (a model's flat gradients) are taken when apart, refused when they overlap
    const flat = buf(4 * C, 'flat grads');
    const range = (from: number) => ({ buffer: flat, offset: 4 * from, size: 4 * C });
    expect(() => bwd.encode(pass, x, gain, mean, rstd, dy, dx, range(2 * C), range(C + 4))).toThrow(/dbias must not share a buffer with dgain where their ranges overlap/);
    expect(() => bwd.encode(pass, x, gain, mean, rstd, dy, dx, range(C + 4), range(2 * C))).toThrow(/where their ranges overlap/);
    expect(() => bwd.encode(pass, x, gain, mean, rstd, dy, dx, dg, buf(C - 1, 'short'))).toThrow(/dbias \('short'\) holds 7 floats, needs 8/);
    expect(() => new LayerNormForward(gpu, { N: 0, C })).toThrow(/layerNormForward: N must be an integer >= 1/);
    const before = gpu.allocatedBytes;
    const need = LayerNormBackward.scratchBytes(gpu, { N, C });
    const short = buf(need / 4 - 1, 'short scratch');
    expect(() => new LayerNormBackward(gpu, { N, C }, { scratch: short })).toThrow(`layerNormBackward: scratch 'short scratch' has ${need - 4} bytes, needs ${need}`);
    gpu.release(short);
    expect(gpu.allocatedBytes).toBe(before);
    fwd.destroy();
    bwd.destroy();
  });
});

// QK-norm: RMSNorm over each head's q and k vector with one gain of HS shared by the heads. q (B·T, NH·HS) is
// B·T·NH contiguous rows of HS, so it runs as RmsNorm with N = B·T·NH and C = HS; dweight sums over every head.
describe('rmsnorm at QK-norm shapes (rows of one head)', () => {
  // Each HS once, in the tiling a GPU picks for it (HS <= 16: one invocation per row, 256 rows per workgroup; HS = 32:
  // {tpr 2, rpw 128}; HS = 64: {4, 64}) or SwiftShader's (one invocation per row, 16 rows), so both row mappings
  // run; rows off every multiple, up to tens of thousands. Few variants: each one is a shader compile on SwiftShader.
  const shapes: { B: number; T: number; NH: number; HS: number; tiling?: { tpr: number; rpw: number } }[] = [
    { B: 2, T: 16, NH: 4, HS: 8 },
    { B: 3, T: 427, NH: 16, HS: 16, tiling: { tpr: 1, rpw: 256 } },
    { B: 2, T: 24, NH: 6, HS: 32, tiling: { tpr: 2, rpw: 128 } },
    { B: 2, T: 33, NH: 3, HS: 64, tiling: { tpr: 4, rpw: 64 } },
    { B: 4, T: 128, NH: 8, HS: 64 },
  ];
  it.each(shapes.map((s) => [`rows N·NH=${s.B * s.T * s.NH} HS=${s.HS}`, s] as const))('%s %o: forward and backward match the reference', async (_, s) => {
    await testKernel(await testGpu(), rmsnormCase({ N: s.B * s.T * s.NH, C: s.HS, eps: 1e-6, tiling: s.tiling }));
  });

  it('dx and the shared gain match finite differences of the float64 forward', async () => {
    const gpu = await testGpu();
    const [N, C, eps] = [1 * 2 * 3, 8, 1e-6]; // B1 T2 NH3 HS8
    const seed = freshSeed();
    const x = randn(N * C, seed);
    const w = randn(C, seed + 1);
    const dy = randn(N * C, seed + 2);
    const bufs = [gpu.upload(x, 'x'), gpu.upload(w, 'w'), gpu.upload(dy, 'dy'), poisoned(gpu, N * C, 'y'), poisoned(gpu, N, 'rstd'), poisoned(gpu, N * C, 'dx'), poisoned(gpu, C, 'dw')];
    const [xb, wb, dyb, yb, rstdb, dxb, dwb] = bufs;
    const fwd = new RmsNormForward(gpu, { N, C, eps });
    const bwd = new RmsNormBackward(gpu, { N, C, eps });
    await run(gpu, (p) => {
      fwd.encode(p, xb, wb, yb, rstdb);
      bwd.encode(p, xb, wb, rstdb, dyb, dxb, dwb);
    });
    const x64 = Float64Array.from(x);
    const w64 = Float64Array.from(w);
    const loss = (): number => rmsnormRef(x64, w64, N, C, eps).y.reduce((s, v, i) => s + v * dy[i], 0);
    const fdX = Float64Array.from(finiteDifference(loss, x64, x64.keys()).values());
    const fdW = Float64Array.from(finiteDifference(loss, w64, w64.keys()).values());
    expectClose(`dx (seed ${seed})`, await gpu.readFloat32(dxb, N * C), fdX, 1e-5);
    expectClose(`dweight (seed ${seed})`, await gpu.readFloat32(dwb, C), fdW, 1e-5);
    fwd.destroy();
    bwd.destroy();
    bufs.forEach((b) => gpu.release(b));
  });
});

describe('columnSum (a linear\'s bias gradient)', () => {
  it.each(COLUMN_SUM_SHAPES)('%o matches the reference', async (s) => {
    await testKernel(await testGpu(), columnSumCase(s));
  });

  it('rejects mis-sized and aliased buffers and bad shapes with a message', async () => {
    const gpu = await testGpu();
    const k = new ColumnSum(gpu, { rows: 4, cols: 8 });
    const x = gpu.createBuffer(4 * 32, 'x');
    const pass = null as unknown as GPUComputePassEncoder;
    const short = gpu.createBuffer(4 * 7, 'out');
    const xShort = gpu.createBuffer(4 * 31, 'x short');
    const out = gpu.createBuffer(4 * 8, 'out');
    expect(() => k.encode(pass, x, short)).toThrow(/columnSum: out \('out'\) holds 7 floats, needs 8/);
    expect(() => k.encode(pass, xShort, out)).toThrow(/x \('x short'\) holds 31 floats, needs 32/);
    expect(() => k.encode(pass, x, { buffer: x, offset: 0, size: 32 })).toThrow(/out must not share a buffer with x/);
    expect(() => new ColumnSum(gpu, { rows: 0, cols: 8 })).toThrow(/rows must be an integer >= 1/);
    k.destroy();
    [x, short, xShort, out].forEach((b) => gpu.release(b));
  });
});
