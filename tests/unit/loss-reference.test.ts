import { describe, expect, it } from 'vitest';
import { crossEntropyObjective, crossEntropyRef, IGNORE_INDEX, type CrossEntropyRefInput } from '../reference/loss';
import { expectClose, finiteDifference } from '../util/compare';
import { randint, randn, randu } from '../util/random';

/** Rows of non-negative soft targets that sum to 1 (or to `total`). */
function softTargets(N: number, V: number, seed: number, total = 1): Float64Array {
  const u = randu(N * V, seed);
  const out = new Float64Array(N * V);
  for (let i = 0; i < N; i++) {
    let s = 0;
    for (let j = 0; j < V; j++) s += u[i * V + j];
    for (let j = 0; j < V; j++) out[i * V + j] = (total * u[i * V + j]) / s;
  }
  return out;
}

type Mode = 'hard' | 'hard+weights' | 'soft' | 'soft+weights';
function input(mode: Mode, N: number, V: number, seed: number): CrossEntropyRefInput & { logits: Float64Array } {
  const logits = Float64Array.from(randn(N * V, seed, 2));
  const x: CrossEntropyRefInput & { logits: Float64Array } = { logits, rows: N, vocab: V, gradScale: 0.37 };
  if (mode.startsWith('hard')) {
    const t = randint(N, seed + 1, V);
    if (N > 2) t[1] = IGNORE_INDEX;
    x.targets = t;
  } else {
    x.soft = softTargets(N, V, seed + 1, 0.9); // deliberately not summing to 1: the gradient must stay exact
  }
  if (mode.endsWith('weights')) x.weights = randn(N, seed + 2); // negative weights included
  return x;
}

describe('cross-entropy reference', () => {
  it.each<[Mode, number, number]>([
    ['hard', 4, 7],
    ['hard+weights', 5, 3],
    ['soft', 3, 7],
    ['soft+weights', 4, 5],
    ['hard', 1, 1],
    ['soft', 2, 1],
  ])('%s N=%i V=%i: backward matches finite differences', (mode, N, V) => {
    const x = input(mode, N, V, 1234 + N * 31 + V);
    const { dlogits } = crossEntropyRef(x);
    const fd = finiteDifference(() => crossEntropyObjective(x), x.logits, dlogits.keys(), 1e-6);
    const numeric = Float64Array.from(dlogits.keys(), (i) => fd.get(i)!);
    expectClose(`${mode} dlogits vs finite differences`, dlogits, numeric, 1e-6);
  });

  it('uniform logits give log V; V = 1 gives 0; the one-hot soft target equals the hard target', () => {
    const V = 7;
    const r = crossEntropyRef({ logits: new Float64Array(2 * V).fill(3), rows: 2, vocab: V, targets: [0, 6] });
    expect(r.losses[0]).toBeCloseTo(Math.log(V), 12);
    expect(r.entropy[1]).toBeCloseTo(Math.log(V), 12);
    expect(r.maxProb[0]).toBeCloseTo(1 / V, 12);
    expect(crossEntropyRef({ logits: [5], rows: 1, vocab: 1, targets: [0] }).losses[0]).toBeCloseTo(0, 15);
    const z = randn(3 * V, 9);
    const t = [2, 0, 6];
    const oneHot = new Float64Array(3 * V);
    t.forEach((c, i) => (oneHot[i * V + c] = 1));
    const hard = crossEntropyRef({ logits: z, rows: 3, vocab: V, targets: t, gradScale: 0.5 });
    const soft = crossEntropyRef({ logits: z, rows: 3, vocab: V, soft: oneHot, gradScale: 0.5 });
    expectClose('soft one-hot losses', soft.losses, hard.losses, 1e-14);
    expectClose('soft one-hot dlogits', soft.dlogits, hard.dlogits, 1e-14);
  });

  it('ignored rows give 0; out-of-range targets give NaN loss and 0 gradient; extreme logits stay finite', () => {
    const V = 4;
    const z = [1e4, -1e4, 0, 1e4 - 1, /* row 1 */ 1, 2, 3, 4, /* row 2 */ 1, 2, 3, 4];
    const r = crossEntropyRef({ logits: z, rows: 3, vocab: V, targets: [1, IGNORE_INDEX, V] });
    expect(r.losses[0]).toBeCloseTo(2e4 + Math.log1p(Math.exp(-1)), 6);
    expect(Number.isFinite(r.dlogits[1])).toBe(true);
    expect(r.losses[1]).toBe(0);
    expect(Number.isNaN(r.losses[2])).toBe(true);
    expect([...r.dlogits.subarray(V)].every((g) => g === 0)).toBe(true);
  });

  it('weights multiply loss and gradient, including negative ones', () => {
    const x = input('hard', 4, 6, 77);
    const base = crossEntropyRef(x);
    const w = [2, -0.5, 0, 1];
    const weighted = crossEntropyRef({ ...x, weights: w });
    for (let i = 0; i < 4; i++) {
      expect(weighted.losses[i]).toBeCloseTo(w[i] * base.losses[i], 12);
      for (let j = 0; j < 6; j++) expect(weighted.dlogits[i * 6 + j]).toBeCloseTo(w[i] * base.dlogits[i * 6 + j], 12);
    }
  });
});
