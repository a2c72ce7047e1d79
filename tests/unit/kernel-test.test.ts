// testKernel / runKernelCase (tests/util/kernel-test.ts) on a stand-in GPU whose "kernel" is JavaScript: what it
// poisons, what it reports, and that it releases everything it made, also when the kernel throws.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device';
import { runKernelCase, testKernel, type KernelCase } from '../../tests/util/kernel-test';

interface FakeBuffer {
  label: string;
  data: Float32Array;
}

/** Just enough of Gpu for the helper: buffers are host arrays, a pass is a no-op. */
function fakeGpu() {
  const live = new Set<FakeBuffer>();
  const encoder = { beginComputePass: () => ({ end() {} }), finish: () => ({}) };
  const gpu = {
    upload(data: Float32Array | Uint32Array, label: string) {
      const b: FakeBuffer = { label, data: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
      live.add(b);
      return b;
    },
    release(b: FakeBuffer) {
      if (!live.delete(b)) throw new Error(`released twice or never made: ${b.label}`);
    },
    async readFloat32(b: FakeBuffer, n: number) {
      return b.data.slice(0, n);
    },
    async scoped<T>(fn: () => T) {
      return fn();
    },
    device: { createCommandEncoder: () => encoder },
    queue: { submit() {} },
  };
  return { gpu: gpu as unknown as Gpu, live };
}

const data = (b: GPUBuffer): Float32Array => (b as unknown as FakeBuffer).data;

/** out = 2·x over n elements (all of them, or all but the last), outAcc += x; `error` is added to out[1]. */
function doubling(n: number, opts: { skipLast?: boolean; error?: number; throws?: boolean } = {}) {
  const destroyed = { count: 0 };
  const build = (_gpu: Gpu, seed: number): KernelCase => {
    const x = Float32Array.from({ length: n }, (_, i) => seed + i);
    const acc = new Float32Array(n).fill(1);
    return {
      name: `double n=${n}`,
      inputs: { x },
      outputs: { out: n, acc },
      encode: (_pass, b) => {
        if (opts.throws) throw new Error('kernel refused');
        const [xs, out, a] = [data(b.x), data(b.out), data(b.acc)];
        for (let i = 0; i < n - (opts.skipLast ? 1 : 0); i++) out[i] = 2 * xs[i];
        for (let i = 0; i < n; i++) a[i] += xs[i];
        if (opts.error) out[1] += opts.error;
      },
      reference: () => ({ out: x.map((v) => 2 * v), acc: x.map((v) => v + 1) }),
      tol: { out: 0, acc: 1e-6 },
      labels: { out: 'doubled' },
      destroy: () => destroyed.count++,
    };
  };
  return { build, destroyed };
}

describe('testKernel', () => {
  it('passes a correct kernel and returns each output with its label, reference and tolerance', async () => {
    const { gpu, live } = fakeGpu();
    const k = doubling(5);
    const results = await testKernel(gpu, k.build, 3);
    expect(results.map((r) => [r.label, Array.from(r.got), r.tol])).toEqual([
      ['doubled', [6, 8, 10, 12, 14], 0],
      ['acc', [4, 5, 6, 7, 8], 1e-6],
    ]);
    expect(live.size).toBe(0);
    expect(k.destroyed.count).toBe(1);
  });

  it('fails on an element the kernel never wrote (outputs start as NaN)', async () => {
    const { gpu } = fakeGpu();
    await expect(testKernel(gpu, doubling(5, { skipLast: true }).build, 3)).rejects.toThrow(
      /double n=5 \(seed 3\):\n {2}doubled: relative error Infinity > 0, 1 non-finite values\n {4}first mismatches: \[4\] got NaN want 14/,
    );
  });

  it('fails an output off by more than its own tolerance, naming the case, seed, output and index', async () => {
    const { gpu } = fakeGpu();
    const err = await testKernel(gpu, doubling(5, { error: 0.5 }).build, 7).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^double n=5 \(seed 7\):\n {2}doubled: relative error .* > 0\n {4}first mismatches: \[1\] got 16.5 want 16/);
    expect((err as Error).message).not.toContain('acc:');
  });

  it('releases every buffer and destroys the kernels when encoding throws', async () => {
    const { gpu, live } = fakeGpu();
    const k = doubling(4, { throws: true });
    await expect(testKernel(gpu, k.build)).rejects.toThrow('kernel refused');
    expect(live.size).toBe(0);
    expect(k.destroyed.count).toBe(1);
  });
});

describe('runKernelCase', () => {
  const base = (): KernelCase => ({
    name: 'case',
    inputs: { x: new Float32Array(2) },
    outputs: { y: 2 },
    encode: () => {},
    reference: () => ({ y: [0, 0] }),
  });

  it('hands each output and its length to `after` (the regression runner perturbs them there)', async () => {
    const { gpu } = fakeGpu();
    const seen: [string, number][] = [];
    await runKernelCase(gpu, { ...base(), outputs: { y: 2, z: new Float32Array(3) }, reference: () => ({}) }, (_p, outs) => {
      for (const [b, n] of outs) seen.push([(b as unknown as FakeBuffer).label, n]);
    });
    expect(seen).toEqual([['y', 2], ['z', 3]]);
  });

  it('refuses a name that is both an input and an output, and a reference for no output', async () => {
    const { gpu, live } = fakeGpu();
    await expect(runKernelCase(gpu, { ...base(), outputs: { x: 2 } })).rejects.toThrow("case: 'x' is both an input and an output");
    await expect(runKernelCase(gpu, { ...base(), reference: () => ({ w: [0] }) })).rejects.toThrow("case: the reference names 'w', which is not an output");
    expect(live.size).toBe(0);
  });
});
