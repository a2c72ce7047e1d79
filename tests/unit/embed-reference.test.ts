import { describe, expect, it } from 'vitest';
import { embeddingBackwardRef, embeddingRef, embeddingWithPositionsRef, positionEmbeddingBackwardRef } from '../reference/embed';
import { finiteDifference } from '../util/compare';
import { randn } from '../util/random';

describe('embeddingRef', () => {
  it('gathers rows and writes zeros for out-of-range ids', () => {
    const wte = [1, 2, 3, 4, 5, 6]; // V3 C2
    expect(Array.from(embeddingRef([2, 0, 7, 2], wte, 3, 2))).toEqual([5, 6, 1, 2, 0, 0, 5, 6]);
  });

  it('backward sums repeated tokens, skips out-of-range ids and adds to the initial dwte', () => {
    const dx = [1, 10, 2, 20, 3, 30, 4, 40];
    const dwte = embeddingBackwardRef([1, 1, 9, 0], dx, 2, 2, [100, 100, 100, 100]);
    expect(Array.from(dwte)).toEqual([104, 140, 103, 130]);
  });

  it('backward is the gradient of the forward', () => {
    const tokens = [0, 2, 2, 1, 2, 5];
    const [V, C] = [3, 2];
    const wte = Float64Array.from(randn(V * C, 1));
    const w = Float64Array.from(randn(tokens.length * C, 2));
    const loss = (): number => embeddingRef(tokens, wte, V, C).reduce((s, v, i) => s + v * w[i], 0);
    const grad = embeddingBackwardRef(tokens, w, V, C);
    for (const [i, g] of finiteDifference(loss, wte, wte.keys())) expect(g).toBeCloseTo(grad[i], 8);
  });
});

describe('embeddingWithPositionsRef', () => {
  it('adds wpe[t + offset] to each row, out-of-range tokens included', () => {
    const wte = [1, 2, 3, 4]; // V2 C2
    const wpe = [10, 20, 30, 40, 50, 60, 70, 80]; // contextLength 4
    // B2 T2 offset 1: rows take positions 1, 2, 1, 2
    const x = embeddingWithPositionsRef([1, 0, 5, 1], wte, wpe, 2, 2, { T: 2, offset: 1 });
    expect(Array.from(x)).toEqual([33, 44, 51, 62, 30, 40, 53, 64]);
  });

  it('backward sums over the batch into rows offset.., leaves the others and adds to the initial dwpe', () => {
    const dx = [1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60]; // B3 T2 C2
    const dwpe = positionEmbeddingBackwardRef(dx, 2, { T: 2, offset: 1 }, [100, 100, 100, 100, 100, 100, 100, 100]);
    expect(Array.from(dwpe)).toEqual([100, 100, 109, 190, 112, 220, 100, 100]);
  });

  it('backward is the gradient of the forward, for wte and wpe', () => {
    const tokens = [0, 2, 2, 1, 7, 0]; // B2 T3, one out-of-range id
    const [V, C, contextLength] = [3, 3, 5];
    const pos = { T: 3, offset: 2 };
    const wte = Float64Array.from(randn(V * C, 3));
    const wpe = Float64Array.from(randn(contextLength * C, 4));
    const w = Float64Array.from(randn(tokens.length * C, 5));
    const loss = (): number => embeddingWithPositionsRef(tokens, wte, wpe, V, C, pos).reduce((s, v, i) => s + v * w[i], 0);
    const dwte = embeddingBackwardRef(tokens, w, V, C);
    const dwpe = positionEmbeddingBackwardRef(w, C, pos, new Float64Array(contextLength * C));
    for (const [i, g] of finiteDifference(loss, wte, wte.keys())) expect(g).toBeCloseTo(dwte[i], 8);
    for (const [i, g] of finiteDifference(loss, wpe, wpe.keys())) expect(g).toBeCloseTo(dwpe[i], 8);
  });
});
