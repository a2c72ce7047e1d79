// A recipe's lower envelope in (FLOPs, loss) on hand-made curves, and its defining property on random ones.
import { describe, expect, it } from 'vitest';
import { lowerEnvelope, type Run } from '../../src/scaling/envelope';
import { ScalingFitError } from '../../src/scaling/fit';
import { randu } from '../util/random';

const curve = (...xy: [number, number][]): Run => ({ points: xy.map(([flops, loss]) => ({ flops, loss })) });
const pairs = (runs: Run[]): [number, number, number][] => lowerEnvelope(runs).map((p) => [p.flops, p.loss, p.run]);

describe('lowerEnvelope', () => {
  it('follows each of two crossing curves where it is lower, and drops a run that is never on the frontier', () => {
    const small = curve([1, 5], [2, 4], [4, 3.5], [8, 3.4], [16, 3.35]); // fast start, early plateau
    const large = curve([2, 6], [4, 4], [8, 3.2], [16, 2.9]); // slow start, lower end
    const never = curve([2, 4.5], [8, 3.6], [16, 3.3]); // above one of the others everywhere
    expect(pairs([small, large, never])).toEqual([
      [1, 5, 0],
      [2, 4, 0],
      [4, 3.5, 0],
      [8, 3.2, 1],
      [16, 2.9, 1],
    ]);
  });

  it('keeps one point of a tie: equal FLOPs take the lower loss, equal losses the fewer FLOPs, duplicates the first run', () => {
    const a = curve([10, 3], [20, 2.5], [40, 2]);
    const b = curve([10, 2.8], [30, 2.5], [40, 2]);
    expect(pairs([a, b])).toEqual([
      [10, 2.8, 1],
      [20, 2.5, 0],
      [40, 2, 0],
    ]);
  });

  it('says which point of which run each frontier point is, and ignores a run\'s own later rise', () => {
    const env = lowerEnvelope([curve([1, 4], [2, 3], [3, 3.1], [4, 2.9])]);
    expect(env.map((p) => [p.run, p.point])).toEqual([[0, 0], [0, 1], [0, 3]]);
  });

  it('is strictly falling, and every point of every run has a frontier point at no more FLOPs and no more loss', () => {
    for (const seed of [1, 2, 3]) {
      const u = randu(300, seed);
      const runs: Run[] = Array.from({ length: 6 }, (_, r) => ({
        points: Array.from({ length: 50 }, (_, i) => ({ flops: 1 + Math.round(20 * u[r * 50 + i]), loss: 1 + Math.round(10 * u[(r * 50 + i + 7) % 300]) })),
      }));
      const env = lowerEnvelope(runs);
      for (let i = 1; i < env.length; i++) {
        expect(env[i].flops).toBeGreaterThan(env[i - 1].flops);
        expect(env[i].loss).toBeLessThan(env[i - 1].loss);
      }
      for (const run of runs) for (const p of run.points) expect(env.some((q) => q.flops <= p.flops && q.loss <= p.loss)).toBe(true);
      // and no frontier point is beaten by any point
      for (const q of env) for (const run of runs) for (const p of run.points) expect(p.flops <= q.flops && p.loss < q.loss).toBe(false);
    }
  });

  it('refuses no runs and bad points, naming the run and the point', () => {
    expect(() => lowerEnvelope([])).toThrow(ScalingFitError);
    const bad = [curve([1, 3], [2, 2]), curve([1, 3], [2, NaN])];
    expect(() => lowerEnvelope(bad)).toThrow(/runs\[1\]\.points\[1\]\.loss is NaN/);
    expect(() => lowerEnvelope([curve([0, 3])])).toThrow(/runs\[0\]\.points\[0\]\.flops is 0/);
  });
});
