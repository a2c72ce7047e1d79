// The Scaling section's pure shaping: run curves on each x-axis, envelopes and fit curves as one aligned table,
// loss ticks, CSV and JSON exports, the multiplier and fit tables (error rows included), the plan's summary, the
// progress line and the study spec the form describes.
import { describe, expect, it } from 'vitest';
import { RECIPES } from '../../src/scaling/recipes';
import type { StudyPlanSummary } from '../../src/scaling/study';
import {
  fitCurve, lossTicks, pointX, recipeStyle, runCurves, scalingTable, STUDY_CSV_HEADER, studyToCsv, studyToJson, timeTickText, timeTicks,
} from '../../src/ui/scaling-data';
import { buildSpec, fitRows, flopText, formOf, isResumable, lrEdgeText, multiplierRows, planSummaryText, progressText } from '../../src/ui/scaling-rows';
import { fixtureFits, fixtureStudy } from '../util/scaling-fixtures';

describe('recipes and styles', () => {
  it('has a colour for every recipe the runner defines, and a fallback for an unknown id', () => {
    expect(RECIPES.map((r) => r.id)).toEqual(['baseline', 'modern', 'muon', 'moe-active', 'moe-total', 'spark', 'spark-no-modern', 'spark-no-muon', 'spark-no-moe']);
    expect(new Set(RECIPES.map((r) => recipeStyle(r.id).color)).size).toBe(RECIPES.length);
    expect(recipeStyle('modern').label).toBe('Modern block');
    expect(recipeStyle('mystery')).toMatchObject({ id: 'mystery', label: 'mystery' });
    expect(recipeStyle('mystery').color).toMatch(/^#[0-9a-f]{6}$/);
  });
});

describe('run curves', () => {
  const run = { steps: 100, optimizerFlops: 1000 };
  const p = { step: 25, flops: 5000, seconds: 3, loss: 2 };

  it('places a point at its training FLOPs, all-in FLOPs (optimizer prorated by step) or seconds', () => {
    expect(pointX(run, p, 'flops')).toBe(5000);
    expect(pointX(run, p, 'allIn')).toBe(5250);
    expect(pointX(run, { ...p, step: 100 }, 'allIn')).toBe(6000);
    expect(pointX(run, p, 'seconds')).toBe(3);
  });

  it('keeps only finite positive points (a diverged tail is counted as dropped) and skips runs with no points', () => {
    const study = fixtureStudy({ queued: 2 });
    const r = study.runs.find((x) => x.kind === 'grid' && x.status === 'done')!;
    r.curve = [...r.curve.slice(0, 3), { step: 99, flops: 1e12, loss: NaN, seconds: 4 }, { step: 100, flops: 2e12, loss: Infinity, seconds: 5 }];
    const curves = runCurves(study, 'flops');
    expect(curves.length).toBe(study.runs.length - 2);
    const c = curves.find((x) => x.id === r.id)!;
    expect(c.x).toEqual(r.curve.slice(0, 3).map((q) => q.flops));
    expect(c.dropped).toBe(2);
    expect(runCurves(null, 'flops')).toEqual([]);
  });
});

describe('fit curve', () => {
  it('samples L(C) = E + A·C^−α at points evenly spaced in log C, from lo to hi', () => {
    const fit = { E: 1.5, A: 40, alpha: 0.2 };
    const c = fitCurve(fit, 1e9, 1e13, 5);
    expect(c.x.length).toBe(5);
    expect([c.x[0], c.x[4]]).toEqual([1e9, 1e13]);
    for (let i = 1; i < 5; i++) expect(Math.log10(c.x[i] / c.x[i - 1])).toBeCloseTo(1, 10);
    c.x.forEach((x, i) => expect(c.y[i]).toBeCloseTo(1.5 + 40 * x ** -0.2, 12));
    expect(fitCurve(fit, 0, 1e9).x).toEqual([]);
    expect(fitCurve(fit, 1e10, 1e9).x).toEqual([]);
  });
});

describe('the chart table', () => {
  const study = fixtureStudy();
  const fits = fixtureFits(study);

  it('on training FLOPs: every recipe\'s envelope (the fits\' own) and its fit, on one sorted x column', () => {
    const t = scalingTable(study, fits, 'flops');
    expect(t.recipes).toEqual(['baseline', 'modern']);
    expect(t.series.map((s) => `${s.recipe}:${s.kind}`)).toEqual(['baseline:envelope', 'baseline:fit', 'modern:envelope', 'modern:fit']);
    expect(t.x).toEqual([...new Set(t.x)].sort((a, b) => a - b));
    for (const s of t.series) expect(s.y.length).toBe(t.x.length);
    const env = t.series[0].y.flatMap((y, i) => (y === null ? [] : [[t.x[i], y]]));
    expect(env).toEqual(fits.recipes[0].envelope.map((p) => [p.flops, p.loss]));
    const fit = t.series[1].y.flatMap((y, i) => (y === null ? [] : [[t.x[i], y]]));
    const f = fits.recipes[0].fit!;
    expect(fit.length).toBe(48);
    for (const [x, y] of fit) expect(y).toBeCloseTo(f.E + f.A * x ** -f.alpha, 10);
    expect([fit[0][0], fit.at(-1)![0]]).toEqual(fits.recipes[0].flopsRange);
    expect(t.runs.length).toBe(study.runs.length);
    const all = study.runs.flatMap((r) => r.curve);
    expect(t.bounds!.xMin).toBe(Math.min(...all.map((q) => q.flops)));
    expect(t.bounds!.yMax).toBe(Math.max(...all.map((q) => q.loss)));
  });

  it('on seconds: envelopes of the finished grid runs on that axis, and no fit (fits are on training FLOPs)', () => {
    const t = scalingTable(study, fits, 'seconds');
    expect(t.series.map((s) => s.kind)).toEqual(['envelope', 'envelope']);
    const env = t.series[0].y.flatMap((y, i) => (y === null ? [] : [[t.x[i], y]]));
    for (let i = 1; i < env.length; i++) {
      expect(env[i][0]).toBeGreaterThan(env[i - 1][0]);
      expect(env[i][1]).toBeLessThan(env[i - 1][1]);
    }
    const grid = study.runs.filter((r) => r.recipe === 'baseline' && r.kind === 'grid').flatMap((r) => r.curve);
    expect(env.at(-1)![1]).toBe(Math.min(...grid.map((q) => q.loss)));
  });

  it('off training FLOPs the envelope takes only finished grid runs (not the search, not a run in progress)', () => {
    const s = fixtureStudy();
    const search = s.runs.find((r) => r.kind === 'lr-search' && r.recipe === 'baseline')!;
    search.curve = search.curve.map((p) => ({ ...p, loss: p.loss / 10 }));
    const running = s.runs.find((r) => r.kind === 'grid' && r.recipe === 'baseline')!;
    running.status = 'running';
    running.curve = running.curve.map((p) => ({ ...p, loss: p.loss / 20 }));
    for (const axis of ['seconds', 'allIn'] as const) {
      const t = scalingTable(s, null, axis);
      const env = t.series.find((x) => x.recipe === 'baseline')!.y.filter((y) => y !== null) as number[];
      const done = s.runs.filter((r) => r.recipe === 'baseline' && r.kind === 'grid' && r.status === 'done').flatMap((r) => r.curve.map((p) => p.loss));
      expect(Math.min(...env)).toBe(Math.min(...done));
    }
  });

  it('with no study: nothing drawn', () => {
    expect(scalingTable(null, null, 'flops')).toMatchObject({ x: [], series: [], runs: [], bounds: null });
  });
});

describe('loss ticks', () => {
  it('puts round linear steps on an axis that spans less than a decade', () => {
    const t = lossTicks(2.31, 4.87, 6);
    expect(t).toEqual([2.5, 3, 3.5, 4, 4.5]);
    expect(lossTicks(1.02, 1.09, 4)).toEqual([1.02, 1.04, 1.06, 1.08]);
    expect(lossTicks(1.02, 1.09, 3)).toEqual([1.025, 1.05, 1.075]);
    expect(lossTicks(3, 3, 5)).toEqual([3]);
    expect(lossTicks(-1, 3, 5)).toEqual([]);
  });
});

describe('time ticks', () => {
  it('puts a log seconds axis on round durations, labelled in their unit', () => {
    expect(timeTicks(0.05, 5000, 10)).toEqual([0.1, 1, 10, 60, 600, 3600]);
    expect(timeTicks(0.05, 5000, 3)).toEqual([0.1, 10, 600]);
    expect([0.01, 1, 60, 600, 3600, 86_400].map(timeTickText)).toEqual(['10 ms', '1 s', '1 min', '10 min', '1 h', '1 d']);
  });
});

describe('exports', () => {
  const study = fixtureStudy({ queued: 1 });
  const fits = fixtureFits(study);

  it('CSV: one row per measured point with the run\'s recipe, id, size, seed and lr', () => {
    const lines = studyToCsv(study).trimEnd().split('\n');
    expect(lines[0]).toBe(STUDY_CSV_HEADER);
    expect(lines.length - 1).toBe(study.runs.reduce((s, r) => s + r.curve.length, 0));
    const r = study.runs.find((x) => x.kind === 'grid')!;
    const cells = lines.find((l) => l.includes(`,${r.id},`))!.split(',');
    const col = (name: string) => cells[STUDY_CSV_HEADER.split(',').indexOf(name)];
    expect(col('recipe')).toBe(r.recipe);
    expect(Number(col('seed'))).toBe(r.seed);
    expect(Number(col('lr'))).toBe(r.lr);
    expect(Number(col('size'))).toBe(r.size);
    expect(Number(col('step'))).toBe(r.curve[0].step);
    expect(Number(col('flops'))).toBe(r.curve[0].flops);
    expect(Number(col('loss'))).toBe(r.curve[0].loss);
    expect(Number(col('seconds'))).toBe(r.curve[0].seconds);
    expect(studyToCsv(null)).toBe(`${STUDY_CSV_HEADER}\n`);
  });

  it('CSV: a recipe id with a comma is quoted', () => {
    const s = fixtureStudy({ recipes: ['baseline'] });
    s.runs[0].recipe = 'odd,one';
    expect(studyToCsv(s).split('\n')[1].startsWith('"odd,one",')).toBe(true);
  });

  it('JSON: the whole study and fits, an open interval\'s ∞ kept as text', () => {
    const parsed = JSON.parse(studyToJson(study, fits, 'T'));
    expect(parsed).toMatchObject({ format: 'spark-lab-scaling-study', version: 1, exportedAt: 'T' });
    expect(parsed.study.runs.length).toBe(study.runs.length);
    expect(parsed.study.runs[5].curve).toEqual(study.runs[5].curve);
    expect(parsed.fits.multipliers.find((m: { recipe: string }) => m.recipe === 'spark').flops.interval).toEqual([2.2, 'Infinity']);
  });
});

describe('tables', () => {
  const fits = fixtureFits(fixtureStudy({ recipes: ['baseline', 'modern', 'muon'] }));

  it('multiplier rows grouped single, all, leave-one-out; the baseline no row; errors as text', () => {
    const groups = multiplierRows(fits);
    expect(groups.map((g) => g.group)).toEqual(['single', 'all', 'leave-one-out']);
    expect(groups[0].rows.map((r) => r.recipe)).toEqual(['modern', 'muon']);
    const modern = groups[0].rows[0];
    expect(modern).toMatchObject({ label: 'Modern block', flops: { value: '2.04×', interval: '[1.62, 2.71]' }, allIn: { value: '1.97×' }, wallClock: { value: '1.31×', interval: '[0.88, 1.9]' }, targetLoss: '2.850', extrapolated: false });
    expect(groups[0].rows[1]).toMatchObject({ recipe: 'muon', error: 'needs ≥ 4 finished sizes (has 2)', flops: { value: '–', interval: '' } });
    expect(groups[1].rows[0]).toMatchObject({ recipe: 'spark', extrapolated: true, flops: { interval: '[2.2, ∞]' } });
    expect(groups[2].rows[0].error).toMatch(/no overlap/);
    expect(multiplierRows(null)).toEqual([]);
  });

  it('fit rows: E, A and α with intervals; a recipe without a fit says why', () => {
    const rows = fitRows(fits);
    expect(rows.map((r) => r.recipe)).toEqual(['baseline', 'modern', 'muon']);
    expect(rows[0]).toMatchObject({ E: { value: '1.6', interval: '[1.4, 1.75]' }, alpha: { value: '0.16', interval: '[0.13, 0.2]' } });
    expect(rows[0].points).toBe(fits.recipes[0].envelope.length);
    expect(rows[0].error).toBeUndefined();
    expect(rows[2]).toMatchObject({ error: 'needs ≥ 4 finished sizes (has 2)', E: { value: '–' } });
    // L(N, D): one line, or why there is none
    const nd = fitRows({ ...fits, recipes: [{ ...fits.recipes[0], nd: { E: 2.1, A: 3200, alpha: 0.412, B: 95, beta: 0.281, runs: 16 } }] });
    expect(nd[0].nd).toBe('2.1 + 3.20k/N^0.41 + 95/D^0.28 (16 runs)');
    const none = fitRows({ ...fits, recipes: [{ ...fits.recipes[0], ndError: 'needs 3 or more token budgets' }] });
    expect(none[0].nd).toBe('no fit: needs 3 or more token budgets');
  });
});

describe('learning-rate picks at the edge', () => {
  it('warns, naming each recipe, rate and size, when a pick fell on the edge of its search; says nothing otherwise', () => {
    const study = fixtureStudy();
    expect(lrEdgeText(null)).toBeNull();
    expect(lrEdgeText({ ...study, tunedLr: { baseline: [{ nonEmbedding: 888, lr: 0.003 }, { nonEmbedding: 9828, lr: 0.001 }] } })).toBeNull();
    const text = lrEdgeText({ ...study, tunedLr: { baseline: [{ nonEmbedding: 888, lr: 0.01, atEdge: true }, { nonEmbedding: 9828, lr: 0.003 }], muon: [{ nonEmbedding: 9828, lr: 0.01, atEdge: true }] } })!;
    expect(text).toMatch(new RegExp(`^Learning rate picked at the edge of the searched range: ${recipeStyle('baseline').label.replace(/[()]/g, '\\$&')} 0\\.01 at N 888; ${recipeStyle('muon').label} 0\\.01 at N 9\\.83k\\.`));
    expect(text).toMatch(/not yet a result: widen the searched rates/);
    expect(text).not.toMatch(/0\.003/); // the interior pick is not named
    const after = lrEdgeText({ ...study, tunedLr: { muon: [{ nonEmbedding: 9828, lr: 0.09, atEdge: true }] }, lrExtra: { muon: [{ size: 3, lr: 0.03 }, { size: 3, lr: 0.09 }] } })!;
    expect(after).toMatch(/searched range \(the study already searched 2 more rates beyond the edges, the most it adds\): .*0\.09 at N 9\.83k/);
  });
});

describe('plan, progress and resuming', () => {
  it('sums the plan over recipes and says whether its time is measured', () => {
    const r = { runs: 16, lrSearchRuns: 6, trainFlops: 1e12, evalFlops: 1e10, lrSearchFlops: 2e11, optimizerFlops: 0, allInFlops: 1.2e12, seconds: 90 };
    const plan: StudyPlanSummary = { recipes: [r, { ...r, recipe: 'modern', allInFlops: 1.5e12 }].map((x) => ({ recipe: 'baseline', ...x })), totalSeconds: 185, timeBasis: 'assumed' };
    expect(planSummaryText(plan)).toEqual({ runs: 44, trainFlops: '2.00 TFLOP', allInFlops: '2.70 TFLOP', time: '3 min 05 s', basis: expect.stringMatching(/assumed/) });
    expect(planSummaryText({ ...plan, timeBasis: 'measured' }).basis).toMatch(/measured on this adapter/);
    expect([0, 950, 1.5e9].map(flopText)).toEqual(['0 FLOP', '950 FLOP', '1.50 GFLOP']);
  });

  it('names the run in progress and the time left', () => {
    const study = fixtureStudy();
    const r = study.runs.find((x) => x.kind === 'grid' && x.recipe === 'modern')!;
    const t = progressText(study, { runId: r.id, step: 12, steps: 40, done: 0.5, etaSeconds: 75 });
    expect(t.run).toBe(`Modern block · size 1 · seed ${r.seed} · lr 0.003 — step 12 of 40`);
    expect(t.eta).toBe('about 1 min 15 s left');
    expect(progressText(study, { runId: 'gone', step: 1, steps: 2, done: 0, etaSeconds: null })).toEqual({ run: 'gone — step 1 of 2', eta: 'estimating time left…' });
  });

  it('offers a resume for a study with runs left: interrupted, cancelled or failed; not for a finished one', () => {
    expect(isResumable(fixtureStudy({ queued: 2, status: 'running' }))).toBe(true);
    expect(isResumable(fixtureStudy({ queued: 0, status: 'done' }))).toBe(false);
    const cancelled = fixtureStudy({ status: 'cancelled' });
    cancelled.runs.at(-1)!.status = 'cancelled';
    expect(isResumable(cancelled)).toBe(true);
    const interrupted = fixtureStudy({ status: 'running' });
    interrupted.runs.at(-1)!.status = 'running';
    expect(isResumable(interrupted)).toBe(true);
    const failedRun = fixtureStudy({ status: 'done' });
    failedRun.runs.at(-1)!.status = 'failed'; // a run that threw is not run again
    expect(isResumable(failedRun)).toBe(false);
    expect(isResumable(null)).toBe(false);
  });
});

describe('the study spec from the form', () => {
  const form = { recipes: ['modern'], preset: 'classroom' as const, seeds: '1, 2', custom: '' };

  it('always runs the baseline first, with the preset and the seeds', () => {
    expect(buildSpec(form).spec).toEqual({ recipes: ['baseline', 'modern'], baseline: 'baseline', grid: { preset: 'classroom', seeds: [1, 2] } });
    expect(buildSpec({ ...form, recipes: ['modern', 'baseline'] }).spec!.recipes).toEqual(['baseline', 'modern']);
  });

  it('lays a custom grid over the preset', () => {
    const { spec } = buildSpec({ ...form, preset: 'quick', custom: '{"tokensPerParam": [2, 4], "sizes": {"smallest": 8}}' });
    expect(spec!.grid).toEqual({ preset: 'quick', seeds: [1, 2], tokensPerParam: [2, 4], sizes: { smallest: 8 } });
  });

  it('a stored study\'s spec back as the form, and that form gives the same spec', () => {
    const spec = { recipes: ['baseline', 'muon'], baseline: 'baseline', grid: { preset: 'quick' as const, seeds: [3, 4], tokensPerParam: [2, 4], sizes: { count: 5 } } };
    const f = formOf(spec);
    expect(f).toEqual({ recipes: ['baseline', 'muon'], preset: 'quick', seeds: '3, 4', custom: '{"tokensPerParam":[2,4],"sizes":{"count":5}}' });
    expect(buildSpec(f).spec).toEqual(spec);
    expect(formOf({ recipes: ['baseline'], grid: 'classroom' })).toEqual({ recipes: ['baseline'], preset: 'classroom', seeds: '1, 2', custom: '' });
  });

  it.each([
    ['seeds', 'one, 2', 'scaling.seeds', /"one" is not a number/],
    ['seeds', '1', 'scaling.seeds', /at least 2 different seeds/],
    ['seeds', '1, 1', 'scaling.seeds', /at least 2 different seeds/],
    ['seeds', '1, 2.5', 'scaling.seeds', /2\.5 is not a whole number/],
    ['seeds', '-1, 2', 'scaling.seeds', /-1 is not a whole number from 0/],
    ['custom', '{tokens', 'scaling.custom', /not valid JSON/],
    ['custom', '[1, 2]', 'scaling.custom', /must be an object/],
    ['custom', '{"seeds": [3, 4]}', 'scaling.custom', /"seeds" has its own field/],
    ['custom', '{"preset": "quick"}', 'scaling.custom', /"preset" has its own field/],
  ])('refuses %s %j at its field', (key, value, field, message) => {
    const r = buildSpec({ ...form, [key]: value });
    expect(r.spec).toBeNull();
    expect([...r.errors.keys()]).toEqual([field]);
    expect(r.errors.get(field)).toMatch(message);
  });
});
