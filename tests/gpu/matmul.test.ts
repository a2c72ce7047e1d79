import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device';
import { Matmul, type MatmulOptions, type MatmulShape } from '../../src/kernels/matmul';
import { matmulRef } from '../reference/matmul';
import { expectClose } from '../util/compare';
import { run, testGpu } from '../util/gpu';
import { freshSeed, randn } from '../util/random';

/** Elements each binding spans for `s` (dense defaults), plus `slack` so tests see writes past the end. */
function spans(s: MatmulShape): { a: number; b: number; c: number; bias: number } {
  const batch = s.batch ?? 1;
  const last = batch - 1;
  return {
    a: (s.offsetA ?? 0) + last * (s.strideA ?? s.M * s.K) + s.M * s.K,
    b: (s.offsetB ?? 0) + last * (s.strideB ?? s.K * s.N) + s.K * s.N,
    c: (s.offsetC ?? 0) + last * (s.strideC ?? s.M * s.N) + s.M * s.N,
    bias: (s.offsetBias ?? 0) + last * (s.strideBias ?? 0) + s.N,
  };
}

/**
 * Runs one shape on the GPU and compares the whole C binding with the float64 reference. C starts random;
 * unless accumulating, the output matrices are poisoned (NaN) so an unwritten element fails, while the gaps
 * between them must come back unchanged.
 */
async function checkShape(gpu: Gpu, shape: MatmulShape, options: MatmulOptions = {}): Promise<Matmul> {
  const seed = freshSeed();
  const n = spans(shape);
  const slack = 5;
  const a = randn(n.a, seed);
  const b = randn(n.b, seed + 1);
  const c = randn(n.c + slack, seed + 2);
  const bias = shape.bias ? randn(n.bias, seed + 3) : undefined;
  if (!shape.accumulate) {
    const ref0 = matmulRef(shape, new Float32Array(n.a), new Float32Array(n.b), new Float32Array(c.length).fill(1), bias && new Float32Array(n.bias));
    ref0.forEach((v, i) => {
      if (v === 0) c[i] = NaN; // written by the kernel
    });
  }
  const k = new Matmul(gpu, shape, options);
  const bufs = [gpu.upload(a, 'a'), gpu.upload(b, 'b'), gpu.upload(c, 'c'), ...(bias ? [gpu.upload(bias, 'bias')] : [])];
  await run(gpu, (pass) => k.encode(pass, bufs[0], bufs[1], bufs[2], bufs[3]));
  const out = await gpu.readFloat32(bufs[2], c.length);
  const ref = matmulRef(shape, a, b, c, bias);
  expectClose(`matmul ${k.variant} ${JSON.stringify(shape)}`, out, ref, 1e-5, `seed ${seed}`);
  bufs.forEach((x) => gpu.release(x));
  k.destroy();
  return k;
}

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
  const sizes: [number, number, number][] = isVec4(config)
    ? [[4, 4, 4], [68, 72, 20], [132, 4, 36], [4, 136, 8]]
    : [[1, 1, 1], [7, 13, 5], [65, 67, 33], [33, 1, 70], [129, 131, 17]];
  it.for(sizes)('M=%i N=%i K=%i matches the reference', async ([M, N, K], ctx) => {
    const gpu = await gpuFor(config);
    if (!gpu) return ctx.skip();
    await checkShape(gpu, { M, N, K }, options);
  });

  const transposes = config.full ? [[false, false], [true, false], [false, true], [true, true]] : [[true, true]];
  it.for(transposes)('transA=%s transB=%s', async ([transA, transB], ctx) => {
    const gpu = await gpuFor(config);
    if (!gpu) return ctx.skip();
    const shape = isVec4(config) ? { M: 36, N: 28, K: 44 } : { M: 37, N: 29, K: 45 };
    await checkShape(gpu, { ...shape, transA, transB }, options);
  });

  it.runIf(config.full)('alpha, bias and accumulate (a weight-gradient step dW += alpha·Xᵀ·dY)', async (ctx) => {
    const gpu = await gpuFor(config);
    if (!gpu) return ctx.skip();
    const [M, N, K] = isVec4(config) ? [20, 24, 40] : [19, 23, 41];
    await checkShape(gpu, { M, N, K, transA: true, accumulate: true, alpha: 0.5 }, options);
    await checkShape(gpu, { M, N, K, bias: true, alpha: -2 }, options);
    await checkShape(gpu, { M, N, K, transB: true, bias: true, accumulate: true }, options);
  });

  it.runIf(config.full)('batches with strides, stride 0 (shared weights), offsets and per-batch biases', async (ctx) => {
    const gpu = await gpuFor(config);
    if (!gpu) return ctx.skip();
    if (isVec4(config)) {
      await checkShape(gpu, { M: 8, N: 12, K: 16, batch: 3, strideA: 8 * 16 + 4, strideB: 0, strideC: 8 * 12 + 8, offsetA: 4, offsetB: 8, offsetC: 4 }, options);
      await checkShape(gpu, { M: 6, N: 8, K: 12, batch: 4, strideA: 0, transB: true, bias: true, strideBias: 8, offsetBias: 4 }, options);
      await checkShape(gpu, { M: 12, N: 12, K: 8, batch: 5, transA: true, transB: true, accumulate: true }, options);
    } else {
      // Experts: A per batch with a gap, B shared (stride 0), C with padding between matrices.
      await checkShape(gpu, { M: 9, N: 14, K: 11, batch: 3, strideA: 9 * 11 + 3, strideB: 0, strideC: 9 * 14 + 7, offsetA: 2, offsetB: 5, offsetC: 1 }, options);
      // Per-expert weights and biases, A broadcast.
      await checkShape(gpu, { M: 6, N: 10, K: 17, batch: 4, strideA: 0, transB: true, bias: true, strideBias: 10, offsetBias: 3 }, options);
      // Dense batched attention-like product with transposes and accumulate.
      await checkShape(gpu, { M: 12, N: 12, K: 8, batch: 5, transA: true, transB: true, accumulate: true }, options);
    }
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
    await checkShape(await testGpu(), { M: 96, N: 160, K: 64, bias: true });
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
