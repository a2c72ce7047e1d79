import { describe, expect, it } from 'vitest';
import { RmsNormBackward, RmsNormForward, type RmsNormTiling } from '../../src/kernels/norm';
import { rmsnormBackwardRef, rmsnormRef } from '../reference/norm';
import { expectClose } from '../util/compare';
import { poisoned, run, testGpu } from '../util/gpu';
import { freshSeed, randn } from '../util/random';

const TOL = 1e-5;

// Shapes cover: one row, one channel (dx is ~eps/(x² + eps) there, so a larger eps keeps it measurable), C not
// a multiple of 4 (scalar path), more row blocks than backward workgroups (groups: rows strided over the
// workgroups), and a row too wide for the one-invocation-per-row path. Each runs with the adapter's default
// tiling; TILINGS then force the other row mappings (GPU: several invocations per row with barriers, rows
// combined in shared memory or not; CPU emulation: one invocation per row) so every path runs on any adapter.
const SHAPES: [number, number, Opts][] = [
  [1, 1, { eps: 0.5 }],
  [1, 4, {}],
  [3, 7, {}],
  [5, 257, {}],
  [33, 64, {}],
  [64, 256, {}],
  [7, 1024, {}],
  [2, 5000, {}],
  [50, 64, { groups: 3 }],
  [9, 1024, { groups: 2 }],
];
type Opts = { eps?: number; groups?: number; tiling?: RmsNormTiling };
const TILINGS: [number, number, Opts][] = [
  [1, 1, { eps: 0.5, tiling: { tpr: 4, rpw: 64 } }],
  [3, 7, { tiling: { tpr: 2, rpw: 128 } }],
  [5, 257, { tiling: { tpr: 128, rpw: 2 } }],
  [20, 256, { tiling: { tpr: 16, rpw: 16 } }],
  [20, 256, { tiling: { tpr: 16, rpw: 16 }, groups: 1 }],
  [9, 512, { tiling: { tpr: 32, rpw: 8 }, groups: 1 }],
  [3, 2048, { tiling: { tpr: 256, rpw: 1 } }],
  [40, 64, { tiling: { tpr: 1, rpw: 16 }, groups: 2 }],
  [6, 12, { tiling: { tpr: 1, rpw: 1 } }],
];

describe('rmsnorm', () => {
  it.each([...SHAPES, ...TILINGS])('forward and backward N=%i C=%i %o match the reference', async (N, C, { eps, groups, tiling }) => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const x = randn(N * C, seed, 2);
    const w = randn(C, seed + 1);
    const dy = randn(N * C, seed + 2);
    const [xb, wb] = [gpu.upload(x, 'x'), gpu.upload(w, 'w')];
    const y = poisoned(gpu, N * C, 'y');
    const rstd = poisoned(gpu, N, 'rstd');
    const dx = poisoned(gpu, N * C, 'dx');
    const dw = poisoned(gpu, C, 'dw');
    const fwd = new RmsNormForward(gpu, { N, C, eps }, { tiling });
    const bwd = new RmsNormBackward(gpu, { N, C, eps }, { groups, tiling });
    await run(gpu, (p) => {
      fwd.encode(p, xb, wb, y, rstd);
      bwd.encode(p, xb, wb, rstd, gpu.upload(dy, 'dy'), dx, dw);
    });
    const ctx = `N=${N} C=${C} seed ${seed}`;
    const ref = rmsnormRef(x, w, N, C, eps);
    expectClose('rmsnorm y', await gpu.readFloat32(y, N * C), ref.y, TOL, ctx);
    const rstdGpu = await gpu.readFloat32(rstd, N);
    expectClose('rmsnorm rstd', rstdGpu, ref.rstd, TOL, ctx);
    const back = rmsnormBackwardRef(x, w, rstdGpu, dy, N, C);
    expectClose('rmsnorm dx', await gpu.readFloat32(dx, N * C), back.dx, TOL, ctx);
    expectClose('rmsnorm dweight', await gpu.readFloat32(dw, C), back.dweight, TOL, ctx);
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
