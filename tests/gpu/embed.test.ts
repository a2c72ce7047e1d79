import { describe, expect, it } from 'vitest';
import { EMBEDDING_BACKWARD_PIECE, EmbeddingBackward, EmbeddingForward } from '../../src/kernels/embed';
import { embeddingBackwardRef } from '../reference/embed';
import { EMBEDDING_CASES, embeddingCase, tokensFor } from '../util/cases/embed';
import { expectClose } from '../util/compare';
import { run, testGpu } from '../util/gpu';
import { testKernel } from '../util/kernel-test';
import { freshSeed, randn } from '../util/random';

const TOL = 1e-5;

describe('embedding', () => {
  it.each(EMBEDDING_CASES.map((c) => [c.name, c] as const))('%s: forward and backward match the reference', async (_, { shape, outOfRange }) => {
    await testKernel(await testGpu(), embeddingCase(shape, outOfRange));
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
