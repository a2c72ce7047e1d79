import { describe, expect, it } from 'vitest';
import { RmsNormBackward, RmsNormForward } from '../../src/kernels/norm';
import { rmsnormBackwardRef, rmsnormRef } from '../reference/norm';
import { RMSNORM_SHAPES, RMSNORM_TILINGS, rmsnormCase } from '../util/cases/norm';
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
