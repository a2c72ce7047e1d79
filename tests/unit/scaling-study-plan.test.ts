// The study planner: spec validation, run order (searches first, then sizes ascending across recipes), the
// learning-rate picks and their interpolation into the grid's runs, cancel and resume-from-state.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/model/validate';
import { interpolateLr } from '../../src/scaling/grid-sizes';
import type { StudyRun, StudyState } from '../../src/scaling/study';
import {
  applyLrSearch, cancelStudy, MAX_LR_EXTENSIONS, newStudyState, nextRun, planRecipes, planSummary, resolveStudySpec, resumeStudy, runConfigOf, settlePhase,
} from '../../src/scaling/study-plan';
import { flopRateThroughput } from '../../src/scaling/throughput';
import { refusal as refusalOf } from '../util/scaling-synthetic';

const refusal = (f: () => unknown): ConfigError => refusalOf(f, ConfigError);

const study = (recipes = ['baseline', 'modern', 'muon']): StudyState => newStudyState({ recipes, grid: 'classroom' }, { id: 's', adapter: 'test', now: 1 });

/** Finishes a run with a one-point curve at `loss`. */
function finish(r: StudyRun, loss: number): void {
  Object.assign(r, { status: 'done', curve: [{ step: r.steps, flops: r.trainFlops, loss, seconds: 1 }], wallSeconds: 1 });
}

/** Finishes every search run of `recipe`, the best rate at each size being `best[size index]`'s lr index. */
function finishSearch(s: StudyState, recipe: string, best: Record<number, number>): void {
  const runs = s.runs.filter((r) => r.recipe === recipe && r.kind === 'lr-search');
  for (const r of runs) {
    const k = Number(r.id.split('/lr').pop());
    finish(r, 3 + Math.abs(k - best[r.size]!));
  }
}

describe('study spec', () => {
  it('refuses unknown or repeated recipes, a missing grid and unknown keys, naming the field', () => {
    expect(refusal(() => resolveStudySpec({ recipes: ['baseline', 'rwkv'], grid: 'quick' }))).toMatchObject({ field: 'study.recipes[1]', message: expect.stringMatching(/"rwkv" is not a recipe; known: baseline, modern/) });
    expect(refusal(() => resolveStudySpec({ recipes: ['muon', 'muon'], grid: 'quick' })).field).toBe('study.recipes[1]');
    expect(refusal(() => resolveStudySpec({ recipes: [], grid: 'quick' })).field).toBe('study.recipes');
    expect(refusal(() => resolveStudySpec({ recipes: ['muon'] })).field).toBe('study.grid');
    expect(refusal(() => resolveStudySpec({ recipes: ['muon'], grid: 'quick', seeds: [1] })).field).toBe('study.seeds');
    expect(refusal(() => resolveStudySpec({ recipes: ['muon'], grid: 'quick', baseline: 'gpt3' })).field).toBe('study.baseline');
    expect(refusal(() => resolveStudySpec(null)).field).toBe('study');
  });

  it('always runs the baseline: added first when the recipes leave it out', () => {
    expect(resolveStudySpec({ recipes: ['muon'], grid: 'quick' })).toEqual({ recipes: ['baseline', 'muon'], grid: 'quick', baseline: 'baseline' });
    expect(resolveStudySpec({ recipes: ['muon', 'modern'], grid: 'quick', baseline: 'modern' }).recipes).toEqual(['muon', 'modern']);
  });

  it('passes a grid the planner refuses on, naming the recipe', () => {
    const e = refusal(() => planRecipes(resolveStudySpec({ recipes: ['modern'], grid: { preset: 'quick', seeds: [1] } })));
    expect(e.field).toBe('grid.seeds');
    expect(e.message).toMatch(/^recipe baseline: grid.seeds/);
  });
});

describe('study plan', () => {
  it('orders the searches first, then the grid by size ascending with every recipe interleaved', () => {
    const s = study();
    const kinds = s.runs.map((r) => r.kind);
    expect(kinds.lastIndexOf('lr-search')).toBeLessThan(kinds.indexOf('grid'));
    expect(s.runs.filter((r) => r.kind === 'lr-search')).toHaveLength(3 * 2 * 3); // 3 recipes × 2 sizes × 3 rates
    const grid = s.runs.filter((r) => r.kind === 'grid');
    expect(grid).toHaveLength(3 * 4 * 3 * 2); // 3 recipes × 4 sizes × 3 budgets × 2 seeds
    grid.forEach((r, i) => i > 0 && expect(r.size).toBeGreaterThanOrEqual(grid[i - 1]!.size));
    // the first three runs of the grid are the same (size, seed, budget) for each recipe in turn
    expect(grid.slice(0, 3).map((r) => r.recipe)).toEqual(['baseline', 'modern', 'muon']);
    expect(new Set(grid.slice(0, 3).map((r) => `${r.size}/${r.seed}/${r.tokensPerParam}`)).size).toBe(1);
    expect(s.runs.every((r) => r.status === 'queued' && r.curve.length === 0)).toBe(true);
    expect(s.runs.filter((r) => r.recipe === 'muon').every((r) => r.optimizerFlops > 0)).toBe(true);
    expect(s.runs.filter((r) => r.recipe !== 'muon').every((r) => r.optimizerFlops === 0)).toBe(true);
  });

  it('summarises each recipe and takes the time from the throughput model given', () => {
    const spec = resolveStudySpec({ recipes: ['muon'], grid: 'classroom' });
    const fast = planSummary(planRecipes(spec), 'assumed');
    const slow = planSummary(planRecipes(spec, { throughput: flopRateThroughput(5e9) }), 'measured');
    expect(fast.recipes.map((r) => r.recipe)).toEqual(['baseline', 'muon']);
    expect(slow.timeBasis).toBe('measured');
    expect(slow.totalSeconds / fast.totalSeconds).toBeCloseTo(10, 6);
    expect(fast.totalSeconds).toBeCloseTo(fast.recipes[0]!.seconds + fast.recipes[1]!.seconds, 9);
    expect(fast.recipes[0]).toMatchObject({ runs: 24, lrSearchRuns: 6, optimizerFlops: 0 });
  });

  it('after a recipe\'s search, picks the best rate at both sizes and interpolates the grid\'s rates between them', () => {
    const s = study(['baseline']);
    const grid = s.runs.filter((r) => r.kind === 'grid');
    expect(nextRun(s)!.kind).toBe('lr-search');
    const search = s.runs.filter((r) => r.kind === 'lr-search');
    finish(search[0]!, 4);
    expect(applyLrSearch(s, 'baseline'), 'not until every search run finished').toBe(false);
    finishSearch(s, 'baseline', { 0: 2, 3: 0 }); // small: the highest rate; large: the lowest
    // both picks on an edge: one more rate a log step beyond each, queued before the grid; the picks wait for them
    expect(applyLrSearch(s, 'baseline')).toBe(false);
    expect(s.lrExtra!.baseline!.map((x) => [x.size, x.lr])).toEqual([[0, expect.closeTo(1e-2 * (1e-2 / 3e-3), 12)], [3, expect.closeTo(1e-3 / 3, 12)]]);
    const extra = s.runs.filter((r) => r.kind === 'lr-search' && r.status === 'queued');
    expect(extra.map((r) => r.id)).toEqual(['baseline/lr-search/size0/lrx0', 'baseline/lr-search/size3/lrx1']);
    expect(s.runs.indexOf(extra[1]!) + 1).toBe(s.runs.indexOf(grid[0]!));
    expect(nextRun(s)).toBe(extra[0]);
    expect(runConfigOf(s, extra[0]!).config.optim.lr).toBe(extra[0]!.lr);
    expect(extra[0]!.trainFlops).toBe(search[2]!.trainFlops); // the same size and budget as the search's own runs
    for (const r of extra) finish(r, 9); // worse: the picks are now inside the searched range
    expect(applyLrSearch(s, 'baseline')).toBe(true);
    const [lo, , hi] = [1e-3, 3e-3, 1e-2];
    expect(s.tunedLr.baseline).toEqual([
      { nonEmbedding: search[0]!.nonEmbedding, lr: hi, atEdge: false },
      { nonEmbedding: search.at(-1)!.nonEmbedding, lr: lo, atEdge: false },
    ]);
    const expected = interpolateLr(grid.map((r) => r.nonEmbedding), s.tunedLr.baseline!);
    grid.forEach((r, i) => expect(r.lr).toBeCloseTo(expected[i]!, 12));
    expect(grid[0]!.lr).toBeCloseTo(hi, 12);
    expect(grid.at(-1)!.lr).toBeCloseTo(lo, 12);
    // the run's config is the planner's, with that rate
    expect(runConfigOf(s, grid[5]!).config.optim.lr).toBeCloseTo(grid[5]!.lr, 12);
    expect(runConfigOf(s, grid[5]!).id).toBe(grid[5]!.id);
    expect(nextRun(s)).toBe(grid[0]);
    expect(applyLrSearch(s, 'baseline'), 'once').toBe(false);
  });

  it('extends an edge pick at most MAX_LR_EXTENSIONS times per size, keeps atEdge when it still wins, and a diverged rate beyond loses', () => {
    const s = study(['baseline']);
    finishSearch(s, 'baseline', { 0: 2, 3: 1 }); // small: the top rate; large: the middle one (no extension)
    const seen: number[] = [];
    for (let round = 0; !applyLrSearch(s, 'baseline'); round++) {
      expect(round).toBeLessThan(MAX_LR_EXTENSIONS);
      const open = s.runs.filter((r) => r.kind === 'lr-search' && r.status === 'queued');
      expect(open.map((r) => r.size)).toEqual([0]);
      seen.push(open[0]!.lr);
      finish(open[0]!, 2 - round / 10); // the rate beyond keeps winning
    }
    expect(seen.length).toBe(MAX_LR_EXTENSIONS);
    expect(seen[0]).toBeCloseTo(1e-2 * (1e-2 / 3e-3), 12);
    expect(seen[1]! / seen[0]!).toBeCloseTo(seen[0]! / 1e-2, 9); // each a log step beyond the last
    expect(s.tunedLr.baseline![0]).toMatchObject({ lr: seen[1], atEdge: true });
    expect(s.tunedLr.baseline![1]).toMatchObject({ lr: 3e-3, atEdge: false });
    expect(s.runs.filter((r) => r.kind === 'lr-search')).toHaveLength(6 + MAX_LR_EXTENSIONS);

    const d = study(['baseline']);
    finishSearch(d, 'baseline', { 0: 2, 3: 1 });
    expect(applyLrSearch(d, 'baseline')).toBe(false);
    finish(d.runs.find((r) => r.status === 'queued' && r.kind === 'lr-search')!, NaN); // diverged beyond the edge
    expect(applyLrSearch(d, 'baseline')).toBe(true);
    expect(d.tunedLr.baseline![0]).toMatchObject({ lr: 1e-2, atEdge: false });
  });

  it('does not extend past the largest rate the optimizer accepts, and plans no extra rate off the searched sizes', () => {
    const s = newStudyState({ recipes: ['baseline'], grid: { preset: 'classroom', lrSearch: [0.5, 2, 8] } }, { id: 's', adapter: 'test', now: 1 });
    finishSearch(s, 'baseline', { 0: 2, 3: 2 });
    expect(applyLrSearch(s, 'baseline')).toBe(true); // 8·4 = 32 is over optim.lr's maximum
    expect(s.tunedLr.baseline!.every((t) => t.lr === 8 && t.atEdge)).toBe(true);
    expect(s.lrExtra).toBeUndefined();
    const spec = resolveStudySpec({ recipes: ['baseline'], grid: 'classroom' });
    expect(refusal(() => planRecipes(spec, { lrExtra: { baseline: [{ size: 1, lr: 1e-2 }] } })).message).toMatch(/recipe baseline: extra learning rate 0 \(size 1, lr 0.01\) must be at a searched size \(0 or 3\)/);
  });

  it('a search whose every run diverged at a size fails the recipe\'s grid with the reason; a failed search run loses', () => {
    const s = study(['baseline', 'modern']);
    finishSearch(s, 'baseline', { 0: 1, 3: 1 });
    const failed = s.runs.find((r) => r.recipe === 'baseline' && r.kind === 'lr-search' && r.id.endsWith('lr1'))!;
    Object.assign(failed, { status: 'failed', error: 'boom' });
    expect(applyLrSearch(s, 'baseline'), 'size 0 picks its lowest rate: extended first').toBe(false);
    for (const r of s.runs.filter((x) => x.kind === 'lr-search' && x.status === 'queued')) finish(r, 9);
    applyLrSearch(s, 'baseline');
    expect(s.tunedLr.baseline!.map((t) => t.lr)).toEqual([1e-3, 3e-3]); // size 0 lost its best run; size 3 kept it
    for (const r of s.runs.filter((x) => x.recipe === 'modern' && x.kind === 'lr-search')) finish(r, NaN);
    expect(applyLrSearch(s, 'modern')).toBe(true);
    const grid = s.runs.filter((r) => r.recipe === 'modern' && r.kind === 'grid');
    expect(grid.every((r) => r.status === 'failed' && /recipe modern: learning-rate search: every run diverged/.test(r.error!))).toBe(true);
  });

  it('cancels the open runs; resume queues the cancelled and restarts the interrupted run from step 0, keeping what finished', () => {
    const s = study(['baseline']);
    const [a, b, c] = s.runs;
    finish(a!, 3);
    Object.assign(b!, { status: 'running', curve: [{ step: 1, flops: 1, loss: 5, seconds: 1 }], wallSeconds: 3 });
    cancelStudy(s);
    expect(s.status).toBe('cancelled');
    expect([a!.status, b!.status, c!.status]).toEqual(['done', 'cancelled', 'cancelled']);
    expect(nextRun(s)).toBeUndefined();
    Object.assign(b!, { status: 'running' }); // a reload while b ran
    resumeStudy(s);
    expect(s.status).toBe('running');
    expect(s.phase).toBe('lr-search');
    expect(a!.status).toBe('done');
    expect(a!.curve).toHaveLength(1);
    expect(b).toMatchObject({ status: 'queued', curve: [], wallSeconds: 0 });
    expect(c!.status).toBe('queued');
    expect(nextRun(s)).toBe(b);
  });

  it('resume applies a search that finished before the reload, and a study with nothing open is done', () => {
    const s = study(['baseline']);
    finishSearch(s, 'baseline', { 0: 1, 3: 1 });
    resumeStudy(s);
    expect(s.tunedLr.baseline).toHaveLength(2);
    expect(s.phase).toBe('grid');
    for (const r of s.runs) if (r.status === 'queued') finish(r, 3);
    settlePhase(s);
    expect([s.phase, s.status]).toEqual(['done', 'done']);
  });
});
