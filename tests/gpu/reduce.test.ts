import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device';
import { GlobalNorm, Reduce, reducePartition, SegmentNorms, type NormSegment, type ReduceOp } from '../../src/kernels/reduce';
import { reduceRef, segmentSumSqRef, sumSqRef } from '../reference/reduce';
import { run, testGpu, testGpuWithoutFeatures } from '../util/gpu';
import { freshSeed, randn } from '../util/random';

const SIZES = [1, 7, 255, 256, 257, 100003];
const OPS: ReduceOp[] = ['sum', 'sumsq', 'maxabs'];
const GUARD = 64; // floats of garbage on each side of x, so a read outside [0, n) shows
const OUT_INDEX = 3;

/** Runs one reduction of `x` with x bound as a sub-range between garbage and the result at OUT_INDEX of a 6-float buffer. */
async function reduceOnGpu(
  gpu: Gpu,
  x: Float32Array,
  op: ReduceOp,
  subgroups: boolean,
  maxPartials?: number,
): Promise<{ value: number; out: Float32Array }> {
  const n = x.length;
  const host = new Float32Array(GUARD + n + GUARD).fill(op === 'maxabs' ? 3e38 : 1e30);
  host.set(x, GUARD);
  const xBuf = gpu.upload(host, 'x with guards');
  const outBuf = gpu.upload(new Float32Array(6).fill(-7), 'out');
  const k = new Reduce(gpu, { n, op, outIndex: OUT_INDEX, subgroups, maxPartials });
  await run(gpu, (p) => k.encode(p, { buffer: xBuf, offset: GUARD * 4, size: (n + GUARD) * 4 }, outBuf));
  const out = await gpu.readFloat32(outBuf);
  k.destroy();
  gpu.release(xBuf);
  gpu.release(outBuf);
  return { value: out[OUT_INDEX], out };
}

/** |got − want| within tol of the sum of magnitudes (the scale rounding errors grow with), for sums that cancel. */
function expectReduced(op: ReduceOp, got: number, x: Float32Array, context: string): void {
  const want = reduceRef[op](x);
  if (op === 'maxabs') {
    expect(got, context).toBe(want); // the max of float32 values is one of them: exact
    return;
  }
  const scale = op === 'sum' ? reduceRef.sum(Array.from(x, Math.abs)) : want;
  const err = Math.abs(got - want) / Math.max(scale, 1e-30);
  expect(err, `${context}: got ${got}, want ${want}`).toBeLessThanOrEqual(1e-5);
}

/** Variants to test: the tree on every device, subgroups where the device has them, the tree on a featureless device. */
async function variants(): Promise<[string, Gpu, boolean][]> {
  const gpu = await testGpu();
  const list: [string, Gpu, boolean][] = [['tree', gpu, false]];
  if (gpu.features.subgroups) list.push(['subgroups', gpu, true]);
  list.push(['no-features device', await testGpuWithoutFeatures(), false]);
  return list;
}

describe('reduce', () => {
  it('reports whether the subgroup variant is covered on this adapter', async () => {
    const gpu = await testGpu();
    console.info(`reduce: subgroups ${gpu.features.subgroups ? 'available, variant tested' : 'not available; only the tree variant runs'}`);
    expect((await testGpuWithoutFeatures()).features.subgroups).toBe(false);
  });

  for (const op of OPS) {
    it.each(SIZES)(`${op} n=%i matches float64 (every variant), writes only out[outIndex], reads only x[0..n)`, async (n) => {
      const seed = freshSeed();
      const x = randn(n, seed);
      for (const [name, gpu, sg] of await variants()) {
        const { value, out } = await reduceOnGpu(gpu, x, op, sg);
        expectReduced(op, value, x, `${op} n=${n} ${name} seed ${seed}`);
        expect(Array.from(out).filter((_, i) => i !== OUT_INDEX)).toEqual([-7, -7, -7, -7, -7]);
      }
    });
  }

  it.each([1, 64, 1024, 4096])('partitions with maxPartials=%i so that every element is covered once', (maxPartials) => {
    for (const n of [1, 1024, 1025, 100003, 1 << 20, 16 << 20, 1e9]) {
      const { chunk, partials } = reducePartition(n, maxPartials);
      expect(partials).toBeLessThanOrEqual(maxPartials);
      expect(chunk % 1024).toBe(0);
      expect(chunk * partials).toBeGreaterThanOrEqual(n);
      expect(chunk * (partials - 1)).toBeLessThan(n);
    }
  });

  it.each([1, 1024, 4096])('covers the other partitions (maxPartials=%i; the default depends on the adapter)', async (maxPartials) => {
    const seed = freshSeed();
    const x = randn(300007, seed);
    for (const [name, gpu, sg] of await variants()) {
      for (const op of OPS) expectReduced(op, (await reduceOnGpu(gpu, x, op, sg, maxPartials)).value, x, `${op} ${name} seed ${seed}`);
    }
  });

  it('is deterministic: the same input gives the same bits', async () => {
    const x = randn(100003, freshSeed());
    for (const [name, gpu, sg] of await variants()) {
      for (const op of OPS) {
        const a = await reduceOnGpu(gpu, x, op, sg);
        const b = await reduceOnGpu(gpu, x, op, sg);
        expect(Object.is(a.value, b.value), `${op} ${name}: ${a.value} then ${b.value}`).toBe(true);
      }
    }
  });

  it('propagates NaN and Inf (the non-finite gradient check relies on it)', async () => {
    const n = 5000;
    for (const [name, gpu, sg] of await variants()) {
      for (const [where, bad] of [[0, NaN], [4999, NaN], [2500, Infinity], [1234, -Infinity]] as const) {
        const x = randn(n, where + 1);
        x[where] = bad;
        const sumsq = (await reduceOnGpu(gpu, x, 'sumsq', sg)).value;
        const maxabs = (await reduceOnGpu(gpu, x, 'maxabs', sg)).value;
        const context = `${name}: x[${where}] = ${bad}`;
        if (Number.isNaN(bad)) {
          expect(sumsq, context).toBeNaN();
          expect(maxabs, context).toBeNaN();
        } else {
          expect(sumsq, context).toBe(Infinity);
          expect(maxabs, context).toBe(Infinity);
        }
      }
      const mixed = randn(n, 9);
      mixed[10] = Infinity;
      mixed[4000] = -Infinity;
      expect((await reduceOnGpu(gpu, mixed, 'sum', sg)).value, `${name}: sum of +Inf and -Inf`).toBeNaN();
    }
  });

  it('GlobalNorm writes the squared norm of the gradient buffer', async () => {
    const gpu = await testGpu();
    const n = 70001;
    const g = randn(n, freshSeed(), 1e-2);
    const out = gpu.upload(new Float32Array(1).fill(NaN), 'norm²');
    const k = new GlobalNorm(gpu, n);
    await run(gpu, (p) => k.encode(p, gpu.upload(g, 'grads'), out));
    const [got] = await gpu.readFloat32(out, 1);
    expect(Math.abs(got - sumSqRef(g)) / sumSqRef(g)).toBeLessThan(1e-5);
    k.destroy();
  });

  it('rejects bad sizes, small bindings, aliasing and unavailable subgroups with a message', async () => {
    const gpu = await testGpu();
    expect(() => new Reduce(gpu, { n: 0, op: 'sum' })).toThrow(/n must be an integer in \[1, 2\^31\), got 0/);
    expect(() => new Reduce(gpu, { n: 4, op: 'mean' as ReduceOp })).toThrow(/op must be/);
    expect(() => new Reduce(gpu, { n: 4, op: 'sum', maxPartials: 5000 })).toThrow(/maxPartials must be an integer in \[1, 4096\], got 5000/);
    const k = new Reduce(gpu, { n: 100, op: 'sum', outIndex: 2 });
    const x = gpu.createBuffer(4 * 10, 'small x');
    await expect(run(gpu, (p) => k.encode(p, x, gpu.createBuffer(12, 'out')))).rejects.toThrow(/holds 10 floats, needs 100/);
    const big = gpu.createBuffer(4 * 100, 'x');
    await expect(run(gpu, (p) => k.encode(p, big, gpu.createBuffer(8, 'out')))).rejects.toThrow(/holds 2 floats, needs 3 \(outIndex 2\)/);
    await expect(run(gpu, (p) => k.encode(p, big, big))).rejects.toThrow(/must not share a buffer/);
    const plain = await testGpuWithoutFeatures();
    expect(() => new Reduce(plain, { n: 4, op: 'sum', subgroups: true })).toThrow(/lacks the 'subgroups' feature/);
  });

  describe('SegmentNorms', () => {
    // Awkward lengths, unordered, with gaps (filled with huge values that must not be counted) and a 1-float tensor.
    const segments: NormSegment[] = [
      { name: 'b', offset: 3072, length: 1 },
      { name: 'wte', offset: 0, length: 3000 },
      { name: 'w', offset: 3136, length: 70001 },
      { name: 'ln', offset: 73152, length: 64 },
    ];
    const n = 73300;
    const grads = (seed: number): Float32Array => {
      const g = new Float32Array(n).fill(1e15);
      for (const s of segments) g.set(randn(s.length, seed + s.offset, 1e-2), s.offset);
      return g;
    };
    async function norms(gpu: Gpu, g: Float32Array, options: { subgroups: boolean; maxPartials?: number }) {
      const k = new SegmentNorms(gpu, { n, segments, ...options });
      const per = gpu.upload(new Float32Array(segments.length).fill(NaN), 'per tensor');
      const total = gpu.upload(new Float32Array([NaN]), 'total');
      await run(gpu, (p) => k.encode(p, gpu.upload(g, 'grads'), per, total));
      const out = { per: await gpu.readFloat32(per), total: (await gpu.readFloat32(total))[0] };
      k.destroy();
      return out;
    }

    it.each([undefined, 1, 1024])('match float64 per tensor and in total (maxPartials %s, every variant)', async (maxPartials) => {
      const seed = freshSeed();
      const g = grads(seed);
      const want = segmentSumSqRef(g, segments);
      for (const [name, gpu, sg] of await variants()) {
        const got = await norms(gpu, g, { subgroups: sg, maxPartials });
        const context = `${name} seed ${seed}`;
        want.perSegment.forEach((w, i) => expect(Math.abs(got.per[i] - w) / w, `${context} ${segments[i].name}`).toBeLessThan(1e-5));
        expect(Math.abs(got.total - want.total) / want.total, context).toBeLessThan(1e-5);
      }
    });

    it('name the tensor with the NaN or Inf, and make the total non-finite', async () => {
      for (const [name, gpu, sg] of await variants()) {
        for (const [seg, bad] of [[2, NaN], [0, Infinity], [3, -Infinity]] as const) {
          const g = grads(7);
          g[segments[seg].offset + segments[seg].length - 1] = bad;
          const got = await norms(gpu, g, { subgroups: sg });
          const finite = Array.from(got.per, Number.isFinite);
          expect(finite, `${name}: ${bad} in ${segments[seg].name}`).toEqual(segments.map((_, i) => i !== seg));
          expect(Number.isFinite(got.total)).toBe(false);
        }
      }
    });

    it('rejects bad segments and aliased outputs', async () => {
      const gpu = await testGpu();
      expect(() => new SegmentNorms(gpu, { n: 10, segments: [{ name: 'x', offset: 8, length: 4 }] })).toThrow(/'x' ends at float 12, past the buffer's 10/);
      expect(() => new SegmentNorms(gpu, { n: 10, segments: [] })).toThrow(/segments is empty/);
      const k = new SegmentNorms(gpu, { n: 10, segments: [{ offset: 0, length: 10 }] });
      const g = gpu.createBuffer(40, 'g');
      const out = gpu.createBuffer(16, 'out');
      await expect(run(gpu, (p) => k.encode(p, g, out, out))).rejects.toThrow(/three different buffers/);
      k.destroy();
    });
  });
});
