import { describe, expect, it } from 'vitest';
import { rmsnormBackwardRef, rmsnormRef } from '../reference/norm';
import { finiteDifference } from '../util/compare';
import { randn } from '../util/random';

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

describe('rmsnormRef', () => {
  it('works a row by hand', () => {
    // x = [3, 4]: mean(x²) = 12.5, rstd = 1/√12.5
    const { y, rstd } = rmsnormRef([3, 4], [1, 2], 1, 2, 0);
    expect(rstd[0]).toBeCloseTo(1 / Math.sqrt(12.5), 14);
    expect(y[0]).toBeCloseTo(3 / Math.sqrt(12.5), 14);
    expect(y[1]).toBeCloseTo(8 / Math.sqrt(12.5), 14);
  });

  it('gives a unit-RMS row with unit weight, and eps keeps a zero row finite', () => {
    const { y } = rmsnormRef([1, -2, 3, -4, 5], [1, 1, 1, 1, 1], 1, 5, 0);
    expect(dot(y, y) / 5).toBeCloseTo(1, 12);
    const zero = rmsnormRef([0, 0, 0], [1, 1, 1], 1, 3, 1e-5);
    expect(Array.from(zero.y)).toEqual([0, 0, 0]);
    expect(zero.rstd[0]).toBeCloseTo(1 / Math.sqrt(1e-5), 6);
  });

  it.each([
    [1, 1],
    [2, 7],
    [3, 5],
  ])('backward N=%i C=%i matches finite differences for x and weight', (N, C) => {
    const x = Float64Array.from(randn(N * C, 3 + C, 1.5));
    const w = Float64Array.from(randn(C, 4 + C));
    const dy = Float64Array.from(randn(N * C, 5 + C));
    const loss = (): number => dot(rmsnormRef(x, w, N, C).y, dy);
    const { rstd } = rmsnormRef(x, w, N, C);
    const { dx, dweight } = rmsnormBackwardRef(x, w, rstd, dy, N, C);
    for (const [i, g] of finiteDifference(loss, x, x.keys())) expect(g).toBeCloseTo(dx[i], 6);
    for (const [i, g] of finiteDifference(loss, w, w.keys())) expect(g).toBeCloseTo(dweight[i], 6);
  });
});
