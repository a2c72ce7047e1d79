// A study's fits on synthetic studies where the answer is known: a recipe k times as compute-efficient has a
// multiplier of k on training FLOPs, k/(1+r) all-in when its optimizer costs r of its training FLOPs, and k·(its
// speed / the baseline's) on wall-clock; every failure is a row's error, never a throw.
import { describe, expect, it } from 'vitest';
import type { StudyRun, StudyState } from '../../src/scaling/study';
import { studyFits } from '../../src/scaling/study-fits';
import { planted, plantedLoss } from '../util/scaling-synthetic';
import { randn } from '../util/random';

const LAW = planted(1.5, 0.3, 2);

interface RecipeSpec {
  id: string;
  /** Compute efficiency (reaches at C the law's loss at k·C). */
  k: number;
  /** Optimizer FLOPs as a share of training FLOPs. */
  optimizerShare?: number;
  /** Training FLOP/s (wall-clock seconds = FLOPs / rate). */
  rate?: number;
  /** Finished runs (default all 10 per seed). */
  finished?: number;
}

/** Runs whose FLOPs grow linearly in steps, ten runs per seed spanning 1e9 to ~3e14 FLOPs, on the planted law. */
function runs(r: RecipeSpec, seeds: number[], noise: number): StudyRun[] {
  const out: StudyRun[] = [];
  const z = randn(seeds.length * 10 * 10, r.id.length + 7);
  let n = 0;
  for (const seed of seeds) {
    for (let j = 0; j < 10; j++) {
      const perStep = 1e9 * 10 ** (0.5 * j);
      const steps = 10;
      const curve = Array.from({ length: steps }, (_, i) => {
        const flops = perStep * (i + 1);
        return { step: i + 1, flops, loss: plantedLoss(LAW, r.k * flops) * Math.exp(noise * z[n++]!), seconds: flops / (r.rate ?? 1e9) };
      });
      out.push({
        id: `${r.id}/size${j}/seed${seed}`, recipe: r.id, kind: 'grid', size: j, nonEmbedding: 1000 * (j + 1), tokensPerParam: 20, tokens: 1, steps, seed, lr: 1e-3,
        evalSteps: curve.map((p) => p.step), trainFlops: perStep * steps, evalFlops: 0, seconds: 0,
        status: j < (r.finished ?? 10) ? 'done' : 'queued', curve: j < (r.finished ?? 10) ? curve : [],
        optimizerFlops: (r.optimizerShare ?? 0) * perStep * steps, wallSeconds: 1,
      });
    }
  }
  return out;
}

function state(recipes: RecipeSpec[], noise = 0.003): StudyState {
  return {
    id: 's', spec: { recipes: recipes.map((r) => r.id), grid: 'quick', baseline: 'baseline' }, phase: 'grid', status: 'running',
    runs: recipes.flatMap((r) => runs(r, [1, 2], noise)), tunedLr: {}, adapter: 'test', createdAt: 0, updatedAt: 0,
  };
}

describe('study fits', () => {
  it('recovers a planted multiplier on training FLOPs, all-in FLOPs and wall-clock, with intervals around it', () => {
    const fits = studyFits(state([
      { id: 'baseline', k: 1 },
      { id: 'modern', k: 2 },
      { id: 'muon', k: 3, optimizerShare: 0.5, rate: 0.5e9 },
    ]), { resamples: 60 });
    expect(fits.recipes.map((r) => r.recipe)).toEqual(['baseline', 'modern', 'muon']);
    for (const r of fits.recipes) {
      expect(r.error).toBeUndefined();
      expect(r.fit!.E).toBeCloseTo(1.5, 1);
      expect(r.fit!.alpha).toBeCloseTo(0.3, 1);
      expect(r.envelope.length).toBeGreaterThan(5);
    }
    const [base, modern, muon] = fits.multipliers;
    expect(base).toEqual({ recipe: 'baseline', group: 'baseline' });
    expect(modern!.group).toBe('single');
    expect(modern!.error).toBeUndefined();
    // the planted factor, inside the bootstrap interval (the fit reads L* at the noisy high-compute end)
    const near = (m: { multiplier: number; interval: [number, number] } | undefined, want: number) => {
      expect(m!.multiplier / want).toBeGreaterThan(0.8);
      expect(m!.multiplier / want).toBeLessThan(1.25);
      expect(m!.interval[0]).toBeLessThan(want);
      expect(m!.interval[1]).toBeGreaterThan(want);
    };
    near(modern!.flops, 2);
    near(muon!.flops, 3);
    // the other axes rescale every point's compute by a constant: the multiplier moves by exactly that factor
    const rel = (a: number, b: number) => expect(Math.abs(a / b - 1)).toBeLessThan(1e-3);
    rel(modern!.allIn!.multiplier, modern!.flops!.multiplier);
    rel(modern!.wallClock!.multiplier, modern!.flops!.multiplier);
    rel(muon!.allIn!.multiplier, muon!.flops!.multiplier / 1.5); // its optimizer costs half its training FLOPs
    rel(muon!.wallClock!.multiplier, muon!.flops!.multiplier * 0.5); // at half the baseline's FLOP rate
  });

  it('gives rows with errors, never a throw: too few runs yet, no baseline fit, no overlap, an empty study', () => {
    const fits = studyFits(state([
      { id: 'baseline', k: 1 },
      { id: 'modern', k: 1, finished: 0 },
      { id: 'muon', k: 1e6 }, // a million times as efficient: losses below anything the baseline reached
    ]), { resamples: 30 });
    expect(fits.recipes[1]!.error).toMatch(/^0 of 20 grid runs finished: a fit needs at least 2/);
    expect(fits.recipes[1]!.envelope).toEqual([]);
    expect(fits.multipliers[1]!.error).toMatch(/training FLOPs: 0 of 20 grid runs finished/);
    expect(fits.multipliers[1]!.flops).toBeUndefined();
    expect(fits.multipliers[2]!.error).toMatch(/training FLOPs: the recipes' measured losses do not overlap/);

    const noBase = studyFits(state([{ id: 'baseline', k: 1, finished: 0 }, { id: 'modern', k: 2 }]), { resamples: 30 });
    expect(noBase.recipes[1]!.error).toBeUndefined();
    expect(noBase.multipliers[1]!.error).toMatch(/^training FLOPs: no baseline fit yet \(0 of 20 .*; all-in FLOPs: .*; wall-clock: no baseline fit yet/);

    const empty: StudyState = { ...state([{ id: 'baseline', k: 1 }]), runs: [] };
    expect(studyFits(empty).recipes[0]!.error).toMatch(/0 of 0 grid runs/);
    // L(N, D) needs 3 or more token budgets: these runs all have one token count
    expect(fits.recipes[0]!.nd).toBeUndefined();
    expect(fits.recipes[0]!.ndError).toMatch(/3 or more token budgets, got 20 runs, 10 sizes, 1 token budgets/);
  });

  it('fits L(N, D) to the final losses of a sizes × budgets grid (a planted law recovered), skipping unfinished runs', () => {
    const law = { E: 1.8, A: 400, alpha: 0.5, B: 300, beta: 0.4 };
    const z = randn(64, 5);
    let n = 0;
    const grid: StudyRun[] = [];
    for (const N of [1e3, 3e3, 1e4, 3e4]) {
      for (const k of [5, 10, 20]) {
        for (const seed of [1, 2]) {
          const D = k * N;
          const loss = (law.E + law.A / N ** law.alpha + law.B / D ** law.beta) * Math.exp(0.001 * z[n++]!);
          grid.push({
            id: `baseline/N${N}/k${k}/seed${seed}`, recipe: 'baseline', kind: 'grid', size: N, nonEmbedding: N, tokensPerParam: k, tokens: D, steps: 10, seed, lr: 1e-3,
            evalSteps: [5, 10], trainFlops: 6 * N * D, evalFlops: 0, seconds: 0, status: 'done',
            curve: [{ step: 5, flops: 3 * N * D, loss: loss + 0.5, seconds: 1 }, { step: 10, flops: 6 * N * D, loss, seconds: 2 }], optimizerFlops: 0, wallSeconds: 2,
          });
        }
      }
    }
    // a diverged run (stopped before its last step) has no final loss: left out, not fitted as if it were one
    grid.push({ ...grid[0]!, id: 'baseline/diverged', curve: [{ ...grid[0]!.curve[0]!, loss: 99 }] });
    const s: StudyState = { ...state([{ id: 'baseline', k: 1 }]), runs: grid };
    const r = studyFits(s, { resamples: 10 }).recipes[0]!;
    expect(r.ndError).toBeUndefined();
    expect(r.nd!.runs).toBe(24);
    expect(r.nd!.E).toBeGreaterThan(1.7);
    expect(r.nd!.E).toBeLessThan(1.9);
    expect(Math.abs(r.nd!.alpha - law.alpha)).toBeLessThan(0.1);
    expect(Math.abs(r.nd!.beta - law.beta)).toBeLessThan(0.1);
  });

  it('keeps a diverged run\'s finite points and ignores the search\'s runs', () => {
    const s = state([{ id: 'baseline', k: 1 }, { id: 'modern', k: 2 }], 0);
    const clean = studyFits(s, { resamples: 30 });
    const diverged = s.runs.find((r) => r.recipe === 'modern' && r.size === 0)!;
    diverged.curve[9]!.loss = NaN;
    s.runs.push({ ...s.runs[0]!, id: 'baseline/lr-search/size0/lr0', kind: 'lr-search', curve: s.runs[0]!.curve.map((p) => ({ ...p, loss: p.loss / 2 })) });
    const fits = studyFits(s, { resamples: 30 });
    expect(fits.recipes[0]!.envelope).toEqual(clean.recipes[0]!.envelope);
    expect(fits.multipliers[1]!.flops!.multiplier).toBeCloseTo(clean.multipliers[1]!.flops!.multiplier, 6);
  });
});
