import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device';
import { ShapeError } from '../../src/gpu/errors';
import { Matmul, type MatmulShape } from '../../src/kernels/matmul';
import { matmulPlain, matmulRef } from '../reference/matmul';

/** Row-major (rows, cols) array from nested rows, and back. */
const flat = (x: number[][]): number[] => x.flat();
const rows = (v: ArrayLike<number>, r: number, c: number, start = 0): number[][] =>
  Array.from({ length: r }, (_, i) => Array.from({ length: c }, (_, j) => v[start + i * c + j]));
const transpose = (x: number[][]): number[][] => x[0].map((_, j) => x.map((row) => row[j]));
const matrix = (r: number, c: number, seed: number): number[][] =>
  Array.from({ length: r }, (_, i) => Array.from({ length: c }, (_, j) => ((i * 7 + j * 3 + seed) % 11) - 5));

describe('matmulRef', () => {
  it('matches a product worked by hand', () => {
    const out = matmulRef({ M: 2, N: 2, K: 3 }, [1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12], [0, 0, 0, 0]);
    expect(Array.from(out)).toEqual([58, 64, 139, 154]);
  });

  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('transA=%s transB=%s reads the transposed layouts', (transA, transB) => {
    const x = matrix(3, 4, 1);
    const y = matrix(4, 5, 2);
    const a = flat(transA ? transpose(x) : x);
    const b = flat(transB ? transpose(y) : y);
    const out = matmulRef({ M: 3, N: 5, K: 4, transA, transB }, a, b, new Array(15).fill(0));
    expect(rows(out, 3, 5)).toEqual(matmulPlain(x, y));
  });

  it('applies alpha to the product only, then bias, then accumulates', () => {
    const out = matmulRef({ M: 1, N: 2, K: 1, alpha: 2, bias: true, accumulate: true }, [3], [1, 2], [10, 20], [0.5, 0.25]);
    expect(Array.from(out)).toEqual([10 + 6 + 0.5, 20 + 12 + 0.25]);
  });

  it('walks batches by stride and offset, broadcasting stride 0, and leaves the rest of C alone', () => {
    const x0 = matrix(2, 3, 1);
    const x1 = matrix(2, 3, 5);
    const w = matrix(3, 2, 9);
    // A: 1 element of padding, then two matrices 8 elements apart; B shared (stride 0); C offset 2, stride 5.
    const a = [99, ...flat(x0), 0, 0, ...flat(x1)];
    const shape: MatmulShape = { M: 2, N: 2, K: 3, batch: 2, offsetA: 1, strideA: 8, strideB: 0, offsetC: 2, strideC: 5 };
    const c = new Array(11).fill(-1);
    const out = matmulRef(shape, a, flat(w), c);
    expect(rows(out, 2, 2, 2)).toEqual(matmulPlain(x0, w));
    expect(rows(out, 2, 2, 7)).toEqual(matmulPlain(x1, w));
    expect([out[0], out[1], out[6]]).toEqual([-1, -1, -1]);
  });

  it('uses one bias per batch when strideBias is N', () => {
    const out = matmulRef({ M: 1, N: 1, K: 1, batch: 2, bias: true, strideBias: 1, strideA: 0, strideB: 0 }, [1], [1], [0, 0], [10, 20]);
    expect(Array.from(out)).toEqual([11, 21]);
  });
});

describe('Matmul shape validation (no GPU needed)', () => {
  const noGpu = {} as Gpu;
  it.each<[MatmulShape, RegExp]>([
    [{ M: 0, N: 4, K: 4 }, /M must be a positive integer, got 0/],
    [{ M: 4, N: 2.5, K: 4 }, /N must be a positive integer, got 2.5/],
    [{ M: 4, N: 4, K: -1 }, /K must be a positive integer/],
    [{ M: 4, N: 4, K: 4, batch: 0 }, /batch must be a positive integer/],
    [{ M: 4, N: 4, K: 4, strideA: -4 }, /strideA must be an integer/],
    [{ M: 4, N: 4, K: 4, offsetB: 0.5 }, /offsetB must be an integer/],
    [{ M: 4, N: 4, K: 4, alpha: NaN }, /alpha must be a finite number/],
    [{ M: 4, N: 4, K: 4, batch: 2, strideC: 0 }, /strideC 0 is smaller than one output matrix/],
    [{ M: 50000, N: 50000, K: 1, batch: 2 }, /more than 32-bit indices reach/],
  ])('rejects %j', (shape, message) => {
    expect(() => new Matmul(noGpu, shape)).toThrow(ShapeError);
    expect(() => new Matmul(noGpu, shape)).toThrow(message);
  });
});
