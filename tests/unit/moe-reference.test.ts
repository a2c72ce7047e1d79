import { describe, expect, it } from 'vitest';
import { expertCapacity } from '../../src/kernels/moe';
import {
  moeAssignRef,
  moeCombineBackwardRef,
  moeCombineRef,
  moeDispatchBackwardRef,
  moeDispatchRef,
  moeLayerBackwardRef,
  moeLayerForwardRef,
  moeRouterBackwardRef,
  moeRouterRef,
  NO_SLOT,
  type MoeDims,
} from '../reference/moe';
import { expectClose, finiteDifference } from '../util/compare';
import { randn } from '../util/random';

const all = (n: number) => Array.from({ length: n }, (_, i) => i);
const f64 = (n: number, seed: number, scale = 1) => Float64Array.from(randn(n, seed, scale));
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const dims = (N: number, C: number, E: number, K: number, cf = 1.25): MoeDims => ({ N, C, E, K, cap: expertCapacity(N, K, E, cf) });

/** The MoE references checked on their own: hand-worked routing cases and finite differences. */
describe('moe reference', () => {
  it('capacity is ceil(cf · N · K / E), clamped to [1, N]', () => {
    expect(expertCapacity(1024, 2, 8, 1.25)).toBe(320);
    expect(expertCapacity(100, 1, 10, 1.1)).toBe(11);
    expect(expertCapacity(37, 2, 3, 1)).toBe(25);
    expect(expertCapacity(5, 1, 1, 2)).toBe(5);
    expect(expertCapacity(1, 1, 64, 0.5)).toBe(1);
  });

  it('router: top-k by logit, ties to the lowest index, k=2 gates renormalised, k=1 gate raw', () => {
    const d = dims(3, 1, 4, 2);
    const logits = [0, 0, 0, 0, 1, 3, 3, 2, -1, 5, -1, 5];
    const r = moeRouterRef(logits, d, true);
    expect(Array.from(r.expertIndex)).toEqual([0, 1, 1, 2, 1, 3]);
    expectClose('gates', r.gates, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], 1e-15);
    const r1 = moeRouterRef(logits, { ...d, K: 1 }, false);
    expect(Array.from(r1.expertIndex)).toEqual([0, 1, 1]);
    expectClose('raw gate', r1.gates, [0.25, r1.probs[5], r1.probs[9]], 1e-15);
  });

  it('assign: first choices before second choices, then token order; overflow dropped', () => {
    // 5 tokens, 2 experts, cap 3. Choices (first, second) per token.
    const choices = [[0, 1], [1, 0], [0, 1], [0, 1], [0, 1]];
    const d: MoeDims = { N: 5, C: 1, E: 2, K: 2, cap: 3 };
    const a = moeAssignRef(choices.flat(), new Float64Array(10).fill(0.5), d);
    // Expert 0: first choices of tokens 0,2,3 fill it; token 4's first and token 1's second choice are dropped.
    // Expert 1: token 1's first choice, then second choices of tokens 0, 2; tokens 3, 4 dropped.
    const X = NO_SLOT;
    expect(Array.from(a.slots)).toEqual([0, 1, 0, X, 1, 2, 2, X, X, X]);
    expect(Array.from(a.slotSource)).toEqual([0, 4, 6, 2, 1, 5]);
    expect(Array.from(a.load)).toEqual([5, 5]);
    expect(Array.from(a.kept)).toEqual([3, 3]);
    expect(Array.from(a.firstChoice)).toEqual([4, 1]);
    expect(a.dropped).toBe(4);
    expectClose('aux', [a.auxLoss], [2 * ((4 / 5) * 0.5 + (1 / 5) * 0.5)], 1e-15);
  });

  const cases: [string, MoeDims, boolean][] = [
    ['E=1 k=1', dims(4, 3, 1, 1), false],
    ['E=3 k=1 raw gate', dims(7, 3, 3, 1), false],
    ['E=3 k=1 normalised', dims(7, 3, 3, 1), true],
    ['E=3 k=2 normalised', dims(7, 3, 3, 2), true],
    ['E=4 k=2 raw gates', dims(9, 2, 4, 2, 0.5), false],
    ['E=64 k=2 overflow', dims(6, 2, 64, 2, 0.1), true],
  ];

  it.each(cases)('router backward matches finite differences through gates, softmax and aux loss (%s)', (_, d, normalize) => {
    const auxWeight = 0.3;
    const logits = f64(d.N * d.E, 11, 2);
    const w = f64(d.N * d.K, 12);
    const base = moeRouterRef(logits, d, normalize);
    const loss = () => {
      const r = moeRouterRef(logits, d, normalize);
      expect(Array.from(r.expertIndex)).toEqual(Array.from(base.expertIndex));
      return dot(w, r.gates) + auxWeight * moeAssignRef(r.expertIndex, r.probs, d).auxLoss;
    };
    const first = moeAssignRef(base.expertIndex, base.probs, d).firstChoice;
    const g = moeRouterBackwardRef(w, base.probs, base.expertIndex, first, d, normalize, auxWeight);
    const fd = finiteDifference(loss, logits, all(logits.length), 1e-6);
    expectClose('dLogits', g, all(logits.length).map((i) => fd.get(i)!), 1e-6);
  });

  it.each(cases)('combine and dispatch backward match finite differences (%s)', (_, d, normalize) => {
    const r = moeRouterRef(f64(d.N * d.E, 21), d, normalize);
    const a = moeAssignRef(r.expertIndex, r.probs, d);
    const expertOut = f64(d.E * d.cap * d.C, 22);
    const gates = Float64Array.from(r.gates);
    const dy = f64(d.N * d.C, 23);
    const loss = () => dot(dy, moeCombineRef(expertOut, r.expertIndex, a.slots, gates, d));
    const g = moeCombineBackwardRef(dy, expertOut, r.expertIndex, a.slots, gates, d);
    const fdOut = finiteDifference(loss, expertOut, all(expertOut.length));
    expectClose('dExpertOut', g.dExpertOut, all(expertOut.length).map((i) => fdOut.get(i)!), 1e-8);
    const fdGates = finiteDifference(loss, gates, all(gates.length));
    expectClose('dGates', g.dGates, all(gates.length).map((i) => fdGates.get(i)!), 1e-8);

    const x = f64(d.N * d.C, 24);
    const dd = f64(d.E * d.cap * d.C, 25);
    const dispatchLoss = () => dot(dd, moeDispatchRef(x, a.slotSource, d));
    const fdX = finiteDifference(dispatchLoss, x, all(x.length));
    expectClose('dx', moeDispatchBackwardRef(dd, r.expertIndex, a.slots, d), all(x.length).map((i) => fdX.get(i)!), 1e-8);
  });

  it.each(cases)('whole layer backward matches finite differences (%s)', (name, d, normalize) => {
    const H = 5;
    const auxWeight = 0.2;
    // GELU for half the cases, SwiGLU ([gate | up], so W1 is (E, C, 2H)) for the others.
    const o = { H, normalize, activation: cases.findIndex((c) => c[0] === name) % 2 ? ('swiglu' as const) : ('gelu' as const) };
    const F = o.activation === 'swiglu' ? 2 * H : H;
    const x = f64(d.N * d.C, 31);
    const w = { wr: f64(d.C * d.E, 32), w1: f64(d.E * d.C * F, 33), w2: f64(d.E * H * d.C, 34) };
    const dy = f64(d.N * d.C, 35);
    const f = moeLayerForwardRef(x, w, d, o);
    const loss = () => {
      const g = moeLayerForwardRef(x, w, d, o);
      expect(Array.from(g.router.expertIndex)).toEqual(Array.from(f.router.expertIndex));
      return dot(dy, g.y) + auxWeight * g.assign.auxLoss;
    };
    const g = moeLayerBackwardRef(x, w, f, dy, d, o, auxWeight);
    for (const [name, v, grad] of [['dx', x, g.dx], ['dwr', w.wr, g.dwr], ['dw1', w.w1, g.dw1], ['dw2', w.w2, g.dw2]] as const) {
      const fd = finiteDifference(loss, v, all(v.length), 1e-6);
      expectClose(name, grad, all(v.length).map((i) => fd.get(i)!), 1e-6);
    }
  });
});
