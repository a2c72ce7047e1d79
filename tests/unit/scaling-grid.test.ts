// The sweep grid planner: the size rule, token budgets, seeds, evaluation steps, the learning-rate search and
// its interpolation, FLOP and time accounting, the presets, and the refusals of grids a scaling fit cannot use.
import { describe, expect, it } from 'vitest';
import { FIRST_MERGE_ID } from '../../src/data/specials';
import { countParams, flopsPerToken, resolveModelConfig } from '../../src/model/config';
import { ConfigError } from '../../src/model/validate';
import { resolveRunConfig, settleVocabSize } from '../../src/train/config';
import { evalSteps, GRID_PRESETS, logGrid, planGrid, type GridInput, type GridPlan, type PresetName, type Recipe } from '../../src/scaling/grid';
import { interpolateLr, nonEmbeddingParams, pickLr, sizeLadder } from '../../src/scaling/grid-sizes';
import { fitThroughput, flopRateThroughput, LAPTOP_FLOPS_PER_SECOND } from '../../src/scaling/throughput';
import { refusal as refusalOf } from '../util/scaling-synthetic';

const refusal = (f: () => unknown): ConfigError => refusalOf(f, ConfigError);

const PRESETS = Object.keys(GRID_PRESETS) as PresetName[];
const close = (a: number, b: number, rel = 1e-12): boolean => Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b));

describe('size ladder', () => {
  it('counts non-embedding parameters as every parameter but the token embedding and an untied head', () => {
    // 2 layers of width 32, GELU 4·C: per layer 4C² (attention) + 8C² (MLP) + 2C (norms), plus the final norm.
    const m = resolveModelConfig({ nLayer: 2, nEmbd: 32, nHead: 2, mlp: 'gelu', vocabSize: 259 });
    expect(nonEmbeddingParams(m)).toBe(2 * (12 * 32 * 32 + 64) + 32);
    const untied = resolveModelConfig({ ...m, tiedEmbeddings: false });
    expect(nonEmbeddingParams(untied)).toBe(nonEmbeddingParams(m));
    expect(countParams(untied).total - countParams(m).total).toBe(259 * 32);
  });

  it('grows width and depth together: widths whole heads on a geometric ladder, depth ⌈C / maxAspect⌉', () => {
    const sizes = sizeLadder({ count: 6, smallest: 32, growth: 1.5, headSize: 16, maxAspect: 64 });
    expect(sizes.map((s) => [s.model.nLayer, s.model.nEmbd])).toEqual([[1, 32], [1, 48], [2, 80], [2, 112], [3, 160], [4, 240]]);
    for (const [i, s] of sizes.entries()) {
      const m = s.model;
      expect(m.nEmbd / m.nHead).toBe(16); // fixed head size
      expect(m.nLayer).toBe(Math.ceil(m.nEmbd / 64));
      expect(m.nEmbd / m.nLayer).toBeGreaterThanOrEqual(32); // aspect ratio in [maxAspect/2, maxAspect]
      expect(m.nEmbd / m.nLayer).toBeLessThanOrEqual(64);
      expect(s.nonEmbedding).toBe(nonEmbeddingParams(m));
      expect(s.flopsPerToken).toBe(flopsPerToken(m));
      if (i > 0) expect(s.nonEmbedding).toBeGreaterThan(sizes[i - 1]!.nonEmbedding);
    }
  });

  it('applies the recipe\'s model delta at every size and passes a resolver refusal on, naming the size', () => {
    expect(sizeLadder({ smallest: 32 }, { mlp: 'gelu' }).every((s) => s.model.mlp === 'gelu' && s.model.mlpHidden === 4 * s.model.nEmbd)).toBe(true);
    const e = refusal(() => sizeLadder({ smallest: 16, headSize: 8 }, { nKvHead: 4 })); // width 16 has 2 heads
    expect(e.field).toBe('model.nKvHead');
    expect(e.message).toMatch(/^size 0 \(1 layers, width 16\): model.nHead 2 is not divisible by model.nKvHead 4/);
  });

  it('refuses widths that are not whole heads, an odd head size, and a growth that rounds to a repeated width', () => {
    expect(refusal(() => sizeLadder({ smallest: 40, headSize: 16 })).field).toBe('grid.sizes.smallest');
    expect(refusal(() => sizeLadder({ smallest: 21, headSize: 7 })).field).toBe('grid.sizes.headSize');
    const e = refusal(() => sizeLadder({ smallest: 32, headSize: 16, growth: 1.1 }));
    expect(e.field).toBe('grid.sizes.growth');
    expect(e.message).toMatch(/repeats width 32/);
    expect(refusal(() => sizeLadder({ smallest: 32 }, { nEmbd: 64 })).field).toBe('recipe.model.nEmbd');
    expect(refusal(() => sizeLadder({ widths: [1] })).field).toBe('grid.sizes.widths');
  });
});

describe('presets', () => {
  const laptop = flopRateThroughput(LAPTOP_FLOPS_PER_SECOND);
  for (const name of PRESETS) {
    it(`${name}: at least 4 sizes spanning at least 8× in non-embedding parameters, about its target time on the assumed laptop`, () => {
      const plan = planGrid(undefined, name, { throughput: laptop });
      expect(plan.sizes.length).toBeGreaterThanOrEqual(4);
      expect(plan.sizes[plan.sizes.length - 1]!.nonEmbedding / plan.sizes[0]!.nonEmbedding).toBeGreaterThanOrEqual(8);
      const { maxAspect, headSize } = GRID_PRESETS[name].grid.sizes as { maxAspect: number; headSize: number };
      for (const { model: m } of plan.sizes) {
        expect(m.nEmbd / m.nHead).toBe(headSize);
        expect(m.nEmbd / m.nLayer).toBeGreaterThanOrEqual(maxAspect / 2);
        expect(m.nEmbd / m.nLayer).toBeLessThanOrEqual(maxAspect);
      }
      const target = GRID_PRESETS[name].targetSeconds;
      expect(plan.estimate.seconds).toBeGreaterThan(0.75 * target);
      expect(plan.estimate.seconds).toBeLessThan(1.25 * target);
      expect(planGrid(undefined, name).estimate, 'the laptop is the default throughput').toEqual(plan.estimate);
    });
  }

  it('reports a slow adapter\'s longer time instead of the preset\'s target', () => {
    const swiftShader = flopRateThroughput(0.8e9);
    const fast = planGrid(undefined, 'classroom');
    const slow = planGrid(undefined, 'classroom', { throughput: swiftShader });
    expect(close(slow.estimate.seconds, fast.estimate.seconds * (LAPTOP_FLOPS_PER_SECOND / 0.8e9), 1e-9)).toBe(true);
    expect(slow.totals).toEqual(fast.totals);
  });

  it('a custom grid starts from the preset it names and overrides its parts', () => {
    const plan = planGrid(undefined, { preset: 'classroom', sizes: { contextLength: 16 }, seeds: [3, 4, 5] });
    expect(plan.sizes.map((s) => s.model.nEmbd)).toEqual(planGrid(undefined, 'classroom').sizes.map((s) => s.model.nEmbd));
    expect(plan.sizes.every((s) => s.model.contextLength === 16)).toBe(true);
    expect(new Set(plan.runs.map((r) => r.seed))).toEqual(new Set([3, 4, 5]));
  });
});

describe('planGrid', () => {
  const recipe: Recipe = { id: 'gelu', model: { mlp: 'gelu' }, optim: { weightDecay: 0.05 } };
  const plan: GridPlan = planGrid(recipe, 'classroom');
  const { batchSize, evalBatches, warmupFraction } = { batchSize: 8, evalBatches: 4, warmupFraction: 0.05 };

  it('plans every size × budget × seed once, each budget a whole number of steps of at least tokensPerParam·N tokens', () => {
    expect(plan.runs).toHaveLength(4 * 3 * 2);
    expect(new Set(plan.runs.map((r) => r.id)).size).toBe(plan.runs.length);
    for (const size of plan.sizes) {
      const T = size.model.contextLength;
      const runs = plan.runs.filter((r) => r.size === size.index);
      for (const seed of [1, 2]) {
        const tokens = runs.filter((r) => r.seed === seed).map((r) => r.tokens);
        expect(tokens).toHaveLength(3);
        [5, 10, 20].forEach((tpp, k) => {
          expect(tokens[k]).toBeGreaterThanOrEqual(tpp * size.nonEmbedding);
          expect(tokens[k]! - batchSize * T).toBeLessThan(tpp * size.nonEmbedding); // the fewest whole steps
        });
        expect(Math.max(...tokens), 'the longest budget reaches the compute-optimal 20·N').toBeGreaterThanOrEqual(20 * size.nonEmbedding);
      }
      for (const r of runs) expect(r.tokens).toBe(r.steps * batchSize * T);
    }
  });

  it('gives every run a config the run resolver and the byte tokenizer accept, the recipe applied, the trainer evaluating at the end', () => {
    for (const r of [...plan.runs, ...plan.lrSearch]) {
      expect(resolveRunConfig(r.config)).toEqual(r.config);
      expect(() => settleVocabSize(r.config, resolveRunConfig(r.config), FIRST_MERGE_ID)).not.toThrow();
      expect(r.config.model).toEqual(plan.sizes[r.size]!.model);
      expect(r.config.model.mlp).toBe('gelu');
      expect(r.config.optim.weightDecay).toBe(0.05);
      expect(r.config.optim.lr).toBe(r.lr);
      expect(r.config.optim.warmupSteps).toBe(Math.round(warmupFraction * r.steps));
      expect(r.config.train).toMatchObject({ steps: r.steps, batchSize, gradAccum: 1, evalEvery: r.steps, evalBatches });
      expect(r.config.seed).toBe(r.seed);
      expect(r.evalSteps).toEqual(evalSteps(r.steps, 8));
    }
  });

  it('counts training FLOPs as flopsPerToken × tokens and evaluation as forward FLOPs, and sums them into the totals', () => {
    let train = 0;
    let evals = 0;
    let search = 0;
    for (const r of plan.runs) {
      const m = r.config.model;
      expect(r.trainFlops).toBe(flopsPerToken(m) * r.tokens);
      const evalTokens = r.evalSteps.length * evalBatches * batchSize * m.contextLength;
      expect(close(r.evalFlops, (flopsPerToken(m) / 3) * evalTokens)).toBe(true);
      train += r.trainFlops;
      evals += r.evalFlops;
    }
    for (const r of plan.lrSearch) search += r.trainFlops + r.evalFlops;
    expect(close(plan.totals.trainFlops, train)).toBe(true);
    expect(close(plan.totals.evalFlops, evals)).toBe(true);
    expect(close(plan.totals.lrSearchFlops, search)).toBe(true);
    expect(close(plan.totals.allInFlops, train + evals + search)).toBe(true);
    expect(plan.totals.lrSearchFlops).toBeGreaterThan(0);
  });

  it('estimates time from the throughput model: tokens trained plus a third of those evaluated, per run and in total', () => {
    const rate = 2e9;
    const p = planGrid(recipe, 'classroom', { throughput: flopRateThroughput(rate) });
    for (const r of [...p.runs, ...p.lrSearch]) expect(close(r.seconds, (r.trainFlops + r.evalFlops) / rate, 1e-9)).toBe(true);
    expect(close(p.estimate.seconds, p.totals.allInFlops / rate, 1e-9)).toBe(true);
    expect(close(p.estimate.lrSearchSeconds, p.totals.lrSearchFlops / rate, 1e-9)).toBe(true);
  });

  it('searches each learning rate at the smallest and the largest size for the compute-optimal budget, one seed', () => {
    const last = plan.sizes.length - 1;
    expect(plan.lrSearch.map((r) => [r.size, r.lr])).toEqual([[0, 1e-3], [0, 3e-3], [0, 1e-2], [last, 1e-3], [last, 3e-3], [last, 1e-2]]);
    for (const r of plan.lrSearch) {
      expect(r.kind).toBe('lr-search');
      expect(r.seed).toBe(1);
      expect(r.tokens).toBeGreaterThanOrEqual(20 * r.nonEmbedding);
    }
    const own = planGrid({ id: 'muon', lrSearch: [0.01, 0.02, 0.04, 0.08] }, 'classroom');
    expect(own.lrSearch.filter((r) => r.size === 0).map((r) => r.lr)).toEqual([0.01, 0.02, 0.04, 0.08]);
  });

  it('uses the search\'s middle rate until the picks are given, then interpolates them in log space by log N', () => {
    expect(plan.lrTuned).toBe(false);
    expect(new Set(plan.runs.map((r) => r.lr))).toEqual(new Set([3e-3]));
    const sizes = plan.sizes;
    const first = sizes[0]!.nonEmbedding;
    const last = sizes[sizes.length - 1]!.nonEmbedding;
    const tuned = planGrid(recipe, 'classroom', { tunedLr: [{ nonEmbedding: first, lr: 4e-3 }, { nonEmbedding: last, lr: 1e-3 }] });
    expect(tuned.lrTuned).toBe(true);
    const lrOf = (i: number): number => tuned.runs.find((r) => r.size === i)!.lr;
    expect(lrOf(0)).toBeCloseTo(4e-3, 15);
    expect(lrOf(sizes.length - 1)).toBeCloseTo(1e-3, 15);
    for (let i = 1; i < sizes.length - 1; i++) {
      const t = Math.log(sizes[i]!.nonEmbedding / first) / Math.log(last / first);
      expect(lrOf(i)).toBeCloseTo(4e-3 * 0.25 ** t, 15);
    }
    expect(tuned.totals, 'the learning rate changes no FLOPs').toEqual(plan.totals);
  });

  it('is deterministic', () => {
    expect(planGrid(recipe, 'classroom')).toEqual(plan);
  });
});

describe('refusals', () => {
  const cases: [string, Recipe | undefined, GridInput, string, RegExp][] = [
    ['fewer than 4 sizes', undefined, { preset: 'classroom', sizes: { count: 3 } }, 'grid.sizes.count', /at least 4/],
    ['a span under 8×', undefined, { sizes: { smallest: 64, headSize: 2, growth: 1.1, maxAspect: 128 } }, 'grid.sizes.growth', /spans 1\.\d\d× .* at least 8×/],
    ['fewer than 2 seeds', undefined, { preset: 'classroom', seeds: [7] }, 'grid.seeds', /1 distinct value; .* at least 2/],
    ['a repeated seed', undefined, { preset: 'classroom', seeds: [7, 7] }, 'grid.seeds', /at least 2/],
    ['a seed that is no seed', undefined, { preset: 'classroom', seeds: [1, 2.5] }, 'grid.seeds', /whole numbers/],
    ['fewer than 3 learning rates', undefined, { preset: 'classroom', lrSearch: [1e-3, 1e-2] }, 'grid.lrSearch', /at least 3/],
    ['a recipe with fewer than 3 learning rates', { id: 'r', lrSearch: [1e-3, 1e-2] }, { preset: 'classroom' }, 'recipe.lrSearch', /at least 3/],
    ['budgets that never reach the compute-optimal point', undefined, { preset: 'classroom', tokensPerParam: [2, 5, 10] }, 'grid.tokensPerParam', /never reaches the compute-optimal point 20·N/],
    ['a single budget', undefined, { preset: 'classroom', tokensPerParam: [20] }, 'grid.tokensPerParam', /at least 2/],
    ['a size the model resolver refuses', { id: 'gqa', model: { nKvHead: 4 } }, { preset: 'classroom' }, 'model.nKvHead', /^size 0 .*not divisible/],
    ['a recipe setting a size-rule field', { id: 'r', model: { nLayer: 3 } }, { preset: 'classroom' }, 'recipe.model.nLayer', /size rule/],
    ['a recipe setting the learning rate', { id: 'r', optim: { lr: 1e-3 } }, { preset: 'classroom' }, 'recipe.optim.lr', /recipe.lrSearch/],
    ['a recipe field of the wrong type', { id: 'r', model: { mlp: 'relu' } }, { preset: 'classroom' }, 'recipe.model.mlp', /one of/],
    ['a recipe part the grid owns', { id: 'r', train: { steps: 5 } } as Recipe, { preset: 'classroom' }, 'recipe.train', /not a recipe part/],
    ['a recipe that is no object', null as never, { preset: 'classroom' }, 'recipe', /must be an object/],
    ['a recipe without a usable id', { id: 'a b' }, { preset: 'classroom' }, 'recipe.id', /letters/],
    ['an unknown grid setting', undefined, { preset: 'classroom', batch: 4 } as GridInput, 'grid.batch', /not a known setting \(did you mean 'batchSize'\?\)/],
    ['sizes that are no object', undefined, { preset: 'classroom', sizes: 5 as never }, 'grid.sizes', /must be an object/],
    ['a grid that is no object', undefined, null as never, 'grid', /preset name or an object/],
    ['an unknown preset', undefined, { preset: 'huge' as PresetName }, 'grid.preset', /known: classroom, quick/],
    ['a run the run resolver refuses', undefined, { preset: 'classroom', data: { tokenizer: 'words' } }, 'data.tokenizer', /^run default\/size0\/d5\/seed1: data.tokenizer must be one of/],
  ];
  for (const [what, recipe, grid, field, message] of cases) {
    it(`refuses ${what}, naming ${field}`, () => {
      const e = refusal(() => planGrid(recipe, grid));
      expect(e.field).toBe(field);
      expect(e.message).toMatch(message);
    });
  }
});

describe('evaluation steps', () => {
  it('are log-spaced from step 1 to the last step, distinct and ascending', () => {
    expect(evalSteps(1000, 4)).toEqual([1, 10, 100, 1000]);
    expect(evalSteps(3, 8)).toEqual([1, 2, 3]);
    expect(evalSteps(1, 8)).toEqual([1]);
    const s = evalSteps(5972, 8);
    expect(s).toHaveLength(8);
    expect(s[s.length - 1]).toBe(5972);
    s.forEach((step, i) => expect(Math.abs(step - 5972 ** (i / 7))).toBeLessThanOrEqual(0.5)); // the log grid, rounded to whole steps
  });

  it('logGrid spaces values evenly in log', () => {
    const g = logGrid(1e-4, 1e-2, 5);
    expect(g[0]).toBeCloseTo(1e-4, 18);
    expect(g[4]).toBeCloseTo(1e-2, 16);
    expect(g[1]! / g[0]!).toBeCloseTo(g[3]! / g[2]!, 12);
  });
});

describe('interpolateLr', () => {
  const tuned = [{ nonEmbedding: 1e6, lr: 1e-3 }, { nonEmbedding: 1e4, lr: 1e-2 }];

  it('is exact at the tuned sizes and a straight line in (log N, log lr) between them', () => {
    const [a, mid, quarter, b] = interpolateLr([1e4, 1e5, 10 ** 4.5, 1e6], tuned);
    expect(a).toBeCloseTo(1e-2, 15);
    expect(b).toBeCloseTo(1e-3, 15);
    expect(mid).toBeCloseTo(Math.sqrt(1e-2 * 1e-3), 15);
    expect(quarter).toBeCloseTo(1e-2 * 10 ** -0.25, 15);
  });

  it('goes piecewise through more than two tuned sizes', () => {
    const three = [...tuned, { nonEmbedding: 1e5, lr: 1e-2 }];
    const [flat, down] = interpolateLr([10 ** 4.5, 10 ** 5.5], three);
    expect(flat).toBeCloseTo(1e-2, 15);
    expect(down).toBeCloseTo(Math.sqrt(1e-2 * 1e-3), 15);
  });

  it('refuses to extrapolate, fewer than 2 tuned sizes, two picks at one size, and non-positive values', () => {
    expect(refusal(() => interpolateLr([2e6], tuned)).message).toMatch(/outside the tuned range/);
    expect(refusal(() => interpolateLr([9e3], tuned)).field).toBe('sizes[0]');
    expect(refusal(() => interpolateLr([1e5], tuned.slice(0, 1))).field).toBe('tunedLr');
    expect(refusal(() => interpolateLr([1e5], [...tuned, { nonEmbedding: 1e6, lr: 2e-3 }])).message).toMatch(/same size/);
    expect(refusal(() => interpolateLr([1e5], [...tuned, { nonEmbedding: 1e5, lr: 0 }])).message).toMatch(/positive/);
  });
});

describe('pickLr', () => {
  it('takes the lowest final loss, ignores diverged runs, and says when the pick is at the edge of the grid', () => {
    expect(pickLr([{ lr: 3e-3, loss: 2.1 }, { lr: 1e-3, loss: 2.3 }, { lr: 1e-2, loss: 2.2 }])).toEqual({ lr: 3e-3, loss: 2.1, atEdge: false });
    expect(pickLr([{ lr: 1e-3, loss: NaN }, { lr: 3e-3, loss: 2.4 }, { lr: 1e-2, loss: 2.2 }])).toEqual({ lr: 1e-2, loss: 2.2, atEdge: true });
    expect(pickLr([{ lr: 1e-3, loss: 2.2 }, { lr: 3e-3, loss: NaN }, { lr: 1e-2, loss: 2.4 }]).lr).toBe(1e-3);
    expect(refusal(() => pickLr([{ lr: 1, loss: NaN }, { lr: 2, loss: Infinity }, { lr: 3, loss: NaN }])).message).toMatch(/diverged/);
    expect(refusal(() => pickLr([{ lr: 1, loss: 2 }, { lr: 2, loss: 1 }])).field).toBe('lrSearch');
  });
});

describe('throughput', () => {
  const small = resolveModelConfig({ nLayer: 1, nEmbd: 32, nHead: 2, vocabSize: 259 });
  const large = resolveModelConfig({ nLayer: 4, nEmbd: 128, nHead: 8, vocabSize: 259 });
  const middle = resolveModelConfig({ nLayer: 2, nEmbd: 64, nHead: 4, vocabSize: 259 });
  const planted = (overhead: number, rate: number) => (m: typeof small) => 1 / (overhead + flopsPerToken(m) / rate);

  it('a FLOP rate gives tokens/s ∝ 1 / flopsPerToken', () => {
    const t = flopRateThroughput(1e9);
    expect(t(small)).toBeCloseTo(1e9 / flopsPerToken(small), 9);
    expect(t(small) / t(large)).toBeCloseTo(flopsPerToken(large) / flopsPerToken(small), 9);
    expect(refusal(() => flopRateThroughput(0)).field).toBe('throughput.flopsPerSecond');
  });

  it('fitted from two measured sizes, recovers a planted per-token overhead and FLOP rate and predicts a third size', () => {
    const truth = planted(2e-5, 3e9);
    const fit = fitThroughput({ model: large, tokensPerSecond: truth(large) }, { model: small, tokensPerSecond: truth(small) });
    expect(fit.overheadSeconds).toBeCloseTo(2e-5, 12);
    expect(fit.flopsPerSecond / 3e9).toBeCloseTo(1, 9);
    expect(fit(middle) / truth(middle)).toBeCloseTo(1, 9);
    const proportional = planted(0, 5e8);
    const p = fitThroughput({ model: small, tokensPerSecond: proportional(small) }, { model: large, tokensPerSecond: proportional(large) });
    expect(p.overheadSeconds).toBeCloseTo(0, 15);
    expect(p(middle) / proportional(middle)).toBeCloseTo(1, 9);
  });

  it('drops a negative fitted overhead and keeps the larger model\'s measured speed', () => {
    const fit = fitThroughput({ model: small, tokensPerSecond: 10 * 1e9 / flopsPerToken(small) }, { model: large, tokensPerSecond: 1e9 / flopsPerToken(large) });
    expect(fit.overheadSeconds).toBe(0);
    expect(fit(large)).toBeCloseTo(1e9 / flopsPerToken(large), 9);
  });

  it('refuses measurements that cannot determine the model', () => {
    expect(refusal(() => fitThroughput({ model: small, tokensPerSecond: 100 }, { model: small, tokensPerSecond: 90 })).message).toMatch(/same FLOPs per token/);
    expect(refusal(() => fitThroughput({ model: small, tokensPerSecond: 100 }, { model: large, tokensPerSecond: 100 })).message).toMatch(/larger model/);
    expect(refusal(() => fitThroughput({ model: small, tokensPerSecond: 0 }, { model: large, tokensPerSecond: 1 })).field).toBe('throughput[0].tokensPerSecond');
    expect(refusal(() => planGrid(undefined, 'classroom', { throughput: () => NaN })).field).toBe('throughput');
  });
});
