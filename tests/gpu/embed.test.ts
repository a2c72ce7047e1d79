import { describe, expect, it } from 'vitest';
import { EMBEDDING_BACKWARD_PIECE, EmbeddingBackward, EmbeddingForward, PositionEmbeddingBackward } from '../../src/kernels/embed';
import { embeddingBackwardRef, embeddingWithPositionsRef, positionEmbeddingBackwardRef } from '../reference/embed';
import { EMBEDDING_CASES, POSITION_CASES, embeddingCase, positionEmbeddingCase, tokensFor } from '../util/cases/embed';
import { expectClose } from '../util/compare';
import { poisoned, run, testGpu } from '../util/gpu';
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

describe('embedding with learned positions', () => {
  it.each(POSITION_CASES.map((c) => [c.name, c] as const))('%s: forward and position backward match the reference', async (_, c) => {
    await testKernel(await testGpu(), positionEmbeddingCase(c));
  });

  it('decoder steps: setPositionOffset moves later passes to position p', async () => {
    const gpu = await testGpu();
    const [S, V, C, L] = [3, 10, 6, 8];
    const seed = freshSeed();
    const tokens = tokensFor(S, V, seed);
    const [wte, wpe] = [randn(V * C, seed + 1), randn(L * C, seed + 2)];
    const fwd = new EmbeddingForward(gpu, { N: S, V, C }, { positions: { T: 1, contextLength: L } });
    const bufs = [gpu.upload(tokens, 'tokens'), gpu.upload(wte, 'wte'), gpu.upload(wpe, 'wpe'), poisoned(gpu, S * C, 'x')];
    const [tb, wteb, wpeb, x] = bufs;
    for (const p of [0, 5, 7]) {
      if (p) fwd.setPositionOffset(p);
      await run(gpu, (pass) => fwd.encode(pass, tb, wteb, x, wpeb));
      expectClose(`step at ${p} (seed ${seed})`, await gpu.readFloat32(x, S * C), embeddingWithPositionsRef(tokens, wte, wpe, V, C, { T: 1, offset: p }), 1e-6);
    }
    expect(fwd.positions?.offset).toBe(7);
    expect(() => fwd.setPositionOffset(8)).toThrow('embeddingForward: positions 8..8 run past wpe\'s 8 rows (positions.offset + positions.T must be <= positions.contextLength)');
    expect(fwd.positions?.offset).toBe(7);
    fwd.destroy();
    bufs.forEach((b) => gpu.release(b));
  });

  it('backward sums the batch in increasing b, bit for bit, and is the gradient of the forward', async () => {
    const gpu = await testGpu();
    const [B, T, C, V, L, offset] = [9, 3, 5, 4, 6, 2];
    const N = B * T;
    const pos = { T, contextLength: L, offset };
    const seed = freshSeed();
    const dx = randn(N * C, seed);
    const dwpe0 = randn(L * C, seed + 1);
    const dxb = gpu.upload(dx, 'dx');
    const dwpe = gpu.upload(dwpe0, 'dwpe');
    const bwd = new PositionEmbeddingBackward(gpu, { N, C }, pos);
    await run(gpu, (p) => bwd.encode(p, dxb, dwpe));
    const got = await gpu.readFloat32(dwpe, L * C);
    const want = Float32Array.from(dwpe0);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < C; j++) {
        let sum = 0;
        for (let b = 0; b < B; b++) sum = Math.fround(sum + dx[(b * T + t) * C + j]);
        want[(t + offset) * C + j] = Math.fround(want[(t + offset) * C + j] + sum);
      }
    }
    expect(Array.from(got), `seed ${seed}`).toEqual(Array.from(want));
    // finite differences of the GPU forward: loss = Σ x · dx is linear in wpe, so a central difference with h = 1
    // is exact but for float32 rounding and checks the backward against the forward kernel itself
    const tokens = tokensFor(N, V, seed + 2, 1);
    const wte = randn(V * C, seed + 3);
    const wpe = Float32Array.from(randn(L * C, seed + 4));
    const fwd = new EmbeddingForward(gpu, { N, V, C }, { positions: pos });
    const bufs = [gpu.upload(tokens, 'tokens'), gpu.upload(wte, 'wte'), gpu.createBuffer(4 * L * C, 'wpe'), gpu.createBuffer(4 * N * C, 'x')];
    const loss = async (): Promise<number> => {
      gpu.queue.writeBuffer(bufs[2], 0, wpe);
      await run(gpu, (p) => fwd.encode(p, bufs[0], bufs[1], bufs[3], bufs[2]));
      return (await gpu.readFloat32(bufs[3], N * C)).reduce((s, v, i) => s + v * dx[i], 0);
    };
    const fd = new Float64Array(L * C);
    for (let i = 0; i < L * C; i++) {
      const old = wpe[i];
      wpe[i] = old + 1;
      const up = await loss();
      wpe[i] = old - 1;
      fd[i] = (up - (await loss())) / 2;
      wpe[i] = old;
    }
    expectClose(`d loss / d wpe (seed ${seed})`, got.map((v, i) => v - dwpe0[i]), fd, 1e-5);
    fwd.destroy();
    bwd.destroy();
    [...bufs, dxb, dwpe].forEach((b) => gpu.release(b));
  });

  it('takes wte and wpe as ranges of one flat parameter buffer and adds dwpe into a range of a gradient buffer', async () => {
    // the model's layout: every tensor at a 64-float (256-byte) aligned offset of one buffer
    const gpu = await testGpu();
    const [B, T, V, C, L] = [2, 3, 5, 7, 4];
    const N = B * T;
    const pos = { T, contextLength: L, offset: 1 };
    const seed = freshSeed();
    const tokens = tokensFor(N, V, seed);
    const flat = randn(256, seed + 1); // wte at 0 (35 floats), wpe at 64 (28 floats)
    const grads0 = randn(256, seed + 2); // dwpe at 128
    const dx = randn(N * C, seed + 3);
    const bufs = [gpu.upload(tokens, 'tokens'), gpu.upload(flat, 'params'), gpu.upload(grads0, 'grads'), gpu.upload(dx, 'dx'), poisoned(gpu, N * C, 'x')];
    const [tb, params, grads, dxb, x] = bufs;
    const range = (buffer: GPUBuffer, at: number, n: number) => ({ buffer, offset: 4 * at, size: 4 * n });
    const fwd = new EmbeddingForward(gpu, { N, V, C }, { positions: pos });
    const bwd = new PositionEmbeddingBackward(gpu, { N, C }, pos);
    await run(gpu, (p) => {
      fwd.encode(p, tb, range(params, 0, V * C), x, range(params, 64, L * C));
      bwd.encode(p, dxb, range(grads, 128, L * C));
    });
    const wte = flat.subarray(0, V * C);
    const wpe = flat.subarray(64, 64 + L * C);
    expectClose(`x (seed ${seed})`, await gpu.readFloat32(x, N * C), embeddingWithPositionsRef(tokens, wte, wpe, V, C, pos), 1e-6);
    const want = Float64Array.from(grads0);
    want.set(positionEmbeddingBackwardRef(dx, C, pos, grads0.subarray(128, 128 + L * C)), 128);
    expectClose(`gradient buffer (seed ${seed})`, await gpu.readFloat32(grads, 256), want, 1e-6);
    fwd.destroy();
    bwd.destroy();
    bufs.forEach((b) => gpu.release(b));
  });

  it('rejects positions that do not fit, a missing or extra wpe, and aliasing, with a message', async () => {
    const gpu = await testGpu();
    const pass = null as unknown as GPUComputePassEncoder;
    const positions = { T: 4, contextLength: 6 };
    const before = gpu.allocatedBytes; // the rejected constructors allocate nothing
    expect(() => new EmbeddingForward(gpu, { N: 10, V: 5, C: 4 }, { positions })).toThrow(
      'embeddingForward: N = 10 rows are not whole sequences of positions.T = 4 (N must be B·T)',
    );
    expect(() => new PositionEmbeddingBackward(gpu, { N: 8, C: 4 }, { ...positions, offset: 3 })).toThrow(
      "positionEmbeddingBackward: positions 3..6 run past wpe's 6 rows (positions.offset + positions.T must be <= positions.contextLength)",
    );
    expect(() => new EmbeddingForward(gpu, { N: 8, V: 5, C: 4 }, { positions: { T: 0, contextLength: 6 } })).toThrow(/positions.T must be an integer >= 1, got 0/);
    const fwd = new EmbeddingForward(gpu, { N: 8, V: 5, C: 4 }, { positions });
    const plain = new EmbeddingForward(gpu, { N: 8, V: 5, C: 4 });
    const bwd = new PositionEmbeddingBackward(gpu, { N: 8, C: 4 }, positions);
    const made = [gpu.createBuffer(32, 't'), gpu.createBuffer(4 * 20, 'wte'), gpu.createBuffer(4 * 32, 'x'), gpu.createBuffer(4 * 23, 'short wpe'), gpu.createBuffer(4 * 20, 'small dwpe')];
    const [t, wte, x, shortWpe, smallDwpe] = made;
    expect(() => fwd.encode(pass, t, wte, x)).toThrow('embeddingForward: made with positions, so encode needs wpe (6·4 floats)');
    expect(() => fwd.encode(pass, t, wte, x, shortWpe)).toThrow("embeddingForward: wpe ('short wpe') holds 23 floats, needs 24");
    expect(() => fwd.encode(pass, t, wte, x, x)).toThrow(/x must not share a buffer with wpe/);
    expect(() => plain.encode(pass, t, wte, x, x)).toThrow(/made without positions, so encode takes no wpe/);
    expect(() => plain.setPositionOffset(1)).toThrow(/made without positions/);
    expect(() => bwd.encode(pass, x, x)).toThrow(/dwpe must not share a buffer with dx/);
    expect(() => bwd.encode(pass, x, smallDwpe)).toThrow("positionEmbeddingBackward: dwpe ('small dwpe') holds 20 floats, needs 24");
    fwd.destroy();
    plain.destroy();
    bwd.destroy();
    made.forEach((b) => gpu.release(b));
    expect(gpu.allocatedBytes).toBe(before);
  });
});
