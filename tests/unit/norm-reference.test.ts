import { describe, expect, it } from 'vitest';
import { columnSumRef, layernormBackwardRef, layernormRef, rmsnormBackwardRef, rmsnormRef } from '../reference/norm';
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

describe('layernormRef', () => {
  it('works a row by hand', () => {
    // x = [1, 2, 3, 6]: mean 3, deviations [-2, -1, 0, 3], biased variance 14/4 = 3.5
    const r = 1 / Math.sqrt(3.5);
    const { y, mean, rstd } = layernormRef([1, 2, 3, 6], [1, 2, 1, 0.5], [0, 1, -1, 2], 1, 4, 0);
    expect(mean[0]).toBe(3);
    expect(rstd[0]).toBeCloseTo(r, 14);
    const want = [-2 * r, 1 - 2 * r, -1, 2 + 1.5 * r];
    want.forEach((v, j) => expect(y[j]).toBeCloseTo(v, 14));
  });

  it('works the backward of a row by hand', () => {
    // x = [0, 2]: mean 1, rstd 1 (eps 0), x̂ = [-1, 1]; gain [2, 1], dy [1, 3]: g = [2, 3], Σg/C = 2.5,
    // (g·x̂)/C = 0.5, dx = [2 - 2.5 + 0.5, 3 - 2.5 - 0.5] = [0, 0]; dgain = dy·x̂ = [-1, 3]; dbias = dy
    const { mean, rstd } = layernormRef([0, 2], [2, 1], [0, 0], 1, 2, 0);
    const { dx, dgain, dbias } = layernormBackwardRef([0, 2], [2, 1], mean, rstd, [1, 3], 1, 2);
    expect(Array.from(dx)).toEqual([0, 0]);
    expect(Array.from(dgain)).toEqual([-1, 3]);
    expect(Array.from(dbias)).toEqual([1, 3]);
  });

  it('gives a zero-mean unit-variance row with unit gain and no bias; eps keeps a constant row finite', () => {
    const { y } = layernormRef([1, -2, 3, -4, 5], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0], 1, 5, 0);
    expect(y.reduce((a, v) => a + v, 0)).toBeCloseTo(0, 12);
    expect(dot(y, y) / 5).toBeCloseTo(1, 12);
    const flat = layernormRef([7, 7, 7], [1, 2, 3], [0.5, -1, 2], 1, 3, 1e-5);
    expect(Array.from(flat.y)).toEqual([0.5, -1, 2]);
    expect(flat.rstd[0]).toBeCloseTo(1 / Math.sqrt(1e-5), 6);
  });

  it.each([
    [1, 1],
    [2, 7],
    [3, 5],
  ])('backward N=%i C=%i matches finite differences for x, gain and bias', (N, C) => {
    const x = Float64Array.from(randn(N * C, 6 + C, 1.5));
    const gain = Float64Array.from(randn(C, 7 + C));
    const bias = Float64Array.from(randn(C, 8 + C));
    const dy = Float64Array.from(randn(N * C, 9 + C));
    // eps 0.5 for C = 1, where x̂ is 0 and dx is ~eps-sized
    const eps = C === 1 ? 0.5 : 1e-5;
    const loss = (): number => dot(layernormRef(x, gain, bias, N, C, eps).y, dy);
    const { mean, rstd } = layernormRef(x, gain, bias, N, C, eps);
    const { dx, dgain, dbias } = layernormBackwardRef(x, gain, mean, rstd, dy, N, C);
    for (const [i, g] of finiteDifference(loss, x, x.keys())) expect(g).toBeCloseTo(dx[i], 6);
    for (const [i, g] of finiteDifference(loss, gain, gain.keys())) expect(g).toBeCloseTo(dgain[i], 6);
    for (const [i, g] of finiteDifference(loss, bias, bias.keys())) expect(g).toBeCloseTo(dbias[i], 6);
  });
});

describe('columnSumRef', () => {
  it('sums a (3, 2) matrix by hand, and adds to given contents', () => {
    const x = [1, 2, 3, 4, 5, 6.5];
    expect([...columnSumRef(x, 3, 2)]).toEqual([9, 12.5]);
    expect([...columnSumRef(x, 3, 2, [10, -1])]).toEqual([19, 11.5]);
  });
});
