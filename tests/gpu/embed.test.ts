import { describe, expect, it } from 'vitest';
import { EMBEDDING_BACKWARD_PIECE, EmbeddingBackward, EmbeddingForward, type EmbeddingShape } from '../../src/kernels/embed';
import { embeddingBackwardRef, embeddingRef } from '../reference/embed';
import { expectClose } from '../util/compare';
import { poisoned, run, testGpu } from '../util/gpu';
import { freshSeed, randint, randn } from '../util/random';

const TOL = 1e-5;

/** Tokens with heavy repetition: a third are token 0, the rest uniform, plus `bad` out-of-range ids. */
function tokensFor(N: number, V: number, seed: number, bad = 0): Uint32Array {
  const t = randint(N, seed, V);
  for (let i = 0; i < N; i += 3) t[i] = 0;
  for (let i = 0; i < bad; i++) t[(i * 7919) % N] = i % 2 ? V : 0xffffffff;
  return t;
}

describe('embedding', () => {
  it.each<[string, EmbeddingShape, number]>([
    ['N=1 V=1 C=1', { N: 1, V: 1, C: 1 }, 0],
    ['V=3 repeated, C=7', { N: 40, V: 3, C: 7 }, 0],
    ['C=257', { N: 300, V: 17, C: 257 }, 0],
    ['V=255 (one radix pass, marker 255)', { N: 600, V: 255, C: 8 }, 0],
    ['V=256 (two radix passes)', { N: 600, V: 256, C: 8 }, 0],
    ['V=1000, N > several sort blocks, out-of-range ids', { N: 1337, V: 1000, C: 12 }, 9],
    ['V=70000 (three passes)', { N: 513, V: 70000, C: 4 }, 3],
  ])('%s: forward and backward match the reference', async (_, shape, bad) => {
    const gpu = await testGpu();
    const { N, V, C } = shape;
    const seed = freshSeed();
    const tokens = tokensFor(N, V, seed, bad);
    const wte = randn(V * C, seed + 1);
    const dx = randn(N * C, seed + 2);
    const dwte0 = randn(V * C, seed + 3);
    const tb = gpu.upload(tokens, 'tokens');
    const x = poisoned(gpu, N * C, 'x');
    const dwte = gpu.upload(dwte0, 'dwte');
    const fwd = new EmbeddingForward(gpu, shape);
    const bwd = new EmbeddingBackward(gpu, shape);
    await run(gpu, (p) => {
      fwd.encode(p, tb, gpu.upload(wte, 'wte'), x);
      bwd.encode(p, tb, gpu.upload(dx, 'dx'), dwte);
    });
    const ctx = `${JSON.stringify(shape)} seed ${seed}`;
    expectClose('embedding forward', await gpu.readFloat32(x, N * C), embeddingRef(tokens, wte, V, C), 0, ctx);
    expectClose('embedding backward', await gpu.readFloat32(dwte, V * C), embeddingBackwardRef(tokens, dx, V, C, dwte0), TOL, ctx);
  });

  it('all N tokens equal: one long segment, bitwise the same every run', async () => {
    const gpu = await testGpu();
    const shape = { N: 2000, V: 5, C: 16 };
    const tokens = new Uint32Array(shape.N).fill(3);
    const dx = randn(shape.N * shape.C, freshSeed());
    const tb = gpu.upload(tokens, 'tokens');
    const db = gpu.upload(dx, 'dx');
    const bwd = new EmbeddingBackward(gpu, shape);
    const runs: Float32Array[] = [];
    for (let r = 0; r < 3; r++) {
      const dwte = gpu.upload(new Float32Array(shape.V * shape.C), 'dwte');
      await run(gpu, (p) => bwd.encode(p, tb, db, dwte));
      runs.push(await gpu.readFloat32(dwte, shape.V * shape.C));
    }
    expectClose('one segment', runs[0], embeddingBackwardRef(tokens, dx, shape.V, shape.C), TOL);
    expect(Array.from(runs[1])).toEqual(Array.from(runs[0]));
    expect(Array.from(runs[2])).toEqual(Array.from(runs[0]));
  });

  it.each([4, 5])('sums in the documented order, bit for bit (C=%i)', async (C) => {
    // Replays the kernel's order in float32: entries sorted stably by token, cut into pieces at token changes
    // and at multiples of PIECE sorted entries; each piece summed in order, then a token's pieces in order.
    const gpu = await testGpu();
    const [N, V] = [700, 40];
    const seed = freshSeed();
    const tokens = tokensFor(N, V, seed, 5);
    const dx = randn(N * C, seed + 1);
    const dwte0 = randn(V * C, seed + 2);
    const dwte = gpu.upload(dwte0, 'dwte');
    await run(gpu, (p) => new EmbeddingBackward(gpu, { N, V, C }).encode(p, gpu.upload(tokens, 'tokens'), gpu.upload(dx, 'dx'), dwte));
    const key = (n: number): number => Math.min(tokens[n], V);
    const sorted = Array.from(tokens.keys()).sort((a, b) => key(a) - key(b) || a - b);
    const want = Float32Array.from(dwte0);
    const P = EMBEDDING_BACKWARD_PIECE;
    for (let a = 0; a < N; ) {
      let b = a;
      while (b < N && key(sorted[b]) === key(sorted[a])) b++;
      const v = key(sorted[a]);
      for (let j = 0; v < V && j < C; j++) {
        let total = 0;
        for (let start = a; start < b; start = (Math.floor(start / P) + 1) * P) {
          let piece = 0;
          for (let s = start; s < Math.min(b, (Math.floor(start / P) + 1) * P); s++) piece = Math.fround(piece + dx[sorted[s] * C + j]);
          total = start === a ? piece : Math.fround(total + piece);
        }
        want[v * C + j] = Math.fround(want[v * C + j] + total);
      }
      a = b;
    }
    expect(Array.from(await gpu.readFloat32(dwte, V * C))).toEqual(Array.from(want));
  });

  it('rejects a wte smaller than V·C', async () => {
    const gpu = await testGpu();
    const fwd = new EmbeddingForward(gpu, { N: 2, V: 10, C: 4 });
    const pass = null as unknown as GPUComputePassEncoder;
    expect(() => fwd.encode(pass, gpu.createBuffer(8, 't'), gpu.createBuffer(4 * 39, 'wte'), gpu.createBuffer(32, 'x'))).toThrow(/wte \('wte'\) holds 39 floats, needs 40/);
  });
});
