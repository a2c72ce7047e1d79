import { describe, expect, it } from 'vitest';
import { attentionBackwardRef, attentionForwardRef, attentionRowDotRef, type AttentionDims } from '../reference/attention';
import { expectClose, finiteDifference } from '../util/compare';
import { randn } from '../util/random';

/** The reference checked on its own: finite differences, and properties any causal GQA attention has. */
describe('attention reference', () => {
  const shapes: AttentionDims[] = [
    { B: 1, T: 1, NH: 1, NKV: 1, HS: 3 },
    { B: 2, T: 5, NH: 2, NKV: 2, HS: 3 },
    { B: 1, T: 6, NH: 4, NKV: 2, HS: 4 },
    { B: 2, T: 4, NH: 3, NKV: 1, HS: 2, scale: 0.7 },
  ];

  it.each(shapes)('backward matches finite differences of sum(dy * y) (%o)', (d) => {
    const nq = d.B * d.T * d.NH * d.HS;
    const nkv = d.B * d.T * d.NKV * d.HS;
    const q = Float64Array.from(randn(nq, 1));
    const k = Float64Array.from(randn(nkv, 2));
    const v = Float64Array.from(randn(nkv, 3));
    const dy = Float64Array.from(randn(nq, 4));
    const loss = () => attentionForwardRef(q, k, v, d).y.reduce((s, y, i) => s + y * dy[i], 0);
    const grads = attentionBackwardRef(q, k, v, dy, d);
    for (const [name, x, g] of [['dq', q, grads.dq], ['dk', k, grads.dk], ['dv', v, grads.dv]] as const) {
      const idx = Array.from({ length: x.length }, (_, i) => i);
      const fd = finiteDifference(loss, x, idx, 1e-6);
      expectClose(name, idx.map((i) => g[i]), idx.map((i) => fd.get(i)!), 1e-7);
    }
  });

  it('T=1 returns v and lse = scale q·k', () => {
    const d: AttentionDims = { B: 1, T: 1, NH: 2, NKV: 1, HS: 3 };
    const q = [1, 2, 3, -1, 0, 1];
    const k = [0.5, -1, 2];
    const v = [4, 5, 6];
    const { y, lse } = attentionForwardRef(q, k, v, d);
    expect(Array.from(y)).toEqual([4, 5, 6, 4, 5, 6]);
    expectClose('lse', lse, [(0.5 - 2 + 6) / Math.sqrt(3), (-0.5 + 2) / Math.sqrt(3)], 1e-15);
  });

  it('is causal: changing a later key or value leaves earlier outputs alone', () => {
    const d: AttentionDims = { B: 1, T: 5, NH: 2, NKV: 1, HS: 4 };
    const q = randn(40, 5);
    const k = randn(20, 6);
    const v = randn(20, 7);
    const before = attentionForwardRef(q, k, v, d).y;
    k[3 * 4 + 1] += 1; // token 3
    v[3 * 4 + 2] += 1;
    const after = attentionForwardRef(q, k, v, d).y;
    expect(Array.from(after.subarray(0, 3 * 8))).toEqual(Array.from(before.subarray(0, 3 * 8)));
    expect(after[3 * 8]).not.toEqual(before[3 * 8]);
  });

  it('grouped-query heads equal full heads with kv repeated, and dk, dv sum over the group', () => {
    const gqa: AttentionDims = { B: 2, T: 4, NH: 4, NKV: 2, HS: 3 };
    const mha: AttentionDims = { ...gqa, NKV: 4 };
    const q = randn(2 * 4 * 4 * 3, 8);
    const k = randn(2 * 4 * 2 * 3, 9);
    const v = randn(2 * 4 * 2 * 3, 10);
    const dy = randn(2 * 4 * 4 * 3, 11);
    // repeat kv head g for query heads 2g and 2g+1: (B, T, NKV, HS) -> (B, T, NH, HS)
    const repeat = (x: Float32Array) => {
      const out = new Float64Array(2 * 4 * 4 * 3);
      for (let bt = 0; bt < 8; bt++) for (let h = 0; h < 4; h++) for (let c = 0; c < 3; c++) out[(bt * 4 + h) * 3 + c] = x[(bt * 2 + (h >> 1)) * 3 + c];
      return out;
    };
    const a = attentionForwardRef(q, k, v, gqa);
    const b = attentionForwardRef(q, repeat(k), repeat(v), mha);
    expectClose('y', a.y, b.y, 1e-14);
    expectClose('lse', a.lse, b.lse, 1e-14);
    const ga = attentionBackwardRef(q, k, v, dy, gqa);
    const gb = attentionBackwardRef(q, repeat(k), repeat(v), dy, mha);
    const sumPairs = (x: Float64Array) => {
      const out = new Float64Array(2 * 4 * 2 * 3);
      for (let bt = 0; bt < 8; bt++) for (let h = 0; h < 4; h++) for (let c = 0; c < 3; c++) out[(bt * 2 + (h >> 1)) * 3 + c] += x[(bt * 4 + h) * 3 + c];
      return out;
    };
    expectClose('dq', ga.dq, gb.dq, 1e-14);
    expectClose('dk', ga.dk, sumPairs(gb.dk), 1e-14);
    expectClose('dv', ga.dv, sumPairs(gb.dv), 1e-14);
  });

  it('row dot D = dy·y equals Σ_j P_ij dP_ij', () => {
    const d: AttentionDims = { B: 1, T: 3, NH: 2, NKV: 2, HS: 2 };
    const dy = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    const y = [1, 0, 0, 1, 1, 1, 2, 0, 0, 2, 1, -1];
    // row (b=0, t, h) sits at (t * NH + h) * HS; D is (B, NH, T)
    expect(Array.from(attentionRowDotRef(dy, y, d))).toEqual([1, 11, 20, 4, 14, -1]);
  });

  it('decoding: the last T of Tk queries, against a larger cache, equal the tail of the full sequence', () => {
    const full: AttentionDims = { B: 2, T: 6, NH: 2, NKV: 1, HS: 3 };
    const q = randn(2 * 6 * 2 * 3, 12);
    const k = randn(2 * 6 * 1 * 3, 13);
    const v = randn(2 * 6 * 1 * 3, 14);
    const ref = attentionForwardRef(q, k, v, full);
    // queries 4, 5 of each batch; k, v copied into a cache of 8 rows per batch (rows 6, 7 garbage)
    const dec: AttentionDims = { ...full, T: 2, Tk: 6, kvRows: 8 };
    const qd = new Float64Array(2 * 2 * 2 * 3);
    const kc = new Float64Array(2 * 8 * 3).fill(1e3);
    const vc = new Float64Array(2 * 8 * 3).fill(-1e3);
    for (let b = 0; b < 2; b++) {
      qd.set(q.subarray((b * 6 + 4) * 6, (b * 6 + 6) * 6), b * 2 * 6);
      kc.set(k.subarray(b * 18, b * 18 + 18), b * 24);
      vc.set(v.subarray(b * 18, b * 18 + 18), b * 24);
    }
    const out = attentionForwardRef(qd, kc, vc, dec);
    for (let b = 0; b < 2; b++) {
      expectClose('y', out.y.subarray(b * 12, b * 12 + 12), ref.y.subarray((b * 6 + 4) * 6, (b * 6 + 6) * 6), 1e-14);
      for (let h = 0; h < 2; h++) expectClose('lse', out.lse.subarray((b * 2 + h) * 2, (b * 2 + h) * 2 + 2), ref.lse.subarray((b * 2 + h) * 6 + 4, (b * 2 + h) * 6 + 6), 1e-14);
    }
  });

  it('rejects NH not divisible by NKV', () => {
    expect(() => attentionForwardRef([], [], [], { B: 1, T: 1, NH: 3, NKV: 2, HS: 1 })).toThrow(/not divisible/);
  });
});
