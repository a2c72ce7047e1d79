import { describe, expect, it } from 'vitest';
import { Add, Fill } from '../../src/kernels/elementwise';
import { addRef, fillRef } from '../reference/elementwise';
import { expectClose } from '../util/compare';
import { poisoned, run, testGpu } from '../util/gpu';
import { freshSeed, randn } from '../util/random';

describe('elementwise', () => {
  it.each([1, 7, 255, 256, 257, 1000])('fill n=%i writes every element', async (n) => {
    const gpu = await testGpu();
    const out = poisoned(gpu, n);
    const k = new Fill(gpu, n, 2.5);
    await run(gpu, (p) => k.encode(p, out));
    expectClose('fill', await gpu.readFloat32(out, n), fillRef(n, 2.5), 0);
  });

  it.each([1, 13, 257, 4099])('add n=%i matches the reference', async (n) => {
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
});
