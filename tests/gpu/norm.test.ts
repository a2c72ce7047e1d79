import { describe, expect, it } from 'vitest';
import { RmsNormBackward, RmsNormForward } from '../../src/kernels/norm';
import { rmsnormBackwardRef, rmsnormRef } from '../reference/norm';
import { RMSNORM_SHAPES, RMSNORM_TILINGS, rmsnormCase } from '../util/cases/norm';
import { expectClose } from '../util/compare';
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
