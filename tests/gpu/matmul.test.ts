import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device';
import { Matmul, type MatmulShape, type MatmulVariant } from '../../src/kernels/matmul';
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
async function checkShape(gpu: Gpu, shape: MatmulShape, variant?: MatmulVariant): Promise<Matmul> {
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
  const k = new Matmul(gpu, shape, { variant });
  const bufs = [gpu.upload(a, 'a'), gpu.upload(b, 'b'), gpu.upload(c, 'c'), ...(bias ? [gpu.upload(bias, 'bias')] : [])];
  await run(gpu, (pass) => k.encode(pass, bufs[0], bufs[1], bufs[2], bufs[3]));
  const out = await gpu.readFloat32(bufs[2], c.length);
  const ref = matmulRef(shape, a, b, c, bias);
  expectClose(`matmul ${k.variant} ${JSON.stringify(shape)}`, out, ref, 1e-5, `seed ${seed}`);
  bufs.forEach((x) => gpu.release(x));
  k.destroy();
  return k;
}

const VARIANTS: MatmulVariant[] = ['naive'];

describe.each(VARIANTS)('matmul %s', (variant) => {
  it.each([
    [1, 1, 1],
    [7, 13, 5],
    [65, 67, 33],
    [64, 64, 64],
    [33, 1, 70],
  ])('M=%i N=%i K=%i matches the reference', async (M, N, K) => {
    await checkShape(await testGpu(), { M, N, K }, variant);
  });

  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('transA=%s transB=%s', async (transA, transB) => {
    await checkShape(await testGpu(), { M: 37, N: 29, K: 45, transA, transB }, variant);
  });

  it('alpha, bias and accumulate (a weight-gradient step dW += alpha·Xᵀ·dY)', async () => {
    const gpu = await testGpu();
    await checkShape(gpu, { M: 19, N: 23, K: 41, transA: true, accumulate: true, alpha: 0.5 }, variant);
    await checkShape(gpu, { M: 19, N: 23, K: 41, bias: true, alpha: -2 }, variant);
    await checkShape(gpu, { M: 19, N: 23, K: 41, transB: true, bias: true, accumulate: true }, variant);
  });

  it('batches with strides, stride 0 (shared weights), offsets and per-batch biases', async () => {
    const gpu = await testGpu();
    // Experts: A per batch with a gap, B shared (stride 0), C with padding between matrices.
    await checkShape(gpu, { M: 9, N: 14, K: 11, batch: 3, strideA: 9 * 11 + 3, strideB: 0, strideC: 9 * 14 + 7, offsetA: 2, offsetB: 5, offsetC: 1 }, variant);
    // Per-expert weights and biases, A broadcast.
    await checkShape(gpu, { M: 6, N: 10, K: 17, batch: 4, strideA: 0, transB: true, bias: true, strideBias: 10, offsetBias: 3 }, variant);
    // Dense batched attention-like product with transposes and accumulate.
    await checkShape(gpu, { M: 12, N: 12, K: 8, batch: 5, transA: true, transB: true, accumulate: true }, variant);
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
