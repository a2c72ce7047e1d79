import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device';
import { Matmul, type MatmulOptions } from '../../src/kernels/matmul';
import { matmulRef } from '../reference/matmul';
import { MATMUL_SIZES, MATMUL_TRANSFORMER, MATMUL_TRANSPOSED, MATMUL_VEC4_SIZES, matmulBatched, matmulCase, matmulEpilogues } from '../util/cases/matmul';
import { expectClose } from '../util/compare';
import { run, testGpu } from '../util/gpu';
import { testKernel } from '../util/kernel-test';
import { freshSeed, randn } from '../util/random';

interface Config {
  name: string;
  options: MatmulOptions;
  /** Run every case; otherwise sizes and one transposed case (each case compiles pipelines, slow on SwiftShader). */
  full: boolean;
}

const GPU_DEFAULT = { wgX: 16, wgY: 16, tm: 4, tn: 4, bk: 16, subgroupA: false } as const;
const CPU_DEFAULT = { wgX: 8, wgY: 8, tm: 16, tn: 8, bk: 16, subgroupA: true } as const;

// Every code path of the shader whatever this adapter's default: naive; tiled with scalar and vec4 bindings;
// the GPU and SwiftShader default tilings (the latter's subgroup sharing only where subgroups are 4 wide,
// i.e. on SwiftShader); odd workgroup shapes with 8x4 and 4x8 blocks, small and large BK.
const CONFIGS: Config[] = [
  { name: 'naive', options: { variant: 'naive' }, full: true },
  { name: 'tiled 16x16 wg, 4x4 blocks', options: { variant: 'tiled', tiling: GPU_DEFAULT }, full: true },
  { name: 'vec4 16x16 wg, 4x4 blocks', options: { variant: 'tiled-vec4', tiling: GPU_DEFAULT }, full: true },
  { name: 'tiled 8x8 wg, 16x8 blocks, subgroup A', options: { variant: 'tiled', tiling: CPU_DEFAULT }, full: true },
  { name: 'vec4 8x8 wg, 16x8 blocks, subgroup A', options: { variant: 'tiled-vec4', tiling: CPU_DEFAULT }, full: true },
  { name: 'vec4 8x8 wg, 16x8 blocks, bk 32', options: { variant: 'tiled-vec4', tiling: { ...CPU_DEFAULT, bk: 32, subgroupA: false } }, full: false },
  { name: 'tiled 4x8 wg, 8x4 blocks, bk 4', options: { variant: 'tiled', tiling: { wgX: 4, wgY: 8, tm: 8, tn: 4, bk: 4, subgroupA: false } }, full: false },
  { name: 'vec4 8x4 wg, 4x8 blocks, bk 8', options: { variant: 'tiled-vec4', tiling: { wgX: 8, wgY: 4, tm: 4, tn: 8, bk: 8, subgroupA: false } }, full: false },
];

const isVec4 = (c: Config) => c.options.variant === 'tiled-vec4';

/** The device, or null when this config needs 4-wide subgroups and the adapter is not SwiftShader with subgroups. */
async function gpuFor(config: Config): Promise<Gpu | null> {
  const gpu = await testGpu();
  const swiftShaderSubgroups = gpu.features.subgroups && gpu.adapter.architecture === 'swiftshader';
  return config.options.tiling?.subgroupA && !swiftShaderSubgroups ? null : gpu;
}

describe.each(CONFIGS)('matmul $name', (config) => {
  const { options } = config;
  // Scalar paths take any shape; vec4 paths need multiples of 4 in the contiguous dimensions.
  it.for(isVec4(config) ? MATMUL_VEC4_SIZES : MATMUL_SIZES)('M=%i N=%i K=%i matches the reference', async ([M, N, K], ctx) => {
    const gpu = await gpuFor(config);
    if (!gpu) return ctx.skip();
    await testKernel(gpu, matmulCase({ M, N, K }, options));
  });

  const transposes = config.full ? [[false, false], [true, false], [false, true], [true, true]] : [[true, true]];
  it.for(transposes)('transA=%s transB=%s', async ([transA, transB], ctx) => {
    const gpu = await gpuFor(config);
    if (!gpu) return ctx.skip();
    const shape = isVec4(config) ? MATMUL_TRANSPOSED.vec4 : MATMUL_TRANSPOSED.scalar;
    await testKernel(gpu, matmulCase({ ...shape, transA, transB }, options));
  });

  it.runIf(config.full)('alpha, bias and accumulate (a weight-gradient step dW += alpha·Xᵀ·dY)', async (ctx) => {
    const gpu = await gpuFor(config);
    if (!gpu) return ctx.skip();
    for (const shape of matmulEpilogues(isVec4(config))) await testKernel(gpu, matmulCase(shape, options));
  });

  it.runIf(config.full)('batches with strides, stride 0 (shared weights), offsets and per-batch biases', async (ctx) => {
    const gpu = await gpuFor(config);
    if (!gpu) return ctx.skip();
    for (const shape of matmulBatched(isVec4(config))) await testKernel(gpu, matmulCase(shape, options));
  });
});

describe('matmul variant choice', () => {
  it('picks vec4 when every dimension, offset and stride allows it, scalar otherwise', async () => {
    const gpu = await testGpu();
    expect(new Matmul(gpu, { M: 3, N: 8, K: 12 }).variant).toBe('tiled-vec4');
    expect(new Matmul(gpu, { M: 8, N: 8, K: 6 }).variant).toBe('tiled');
    expect(new Matmul(gpu, { M: 6, N: 8, K: 8, transA: true }).variant).toBe('tiled');
    expect(new Matmul(gpu, { M: 8, N: 8, K: 8, offsetC: 2 }).variant).toBe('tiled');
    expect(() => new Matmul(gpu, { M: 8, N: 7, K: 8 }, { variant: 'tiled-vec4' })).toThrow(/vec4 variant needs/);
    expect(() => new Matmul(gpu, { M: 8, N: 8, K: 8 }, { tiling: { wgX: 16, wgY: 16, tm: 16, tn: 8, bk: 64 } })).toThrow(/bytes in workgroup memory/);
  });

  it('the default variant matches the reference on a transformer-like shape', async () => {
    await testKernel(await testGpu(), matmulCase(MATMUL_TRANSFORMER));
  });
});

describe('matmul errors', () => {
  it('rejects buffers too small for the shape', async () => {
    const gpu = await testGpu();
    const k = new Matmul(gpu, { M: 8, N: 8, K: 8, batch: 2 });
    const ok = gpu.createBuffer(4 * 128, 'ok');
    const small = gpu.createBuffer(4 * 100, 'small');
    await expect(run(gpu, (p) => k.encode(p, small, ok, gpu.createBuffer(4 * 128, 'c')))).rejects.toThrow(/a \('small'\) holds 100 floats, needs 128/);
    await expect(run(gpu, (p) => k.encode(p, ok, ok, small))).rejects.toThrow(/c \('small'\) holds 100 floats, needs 128/);
    const withOffset = new Matmul(gpu, { M: 8, N: 8, K: 8, offsetB: 65 });
    await expect(run(gpu, (p) => withOffset.encode(p, ok, ok, gpu.createBuffer(4 * 64, 'c')))).rejects.toThrow(/b \('ok'\) holds 128 floats, needs 129/);
  });

  it('rejects a missing or unexpected bias and an output aliasing an input', async () => {
    const gpu = await testGpu();
    const buf = () => gpu.createBuffer(4 * 64, 'x');
    const withBias = new Matmul(gpu, { M: 8, N: 8, K: 8, bias: true });
    await expect(run(gpu, (p) => withBias.encode(p, buf(), buf(), buf()))).rejects.toThrow(/needs a bias binding/);
    const plain = new Matmul(gpu, { M: 8, N: 8, K: 8 });
    await expect(run(gpu, (p) => plain.encode(p, buf(), buf(), buf(), buf()))).rejects.toThrow(/shape has bias: false/);
    const x = buf();
    await expect(run(gpu, (p) => plain.encode(p, x, buf(), x))).rejects.toThrow(/c must not share a buffer with a/);
  });

  it('accepts buffer ranges as bindings', async () => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const a = randn(64 + 6, seed);
    const big = gpu.createBuffer(4 * 64 * 3, 'big');
    gpu.queue.writeBuffer(big, 256, a.buffer as ArrayBuffer, a.byteOffset, a.byteLength);
    const b = gpu.upload(randn(6 * 5, seed + 1), 'b');
    const k = new Matmul(gpu, { M: 4, N: 5, K: 6, offsetA: 3 });
    const out = gpu.createBuffer(4 * 20, 'out');
    await run(gpu, (p) => k.encode(p, { buffer: big, offset: 256, size: 4 * 70 }, b, out));
    const ref = matmulRef({ M: 4, N: 5, K: 6, offsetA: 3 }, a, await gpu.readFloat32(b, 30), new Float32Array(20));
    expectClose('matmul on a range', await gpu.readFloat32(out, 20), ref, 1e-5, `seed ${seed}`);
  });
});
