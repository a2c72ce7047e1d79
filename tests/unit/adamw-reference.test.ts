/**
 * The AdamW reference against numbers worked by hand and against an independently written formulation.
 * A finite-difference check does not apply here: an optimizer step is not the gradient of anything, so there
 * is no function whose derivative it should match. Instead the reference is checked against (a) one step
 * computed by hand, (b) the closed form of the first step (m̂ = g, v̂ = g², so p₁ = p₀ − lr·(g/(|g|+eps) + λ·p₀)),
 * and (c) PyTorch's algebraically rearranged form (p ·= 1 − lr·λ; p −= (lr/bc1)·m / (sqrt(v)/sqrt(bc2) + eps)) over many steps.
 */
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device';
import { ShapeError } from '../../src/gpu/errors';
import { ADAMW_DEFAULTS, AdamW, buildBlockTable, type AdamWHyper, type ParamSegment } from '../../src/kernels/adamw';
import { adamwRef, type AdamWState } from '../reference/adamw';
import { randn } from '../util/random';

const hyper = (h: Partial<AdamWHyper>): AdamWHyper => ({ ...ADAMW_DEFAULTS, ...h });
const zeros = (n: number) => new Float64Array(n);

describe('adamwRef', () => {
  it('matches one step worked by hand (t = 2, decay on one tensor, clipping active)', () => {
    // Two tensors of one float each: A at 0 with decay, B at 64 without. grads (3, 4): norm 5, clipped to 1.
    const segments: ParamSegment[] = [{ offset: 0, length: 1, decay: true }, { offset: 64, length: 1, decay: false }];
    const params = zeros(65), m = zeros(65), v = zeros(65), grads = zeros(65);
    params[0] = 1; params[64] = -2;
    m[0] = 0.1; m[64] = 0.2;
    v[0] = 0.01; v[64] = 0.04;
    grads[0] = 3; grads[64] = 4;
    const h = hyper({ lr: 0.1, beta1: 0.5, beta2: 0.75, eps: 0, weightDecay: 0.5, maxNorm: 1, step: 2 });
    const r = adamwRef({ params, m, v }, grads, segments, h);
    // scale = 1/(5 + 1e-6) ≈ 0.2: g = (0.6, 0.8). bc1 = 1 − 0.25 = 0.75, bc2 = 1 − 0.5625 = 0.4375.
    const s = 1 / (5 + 1e-6);
    expect(r.scale).toBeCloseTo(s, 15);
    const gA = 3 * s, gB = 4 * s;
    const mA = 0.5 * 0.1 + 0.5 * gA, vA = 0.75 * 0.01 + 0.25 * gA * gA;
    const mB = 0.5 * 0.2 + 0.5 * gB, vB = 0.75 * 0.04 + 0.25 * gB * gB;
    expect(r.m[0]).toBeCloseTo(0.35, 6); // 0.05 + 0.3
    expect(r.v[0]).toBeCloseTo(0.0975, 6); // 0.0075 + 0.09
    expect(r.m[64]).toBeCloseTo(0.5, 6); // 0.1 + 0.4
    expect(r.v[64]).toBeCloseTo(0.19, 6); // 0.03 + 0.16
    // p_A = 1 − 0.1·((0.35/0.75)/sqrt(0.0975/0.4375) + 0.5·1) = 1 − 0.1·(0.988538 + 0.5) = 0.851146
    expect(r.params[0]).toBeCloseTo(0.851146, 5);
    expect(r.params[0]).toBeCloseTo(1 - 0.1 * (mA / 0.75 / Math.sqrt(vA / 0.4375) + 0.5), 12);
    // p_B (no decay) = −2 − 0.1·(0.5/0.75)/sqrt(0.19/0.4375) = −2 − 0.1·1.011628 = −2.101163
    expect(r.params[64]).toBeCloseTo(-2.101163, 5);
    expect(r.params[64]).toBeCloseTo(-2 - 0.1 * (mB / 0.75 / Math.sqrt(vB / 0.4375)), 12);
    expect(r.skipped).toBe(0);
  });

  it('first step is lr·g/(|g| + eps) plus decay (bias correction undoes the zero init)', () => {
    const n = 300;
    const segments: ParamSegment[] = [{ offset: 0, length: 100, decay: true }, { offset: 128, length: 172, decay: false }];
    const p0 = Float64Array.from(randn(n, 1));
    const g = Float64Array.from(randn(n, 2, 1e-3));
    for (const maxNorm of [0, 1e-3]) {
      const h = hyper({ lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-6, weightDecay: 0.1, maxNorm, step: 1 });
      const r = adamwRef({ params: p0, m: zeros(n), v: zeros(n) }, g, segments, h);
      const scale = maxNorm ? maxNorm / (Math.sqrt(g.reduce((s, x) => s + x * x, 0)) + 1e-6) : 1;
      expect(scale).toBeLessThanOrEqual(1);
      for (const s of segments) {
        for (let i = s.offset; i < s.offset + s.length; i++) {
          const gi = g[i] * scale;
          const want = p0[i] - 0.01 * (gi / (Math.abs(gi) + 1e-6) + (s.decay ? 0.1 : 0) * p0[i]);
          expect(Math.abs(r.params[i] - want)).toBeLessThan(1e-13);
        }
      }
      for (let i = 100; i < 128; i++) expect(r.params[i]).toBe(p0[i]); // padding untouched
    }
  });

  it("agrees with PyTorch's rearranged AdamW over 20 steps with clipping on and off", () => {
    const n = 200;
    const segments: ParamSegment[] = [{ offset: 0, length: 64, decay: false }, { offset: 64, length: 136, decay: true }];
    for (const maxNorm of [0, 0.05, 1e3]) {
      let ref: AdamWState = { params: Float64Array.from(randn(n, 3)), m: zeros(n), v: zeros(n) };
      const torch = { p: Float64Array.from(ref.params), m: zeros(n), v: zeros(n) };
      for (let t = 1; t <= 20; t++) {
        const g = Float64Array.from(randn(n, 100 + t, 0.01));
        const h = hyper({ lr: 3e-3 * (1 - t / 40), beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxNorm, step: t });
        ref = adamwRef(ref, g, segments, h);
        // independent: total norm, clip coefficient, then torch.optim.AdamW's update order
        const total = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
        const coef = maxNorm > 0 ? Math.min(1, maxNorm / (total + 1e-6)) : 1;
        const bc1 = 1 - 0.9 ** t, bc2 = 1 - 0.95 ** t;
        for (const s of segments) {
          for (let i = s.offset; i < s.offset + s.length; i++) {
            if (s.decay) torch.p[i] *= 1 - h.lr * 0.1;
            torch.m[i] = torch.m[i] * 0.9 + g[i] * coef * 0.1;
            torch.v[i] = torch.v[i] * 0.95 + (g[i] * coef) ** 2 * 0.05;
            const denom = Math.sqrt(torch.v[i]) / Math.sqrt(bc2) + 1e-8;
            torch.p[i] -= (h.lr / bc1) * (torch.m[i] / denom);
          }
        }
      }
      for (let i = 0; i < n; i++) {
        expect(Math.abs(ref.params[i] - torch.p[i]), `maxNorm ${maxNorm} [${i}]`).toBeLessThan(1e-12);
        expect(Math.abs(ref.m[i] - torch.m[i])).toBeLessThan(1e-15);
      }
    }
  });

  it('skips the whole step when the norm² is NaN or Inf', () => {
    const segments: ParamSegment[] = [{ offset: 0, length: 10, decay: true }];
    const state = { params: Float64Array.from(randn(10, 4)), m: Float64Array.from(randn(10, 5)), v: zeros(10).fill(1) };
    for (const bad of [NaN, Infinity]) {
      const g = Float64Array.from(randn(10, 6));
      g[3] = bad;
      const r = adamwRef(state, g, segments, hyper({ step: 5 }));
      expect(r.skipped).toBe(1);
      expect(Array.from(r.params)).toEqual(Array.from(state.params));
      expect(Array.from(r.m)).toEqual(Array.from(state.m));
      expect(Array.from(r.v)).toEqual(Array.from(state.v));
    }
  });
});

describe('buildBlockTable', () => {
  it('marks the used floats of each 64-float block and the decay bit, leaving padding blocks empty', () => {
    const t = buildBlockTable(400, [
      { offset: 0, length: 130, decay: true },
      { offset: 256, length: 1, decay: false },
      { offset: 320, length: 80, decay: true },
    ]);
    expect(Array.from(t)).toEqual([64 | 0x80, 64 | 0x80, 2 | 0x80, 0, 1, 64 | 0x80, 16 | 0x80]);
  });

  it.each<[number, ParamSegment[], RegExp]>([
    [100, [], /segments is empty/],
    [100, [{ offset: 10, length: 5, decay: true }], /starts at float 10, not a multiple of 64/],
    [100, [{ offset: 64, length: 40, decay: true }], /ends at float 104, past the buffer's 100/],
    [200, [{ offset: 0, length: 70, decay: true, name: 'wte' }, { offset: 64, length: 1, decay: false, name: 'ln' }], /'ln' \(from 64\) overlaps 'wte', which ends at 70/],
    [100, [{ offset: 0, length: 0, decay: true }], /length must be a positive integer/],
    [0, [{ offset: 0, length: 1, decay: true }], /n must be an integer/],
  ])('rejects n=%i %j', (n, segments, message) => {
    expect(() => buildBlockTable(n, segments)).toThrow(ShapeError);
    expect(() => buildBlockTable(n, segments)).toThrow(message);
  });
});

describe('AdamW hyper-parameter validation (no GPU needed)', () => {
  const noGpu = {} as Gpu;
  const segments: ParamSegment[] = [{ offset: 0, length: 4, decay: true }];
  it.each<[Partial<AdamWHyper>, RegExp]>([
    [{ lr: -1 }, /lr must be a finite number ≥ 0, got -1/],
    [{ beta1: 1 }, /beta1 must be in \[0, 1\)/],
    [{ beta2: NaN }, /beta2 must be in \[0, 1\)/],
    [{ eps: 0 }, /eps must be a finite number > 0/],
    [{ weightDecay: -0.1 }, /weightDecay must be/],
    [{ maxNorm: Infinity }, /maxNorm must be a finite number ≥ 0 \(0 turns clipping off\)/],
    [{ step: 0 }, /step must be an integer ≥ 1/],
  ])('rejects %j', (h, message) => {
    expect(() => new AdamW(noGpu, { n: 4, segments, hyper: h })).toThrow(message);
  });
});
