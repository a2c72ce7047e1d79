// The autotuner on the browser's adapter: it measures every choice, keeps the fastest, stores it per adapter and
// takes it back from the store (a damaged record is measured again), kernels built afterwards use it, and a
// candidate whose result is wrong on the device is never picked. On SwiftShader, where a barrier costs about as
// much as a row, it must find what was measured by hand before (one invocation per norm row, few reduce partials).
import { describe, expect, it } from 'vitest';
import { requestGpu, type Gpu } from '../../src/gpu/device';
import { race, tuneKernels, type Candidate, type TuningStore } from '../../src/kernels/autotune';
import { Matmul } from '../../src/kernels/matmul';
import { Reduce, reducePartition } from '../../src/kernels/reduce';
import { choicesOf, tuningKey, type KernelTuning } from '../../src/kernels/tuning';

function memoryStore(): TuningStore & { map: Map<string, unknown> } {
  const map = new Map<string, unknown>();
  return { map, load: async (k) => map.get(k) ?? null, save: async (k, t) => void map.set(k, structuredClone(t)), clear: async () => map.clear() };
}

const fresh = (): Promise<Gpu> => requestGpu({ onError: (e) => console.error(e.message) });

describe('autotune', () => {
  it('measures each choice, stores it, takes it back from the store, and measures again when forced or damaged', async () => {
    const store = memoryStore();
    const gpu = await fresh();
    try {
      const progress: number[] = [];
      const t = await tuneKernels(gpu, { store, onProgress: (d, n) => progress.push(d / n) });
      expect(progress).toEqual([0, 0.25, 0.5, 0.75, 1]);
      expect(t.cached).toBeUndefined();
      expect(t.measured.map((m) => m.op)).toEqual(['matmul-large', 'matmul-small', 'norm', 'reduce']);
      for (const m of t.measured) {
        const live = m.candidates.filter((c) => c.ms !== null);
        expect(live.length, m.op).toBeGreaterThanOrEqual(1);
        for (const c of live) expect(c.ms! > 0 && Number.isFinite(c.ms!), `${m.op} ${c.name}`).toBe(true);
        const best = Math.min(...live.map((c) => c.ms!));
        const picked = m.candidates.find((c) => c.name === m.pick)!.ms!;
        // the fastest, or for small matmuls the large ones' tiling within 5% of the fastest
        if (m.op === 'matmul-small' && picked !== best) {
          expect(m.pick).toBe(t.measured[0]!.pick);
          expect(picked).toBeLessThanOrEqual(best / 0.95);
        } else expect(picked, m.op).toBe(best);
      }
      expect(choicesOf(gpu)).toBe(t.choices);
      expect(store.map.get(tuningKey(gpu))).toEqual(t);
      expect(await tuneKernels(gpu, { store }), 'the device keeps its tuning').toBe(t);

      // another device on the same adapter: from the store, nothing measured
      const other = await fresh();
      const calls: number[] = [];
      const again = await tuneKernels(other, { store, onProgress: (d) => calls.push(d) });
      expect(again.cached).toBe(true);
      expect(again.choices).toEqual(t.choices);
      expect(calls).toEqual([]);
      // kernels built on it take the stored choices
      const mm = new Matmul(other, { M: 512, N: 128, K: 64 });
      expect(mm.tiling).toEqual(t.choices.matmul.small);
      const red = new Reduce(other, { n: 2 ** 20, op: 'sumsq' });
      expect(red.partialCount).toBe(reducePartition(2 ** 20, t.choices.reduceMaxPartials).partials);
      mm.destroy();
      red.destroy();
      other.destroy();

      // a damaged record is not trusted: measured again and replaced
      const third = await fresh();
      store.map.set(tuningKey(third), { ...t, choices: { ...t.choices, reduceMaxPartials: -1 } });
      const remeasured = await tuneKernels(third, { store });
      expect(remeasured.cached).toBeUndefined();
      expect((store.map.get(tuningKey(third)) as KernelTuning).choices.reduceMaxPartials).toBeGreaterThan(0);
      // forced: measured again even though the device has one
      const forced = await tuneKernels(third, { store, force: true });
      expect(forced).not.toBe(remeasured);
      expect(forced.tunedAt).toBeGreaterThanOrEqual(remeasured.tunedAt);
      third.destroy();

      // a store that fails costs only the storing: the tuning is still used
      const broken: TuningStore = { load: () => Promise.reject(new Error('no storage')), save: () => Promise.reject(new Error('full')), clear: async () => undefined };
      const fourth = await fresh();
      const failures: unknown[] = [];
      const kept = await tuneKernels(fourth, { store: broken, onStoreError: (e) => failures.push(e) });
      expect(failures).toHaveLength(2);
      expect(choicesOf(fourth)).toBe(kept.choices);
      fourth.destroy();

      if (gpu.adapter.architecture === 'swiftshader') {
        // measured by hand before (norm.ts, reduce.ts): ~35× and ~20× apart there
        expect(t.choices.norm).toBe('row');
        expect(t.choices.reduceMaxPartials).toBeLessThan(1024);
      }
    } finally {
      gpu.destroy();
    }
  }, 180_000);

  it('never picks a candidate whose result is wrong, however fast, and refuses when every one is', async () => {
    const gpu = await fresh();
    try {
      const cand = (name: string, ok: boolean, spin: number): Candidate => ({
        name,
        make: (g) => {
          const buf = g.createBuffer(4 * 1024, name);
          const k = new Reduce(g, { n: 1024 * spin, op: 'sum' });
          const x = g.createBuffer(4 * 1024 * spin, `${name} x`);
          return { encode: (pass) => k.encode(pass, x, buf), destroy: () => { g.release(buf); g.release(x); k.destroy(); }, check: async () => ok };
        },
      });
      const r = await race(gpu, [cand('slow but right', true, 256), cand('fast but wrong', false, 1)]);
      expect(r.wrong).toEqual([false, true]);
      expect(r.ms[1]).toBeNull();
      expect(r.pick).toBe(0);
      // a preferred candidate gives way only to a clearly faster one
      const slowFirst = await race(gpu, [cand('slow', true, 256), cand('fast', true, 1)], 0);
      expect(slowFirst.ms[0] === null || slowFirst.ms[1]! < 0.95 * slowFirst.ms[0]).toBe(true); // dropped (over 2×) or clearly slower
      expect(slowFirst.pick).toBe(1);
      // identical candidates: the preferred one stays unless the other won every round by the margin
      const tie = await race(gpu, [cand('a', true, 1), cand('b', true, 1)], 1);
      if (tie.ms[0]! > 0.95 * tie.ms[1]!) expect(tie.pick).toBe(1);
      await expect(race(gpu, [cand('wrong', false, 1), cand('also wrong', false, 1)])).rejects.toThrow(/every candidate gave a wrong result/);
      expect(gpu.allocatedBytes).toBe(0); // every candidate's buffers released, on both paths
    } finally {
      gpu.destroy();
    }
  });
});
