// The scaling lab's recipes: each resolves through the planner on both presets, differs from the baseline in exactly
// the ingredients it names, the two MoE recipes match the baseline's active or total parameters, and each counts its
// FLOPs (training with active parameters; Muon's optimizer FLOPs; none for AdamW).
import { describe, expect, it } from 'vitest';
import { countParams, flopsPerToken, type ModelConfig } from '../../src/model/config';
import { ConfigError } from '../../src/model/validate';
import { optimizerFlopsPerStep } from '../../src/train/param-groups';
import { GRID_PRESETS, planGrid, type PresetName } from '../../src/scaling/grid';
import { sizeLadder } from '../../src/scaling/grid-sizes';
import { findRecipe, plannerRecipe, RECIPES, type Ingredient } from '../../src/scaling/recipes';
import { planRecipes, planSummary, plannedOptimizerFlops, resolveStudySpec } from '../../src/scaling/study-plan';
import { refusal as refusalOf } from '../util/scaling-synthetic';

const PRESETS = Object.keys(GRID_PRESETS) as PresetName[];
const recipe = (id: string) => plannerRecipe(findRecipe(id)!);
const ladder = (id: string, preset: PresetName = 'quick') => sizeLadder(GRID_PRESETS[preset].grid.sizes, recipe(id).model, 'grid.sizes', recipe(id).mlpWidth);

const refusal = (f: () => unknown): ConfigError => refusalOf(f, ConfigError);

/** The fields each ingredient may change (model fields, and 'optim.*'). */
const INGREDIENT_FIELDS: Record<Ingredient, string[]> = {
  modern: ['positions', 'norm', 'bias', 'mlp', 'mlpHidden', 'qkNorm', 'zeroInitProjections'],
  muon: ['optim.optimizer'],
  moe: ['moeEvery', 'moeTopK', 'mlpHidden'],
};

function changed(a: { model: ModelConfig; optim: Record<string, unknown> }, b: { model: ModelConfig; optim: Record<string, unknown> }): Set<string> {
  const out = new Set<string>();
  for (const k of Object.keys(a.model) as (keyof ModelConfig)[]) if (a.model[k] !== b.model[k]) out.add(k);
  for (const k of Object.keys(a.optim)) if (k !== 'lr' && k !== 'warmupSteps' && a.optim[k] !== b.optim[k]) out.add(`optim.${k}`);
  return out;
}

describe('recipes', () => {
  it('has the baseline, the single ingredients, all together and the leave-one-outs, each with a label and a line', () => {
    expect(RECIPES.map((r) => `${r.group}:${r.id}`)).toEqual([
      'baseline:baseline', 'single:modern', 'single:muon', 'single:moe-active', 'single:moe-total', 'all:spark',
      'leave-one-out:spark-no-modern', 'leave-one-out:spark-no-muon', 'leave-one-out:spark-no-moe',
    ]);
    for (const r of RECIPES) {
      expect(r.label.length).toBeGreaterThan(2);
      expect(r.description).not.toMatch(/\n/);
      expect(r.lrSearch, `${r.id} searches the grid's rates like every recipe`).toBeUndefined();
    }
    const spark = findRecipe('spark')!.ingredients;
    for (const r of RECIPES.filter((x) => x.group === 'leave-one-out')) expect(r.ingredients).toHaveLength(spark.length - 1);
  });

  it('states the GPT-2 baseline: learned positions, LayerNorm, biases, GELU 4·C, tied head, AdamW with cosine', () => {
    const s = ladder('baseline')[0]!.model;
    expect(s).toMatchObject({ positions: 'learned', norm: 'layernorm', bias: true, mlp: 'gelu', mlpHidden: 4 * s.nEmbd, tiedEmbeddings: true, qkNorm: false, zeroInitProjections: false, moeEvery: 0 });
    expect(recipe('baseline').optim).toEqual({ optimizer: 'adamw', schedule: 'cosine' });
    expect(ladder('modern')[0]!.model).toMatchObject({ positions: 'rope', norm: 'rmsnorm', bias: false, mlp: 'swiglu', qkNorm: true, zeroInitProjections: true });
  });

  it.each(PRESETS)('every recipe resolves through planGrid on the %s preset and differs from the baseline in exactly its ingredients', (preset) => {
    const base = planGrid(recipe('baseline'), preset);
    for (const info of RECIPES) {
      const plan = planGrid(recipe(info.id), preset);
      expect(plan.runs.length).toBe(base.runs.length);
      plan.runs.forEach((run, i) => {
        const diff = changed(run.config, base.runs[i]!.config);
        const allowed = new Set(info.ingredients.flatMap((g) => INGREDIENT_FIELDS[g]));
        for (const f of diff) expect(allowed.has(f), `${info.id} changes ${f}`).toBe(true);
        for (const g of info.ingredients) expect(INGREDIENT_FIELDS[g].some((f) => diff.has(f) && f !== 'mlpHidden'), `${info.id} applies ${g}`).toBe(true);
      });
    }
  });

  it('moe-active matches the baseline\'s active parameters and moe-total its total parameters, both ± the router and the dense MLP\'s biases', () => {
    for (const preset of PRESETS) {
      const base = ladder('baseline', preset);
      const active = ladder('moe-active', preset);
      const total = ladder('moe-total', preset);
      base.forEach((b, i) => {
        const router = b.model.nLayer * b.model.nEmbd * 4;
        // the baseline's dense MLP has GPT-2's biases (wi: H, wo: C); experts have none (model.bias's doc)
        expect(b.model.bias).toBe(true);
        const mlpBiases = b.model.nLayer * (b.model.mlpHidden + b.model.nEmbd);
        const bp = countParams(b.model);
        expect(countParams(active[i]!.model).activePerToken).toBe(bp.activePerToken + router - mlpBiases);
        expect(countParams(total[i]!.model).total).toBe(bp.total + router - mlpBiases);
        expect(active[i]!.model.mlpHidden).toBe(b.model.mlpHidden);
        expect(total[i]!.model.mlpHidden).toBe(b.model.mlpHidden / 4);
      });
    }
    // the split is of the recipe's own dense width: SwiGLU's 8/3·C for a modern block
    const m = sizeLadder({ smallest: 48, headSize: 16 }, { mlp: 'swiglu', moeEvery: 1, moeExperts: 4, moeTopK: 1 }, 'grid.sizes', 'split')[0]!.model;
    expect(m.mlpHidden).toBe(128 / 4);
  });

  it("refuses an mlpWidth 'split' that is not every block MoE or that also sets mlpHidden, and an unknown width", () => {
    expect(refusal(() => planGrid({ id: 'x', model: { moeEvery: 2 }, mlpWidth: 'split' })).field).toBe('recipe.mlpWidth');
    expect(refusal(() => planGrid({ id: 'x', mlpWidth: 'split' })).message).toMatch(/needs recipe.model.moeEvery 1/);
    expect(refusal(() => planGrid({ id: 'x', model: { moeEvery: 1, mlpHidden: 64 }, mlpWidth: 'split' })).message).toMatch(/remove recipe.model.mlpHidden/);
    expect(refusal(() => planGrid({ id: 'x', mlpWidth: 'half' as 'split' })).field).toBe('recipe.mlpWidth');
  });

  it('counts FLOPs per recipe: training = flopsPerToken(active) × tokens; optimizer = steps × Muon FLOPs per step, 0 for AdamW', () => {
    const spec = resolveStudySpec({ recipes: RECIPES.map((r) => r.id), grid: 'classroom' });
    const plans = planRecipes(spec);
    const summary = planSummary(plans, 'assumed');
    for (const info of RECIPES) {
      const plan = plans.get(info.id)!;
      let optimizer = 0;
      for (const run of plan.runs) {
        const m = run.config.model;
        const active = countParams(m).activePerToken;
        // 6 per active matmul weight (tied head included, embedding lookups not) plus attention
        expect(run.trainFlops).toBe((6 * (active - countParams(m).positionEmbedding) + 6 * m.nLayer * m.contextLength * m.nEmbd) * run.tokens);
        expect(run.trainFlops).toBe(flopsPerToken(m) * run.tokens);
        const perStep = optimizerFlopsPerStep(m, run.config.optim);
        expect(perStep > 0).toBe(info.ingredients.includes('muon'));
        expect(plannedOptimizerFlops(run)).toBe(run.steps * perStep);
        optimizer += run.steps * perStep;
      }
      const row = summary.recipes.find((r) => r.recipe === info.id)!;
      expect(row.optimizerFlops).toBe(optimizer);
      expect(row.trainFlops).toBe(plan.totals.trainFlops);
      const searchOptimizer = plan.lrSearch.reduce((s, r) => s + plannedOptimizerFlops(r), 0);
      expect(row.lrSearchFlops).toBeCloseTo(plan.totals.lrSearchFlops + searchOptimizer, -3);
      expect(row.allInFlops).toBeCloseTo(row.trainFlops + row.evalFlops + row.lrSearchFlops + row.optimizerFlops, -3);
    }
    // an MoE at top-1 with dense-width experts trains at the baseline's FLOPs per token plus the router's, less the
    // dense MLP's biases (experts have none)
    const b = plans.get('baseline')!.runs[0]!;
    const a = plans.get('moe-active')!.runs[0]!;
    const bm = b.config.model;
    expect(a.trainFlops / a.tokens - b.trainFlops / b.tokens).toBe(6 * bm.nLayer * (bm.nEmbd * 4 - (bm.mlpHidden + bm.nEmbd)));
  });
});
