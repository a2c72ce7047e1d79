/**
 * The Muon references (tests/reference/muon.ts) and the test util's singular values. NS5 is a matrix polynomial
 * X ↦ a·X + b·(X·Xᵀ)·X + c·(X·Xᵀ)²·X, so it maps each singular value σ of G on its own to p⁵(σ / (‖G‖_F + eps)),
 * p(x) = a·x + b·x³ + c·x⁵, and keeps the singular vectors. The tests check that law on matrices built with known
 * spectra, and from it the band the outputs land in.
 */
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device';
import { LimitExceededError, ShapeError } from '../../src/gpu/errors';
import { newtonSchulzFlops, NewtonSchulz5, NS5_COEFFICIENTS, NS5_EPS } from '../../src/kernels/muon';
import { MuonStep, muonScale } from '../../src/train/muon';
import { muonStepRef, newtonSchulz5Ref, transpose } from '../reference/muon';
import { singularValues, symmetricEigenvalues } from '../util/linalg';
import { freshSeed, rng } from '../util/random';

const { a, b, c } = NS5_COEFFICIENTS;
const p = (x: number): number => a * x + b * x ** 3 + c * x ** 5;
const p5 = (x: number): number => p(p(p(p(p(x)))));

/**
 * The band, measured on the scalar law over s = σ / ‖G‖_F ∈ (0, 1] (1e6 points) and confirmed on the random
 * matrices below: for s ≥ 0.01 the output lies in [0.6818, 1.1344]; for s ≥ 0.0016 it is at least 0.6818; the
 * largest output of all is 1.2024 (near s = 0.004). Below s ≈ 0.0015 a singular value is lifted only ~486-fold
 * (a⁵ · s): ill-conditioned inputs keep their tiniest directions small, and zero stays zero.
 */
const BAND = { lo: 0.6818, hi: 1.1344, top: 1.2024, inBand: 0.01, aboveLo: 0.0016 };

/** n × k with orthonormal columns (k ≤ n): Gram–Schmidt, twice, on Gaussian columns. */
function orthonormal(n: number, k: number, r: () => number): Float64Array {
  const q = new Float64Array(n * k);
  const gauss = () => Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  for (let j = 0; j < k; j++) {
    for (let i = 0; i < n; i++) q[i * k + j] = gauss();
    for (let pass = 0; pass < 2; pass++) {
      for (let l = 0; l < j; l++) {
        let d = 0;
        for (let i = 0; i < n; i++) d += q[i * k + l] * q[i * k + j];
        for (let i = 0; i < n; i++) q[i * k + j] -= d * q[i * k + l];
      }
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += q[i * k + j] ** 2;
    for (let i = 0; i < n; i++) q[i * k + j] /= Math.sqrt(norm);
  }
  return q;
}

/** G (rows, cols) = U · diag(σ) · Vᵀ with random orthonormal U, V: a matrix whose singular values are σ. */
function withSpectrum(rows: number, cols: number, sigma: readonly number[], r: () => number): Float64Array {
  const k = sigma.length;
  const u = orthonormal(rows, k, r);
  const v = orthonormal(cols, k, r);
  const g = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) for (let l = 0; l < k; l++) g[i * cols + j] += u[i * k + l] * sigma[l] * v[j * k + l];
  return g;
}

type Spectrum = 'spread' | 'ill-conditioned' | 'rank-deficient' | 'flat';

/** min(rows, cols) singular values of the kind, descending. */
function spectrum(kind: Spectrum, k: number, r: () => number): number[] {
  const s = Array.from({ length: k }, (_, i) => {
    if (kind === 'spread') return 0.1 + 3 * r();
    if (kind === 'ill-conditioned') return 10 ** (-7 * r()); // condition numbers up to 1e7
    if (kind === 'rank-deficient') return i < Math.ceil(k / 2) ? 0.5 + r() : 0;
    return 2;
  });
  return s.sort((x, y) => y - x);
}

const SHAPES: [number, number][] = [[1, 9], [9, 1], [5, 5], [7, 13], [13, 7], [16, 24], [24, 16], [3, 40]];
const KINDS: Spectrum[] = ['spread', 'ill-conditioned', 'rank-deficient', 'flat'];

describe('singularValues (cyclic Jacobi on the Gram matrix)', () => {
  it('finds the eigenvalues of a 2x2 symmetric matrix and the spectra matrices are built with', () => {
    const e = symmetricEigenvalues([2, 1, 1, 2], 2);
    expect(e[0]).toBeCloseTo(3, 14);
    expect(e[1]).toBeCloseTo(1, 14);
    const seed = freshSeed();
    const r = rng(seed);
    for (const [rows, cols] of [[6, 4], [4, 6], [12, 12]] as const) {
      const sigma = spectrum('spread', Math.min(rows, cols), r);
      const got = singularValues(withSpectrum(rows, cols, sigma, r), rows, cols);
      got.forEach((v, i) => expect(Math.abs(v - sigma[i]), `seed ${seed} ${rows}x${cols} σ${i}`).toBeLessThan(1e-10));
    }
  });
});

describe('newtonSchulz5Ref', () => {
  it('maps every singular value σ to p⁵(σ / (‖G‖_F + eps)), for tall, wide, ill-conditioned and rank-deficient G', () => {
    const seed = freshSeed();
    const r = rng(seed);
    for (const [rows, cols] of SHAPES) {
      for (const kind of KINDS) {
        const sigma = spectrum(kind, Math.min(rows, cols), r);
        const norm = Math.hypot(...sigma);
        const got = singularValues(newtonSchulz5Ref(withSpectrum(rows, cols, sigma, r), rows, cols), rows, cols);
        // p⁵ is not monotone: compare the two spectra sorted.
        const want = sigma.map((s) => p5(s / (norm + NS5_EPS))).sort((x, y) => y - x);
        got.forEach((v, i) => expect(Math.abs(v - want[i]), `seed ${seed} ${rows}x${cols} ${kind} value ${i}`).toBeLessThan(1e-6));
      }
    }
  });

  it(`lands singular values with σ/‖G‖ ≥ ${BAND.inBand} in [${BAND.lo}, ${BAND.hi}], never above ${BAND.top}, zeros at zero`, () => {
    const seed = freshSeed();
    const r = rng(seed);
    const seen = { lo: Infinity, hi: 0, top: 0, count: 0 };
    for (let trial = 0; trial < 3; trial++) {
      for (const [rows, cols] of SHAPES) {
        for (const kind of KINDS) {
          const k = Math.min(rows, cols);
          const sigma = spectrum(kind, k, r);
          const norm = Math.hypot(...sigma);
          const out = singularValues(newtonSchulz5Ref(withSpectrum(rows, cols, sigma, r), rows, cols), rows, cols);
          const where = `seed ${seed} ${rows}x${cols} ${kind}`;
          // p⁵ is not monotone: pair the descending outputs with the σ whose images, sorted, they are.
          const pairs = sigma.map((s, i) => [s / norm, p5(s / norm), i] as const).sort((x, y) => y[1] - x[1]);
          pairs.forEach(([s, , i], j) => {
            const v = out[j];
            seen.top = Math.max(seen.top, v);
            expect(v, `${where} σ${i}`).toBeLessThanOrEqual(BAND.top + 1e-9);
            if (s === 0) expect(v, `${where} zero σ${i}`).toBeLessThan(1e-6);
            if (s >= BAND.aboveLo) expect(v, `${where} σ${i} (s ${s})`).toBeGreaterThanOrEqual(BAND.lo);
            if (s >= BAND.inBand) {
              expect(v, `${where} σ${i} (s ${s})`).toBeLessThanOrEqual(BAND.hi + 1e-9);
              seen.lo = Math.min(seen.lo, v);
              seen.hi = Math.max(seen.hi, v);
              seen.count++;
            }
          });
        }
      }
    }
    // The band is not loose: the random matrices reach close to both of its ends.
    expect(seen.count).toBeGreaterThan(300);
    expect(seen.lo, `seed ${seed}`).toBeLessThan(0.72);
    expect(seen.hi, `seed ${seed}`).toBeGreaterThan(1.08);
  });

  it('gives on a tall G the transpose of its result on Gᵀ (the transposition path)', () => {
    const seed = freshSeed();
    const r = rng(seed);
    for (const [rows, cols] of [[13, 7], [9, 1], [24, 16]] as const) {
      const g = Float64Array.from({ length: rows * cols }, () => r() - 0.5);
      const direct = newtonSchulz5Ref(g, rows, cols);
      const viaT = transpose(newtonSchulz5Ref(transpose(g, rows, cols), cols, rows), cols, rows);
      // Equal up to the order of the norm's sum (G and Gᵀ list their elements in different orders).
      direct.forEach((v, i) => expect(Math.abs(v - viaT[i]), `seed ${seed} ${rows}x${cols} [${i}]`).toBeLessThan(1e-13));
    }
  });

  it('keeps a vector\'s direction, scaled by p⁵(‖g‖/(‖g‖ + eps)), and maps zero to zero without NaN', () => {
    const g = [3, -4];
    const out = newtonSchulz5Ref(g, 1, 2);
    const f = p5(5 / (5 + NS5_EPS));
    expect(out[0]).toBeCloseTo((f * 3) / 5, 12);
    expect(out[1]).toBeCloseTo((f * -4) / 5, 12);
    expect(Array.from(newtonSchulz5Ref([3, -4], 2, 1))).toEqual(Array.from(out));
    expect(Array.from(newtonSchulz5Ref(new Float64Array(12), 3, 4))).toEqual(new Array(12).fill(0));
  });
});

describe('newtonSchulzFlops', () => {
  it('counts 5 × (A = X·Xᵀ, A·A, B·X) with r = min and c = max of the sides', () => {
    // 7x13: r = 7, c = 13: 5 · (2·7·7·13 + 2·7·7·7 + 2·7·7·13) = 5 · (1274 + 686 + 1274)
    expect(newtonSchulzFlops(7, 13)).toBe(16170);
    expect(newtonSchulzFlops(13, 7)).toBe(16170);
    expect(newtonSchulzFlops(256, 256)).toBe(5 * 6 * 256 ** 3);
    expect(newtonSchulzFlops(128, 512)).toBe(5 * (4 * 128 * 128 * 512 + 2 * 128 ** 3));
    expect(newtonSchulzFlops(1, 16)).toBe(5 * (2 * 16 + 2 + 2 * 16));
  });
});

describe('muonStepRef', () => {
  const h = { lr: 0.1, momentum: 0.5, weightDecay: 0.5 };
  const init = () => ({ params: Float64Array.from({ length: 8 }, (_, i) => i + 1), momentum: Float64Array.from([9, 9, 9, 0.2, -0.1, 9, 9, 9]) });
  const grads = [7, 7, 7, 3, 4, 7, 7, 7];

  for (const [rows, cols] of [[1, 2], [2, 1]] as const) {
    it(`matches a step worked by hand on a ${rows}x${cols} region at float 3, leaving the rest alone`, () => {
      const r = muonStepRef(init(), grads, { offset: 3, rows, cols }, h);
      // m = 0.5·(0.2, −0.1) + (3, 4) = (3.1, 3.95); u = g + 0.5·m = (4.55, 5.975); O = p⁵(s)·u/‖u‖.
      expect(r.momentum[3]).toBeCloseTo(3.1, 14);
      expect(r.momentum[4]).toBeCloseTo(3.95, 14);
      const norm = Math.hypot(4.55, 5.975);
      const f = p5(norm / (norm + NS5_EPS));
      const scale = cols > rows ? Math.SQRT2 : 1; // √max(1, fan_out/fan_in), W stored (in, out)
      expect(muonScale(rows, cols)).toBeCloseTo(scale, 15);
      expect(r.params[3]).toBeCloseTo(4 - 0.1 * 0.5 * 4 - 0.1 * scale * f * (4.55 / norm), 12);
      expect(r.params[4]).toBeCloseTo(5 - 0.1 * 0.5 * 5 - 0.1 * scale * f * (5.975 / norm), 12);
      for (const i of [0, 1, 2, 5, 6, 7]) {
        expect(r.params[i]).toBe(i + 1);
        expect(r.momentum[i]).toBe(9);
      }
    });
  }
});

describe('validation, before anything is allocated', () => {
  // A device with WebGPU's default binding limit and nothing else: a constructor that got past its checks would
  // call a missing method and fail with a TypeError instead of the error expected.
  const gpu = { limits: { maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 28 } } as unknown as Gpu;
  const thrown = (f: () => unknown): Error => {
    try {
      f();
    } catch (e) {
      return e as Error;
    }
    throw new Error('did not throw');
  };

  it('rejects bad shapes (ShapeError) and matrices past the binding limit (LimitExceededError naming the side to shrink)', () => {
    expect(() => new NewtonSchulz5(gpu, { rows: 0, cols: 4 })).toThrow(new ShapeError('newton-schulz: rows must be an integer >= 1, got 0'));
    expect(() => new NewtonSchulz5(gpu, { rows: 3, cols: 2.5 })).toThrow('newton-schulz: cols must be an integer >= 1, got 2.5');
    const e = thrown(() => new NewtonSchulz5(gpu, { rows: 1024, cols: 65536 }));
    expect(e).toBeInstanceOf(LimitExceededError);
    expect((e as LimitExceededError).field).toBe('cols');
    expect(e.message).toBe('newton-schulz: a 1024x65536 matrix needs 268435456 bytes; this device binds at most 134217728; shrink cols');
  });

  it('rejects regions outside the buffers, a shared NS5 of another shape and bad hyper-parameters', () => {
    const region = { name: 'h0.attn.w', offset: 90, rows: 3, cols: 4 };
    expect(() => new MuonStep(gpu, { n: 100, region })).toThrow("muon: 'h0.attn.w' (3x4 at float 90) ends at float 102, past the buffers' 100");
    expect(() => new MuonStep(gpu, { n: 100, region: { offset: -1, rows: 3, cols: 4 } })).toThrow('muon: the region offset must be a non-negative integer, got -1');
    expect(() => new MuonStep(gpu, { n: 100, region: { offset: 0, rows: 0, cols: 4 } })).toThrow('muon region: rows must be an integer >= 1, got 0');
    const other = { rows: 4, cols: 3 } as NewtonSchulz5;
    expect(() => new MuonStep(gpu, { n: 200, region, newtonSchulz: other })).toThrow("muon: the shared NewtonSchulz5 is 4x3 but 'h0.attn.w' is 3x4");
    expect(() => new MuonStep(gpu, { n: 200, region, hyper: { momentum: 1 } })).toThrow('muon: momentum must be in [0, 1), got 1');
    expect(() => new MuonStep(gpu, { n: 200, region, hyper: { lr: -1 } })).toThrow('muon: lr must be a finite number ≥ 0, got -1');
    expect(() => new MuonStep(gpu, { n: 200, region, hyper: { weightDecay: NaN } })).toThrow('muon: weightDecay must be a finite number ≥ 0, got NaN');
  });
});
