import { describe, expect, it } from 'vitest';
import { ropeFrequencyTable } from '../../src/kernels/elementwise';
import { axpyRef, geluBackwardRef, geluRef, geluTanhForm, ropeRef, scaleRef, swigluBackwardRef, swigluRef } from '../reference/elementwise';
import { finiteDifference } from '../util/compare';
import { randn } from '../util/random';

/** Checks analytic gradient `grad` of the scalar loss `loss()` (which reads `x`) against central differences. */
function expectGradient(loss: () => number, x: Float64Array, grad: ArrayLike<number>, tol = 1e-6): void {
  const fd = finiteDifference(loss, x, x.keys());
  for (const [i, g] of fd) expect(Math.abs(g - grad[i])).toBeLessThan(tol * Math.max(1, Math.abs(g)));
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

describe('scale / axpy references', () => {
  it('work a small case by hand', () => {
    expect(Array.from(scaleRef([1, -2, 3], 0.5))).toEqual([0.5, -1, 1.5]);
    expect(Array.from(axpyRef(2, [1, 2], [10, 20]))).toEqual([12, 24]);
  });
});

describe('geluRef', () => {
  it('matches known values', () => {
    const y = geluRef([0, 1, -1, 10, -10]);
    expect(y[0]).toBe(0);
    expect(y[1]).toBeCloseTo(0.8411919906, 9);
    expect(y[2]).toBeCloseTo(-0.1588080094, 9);
    expect(y[3]).toBeCloseTo(10, 9);
    expect(y[4]).toBeCloseTo(0, 9);
  });

  it('is the tanh form, and keeps relative accuracy in the negative tail', () => {
    const xs = Array.from({ length: 61 }, (_, i) => -6 + i / 5);
    const y = geluRef(xs);
    xs.forEach((v, i) => expect(y[i]).toBeCloseTo(geluTanhForm(v), 14));
    // x = -9: u = -33.2, gelu = -9·e^(2u)/(1 + e^(2u)) ≈ -1.34e-28, where the tanh form gives 0
    expect(geluRef([-9])[0] / (-9 * Math.exp(2 * -0.7978845608028654 * (9 + 0.044715 * 729)))).toBeCloseTo(1, 12);
  });

  it('backward matches finite differences', () => {
    const x = Float64Array.from(randn(40, 11, 3));
    const dy = Float64Array.from(randn(40, 12));
    expectGradient(() => dot(geluRef(x), dy), x, geluBackwardRef(x, dy));
  });
});

describe('swigluRef', () => {
  it('works a row by hand', () => {
    // gate [0, 2], up [5, 3]: silu(0) = 0, silu(2) = 2·σ(2)
    const out = swigluRef([0, 2, 5, 3], 1, 2);
    expect(out[0]).toBe(0);
    expect(out[1]).toBeCloseTo((2 / (1 + Math.exp(-2))) * 3, 12);
  });

  it('backward matches finite differences', () => {
    const N = 3;
    const H = 5;
    const inp = Float64Array.from(randn(N * 2 * H, 21, 2));
    const dout = Float64Array.from(randn(N * H, 22));
    expectGradient(() => dot(swigluRef(inp, N, H), dout), inp, swigluBackwardRef(inp, dout, N, H));
  });
});

describe('ropeRef', () => {
  it('rotates pair (0, HS/2) by t·theta^0 and leaves position 0 alone', () => {
    const x = [1, 0, 0, 0, 1, 0, 0, 0]; // B1 T2 NH1 HS4: t=0 then t=1
    const y = ropeRef(x, { B: 1, T: 2, NH: 1, HS: 4 });
    expect(Array.from(y.slice(0, 4))).toEqual([1, 0, 0, 0]);
    expect(y[4]).toBeCloseTo(Math.cos(1), 12); // x_0' = x_0 cos(1)
    expect(y[6]).toBeCloseTo(Math.sin(1), 12); // x_2' = x_0 sin(1)
    expect(y[5]).toBe(0);
  });

  it('posOffset p puts t = 0 at position p, and inverse undoes forward', () => {
    const x = randn(6 * 2 * 6, 31); // B1 T6 NH2 HS6
    const y = ropeRef(x, { B: 1, T: 6, NH: 2, HS: 6 });
    const row5 = ropeRef(x.slice(5 * 12, 6 * 12), { B: 1, T: 1, NH: 2, HS: 6, posOffset: 5 });
    for (let i = 0; i < 12; i++) expect(row5[i]).toBeCloseTo(y[5 * 12 + i], 12);
    const back = ropeRef(y, { B: 1, T: 6, NH: 2, HS: 6 }, true);
    for (let i = 0; i < x.length; i++) expect(back[i]).toBeCloseTo(x[i], 12);
  });

  it('respects rowStride and offset, leaving other elements untouched', () => {
    // fused qkv rows of 3·NH·HS = 12 with q at 0 and k at 4: rotate k only
    const x = Array.from({ length: 2 + 2 * 12 }, (_, i) => i + 1);
    const y = ropeRef(x, { B: 1, T: 2, NH: 1, HS: 4, rowStride: 12, offset: 2 + 4 });
    const dense = ropeRef([...x.slice(18, 22)], { B: 1, T: 1, NH: 1, HS: 4, posOffset: 1 });
    for (let i = 0; i < x.length; i++) {
      const inK = (i >= 6 && i < 10) || (i >= 18 && i < 22);
      if (!inK) expect(y[i]).toBe(x[i]);
    }
    expect(Array.from(y.slice(18, 22))).toEqual(Array.from(dense));
  });

  it('backward (inverse rotation) is the gradient of forward', () => {
    const shape = { B: 1, T: 4, NH: 2, HS: 6, posOffset: 3, theta: 100 };
    const x = Float64Array.from(randn(4 * 2 * 6, 41));
    const w = Float64Array.from(randn(4 * 2 * 6, 42));
    expectGradient(() => dot(ropeRef(x, shape), w), x, ropeRef(w, shape, true));
  });
});

describe('ropeFrequencyTable', () => {
  it('splits turns per position into hi + lo with pos · hi exact in float32 for pos < 2^14', () => {
    for (const HS of [2, 6, 64, 128]) {
      const table = ropeFrequencyTable(HS, 10000);
      const half = HS / 2;
      for (let i = 0; i < half; i++) {
        const turns = Math.pow(10000, (-2 * i) / HS) / (2 * Math.PI);
        expect(Math.abs(table[i] + table[half + i] - turns)).toBeLessThan(turns * 1e-9);
        const pos = 2 ** 14 - 1;
        expect(Math.fround(pos * table[i])).toBe(pos * table[i]);
      }
    }
  });
});
