import { describe, expect, it } from 'vitest';
import { embeddingBackwardRef, embeddingRef } from '../reference/embed';
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
