/**
 * The scaling lab's recipes: config deltas over the project's defaults, built from three ingredients over a
 * GPT-2-style baseline, so that each recipe differs from the baseline in exactly the ingredients it names.
 *
 *   block      GPT-2 (learned positions, LayerNorm, biases, GELU MLP of 4·C, GPT-2 init)
 *              or modern (RoPE, RMSNorm, SwiGLU, no biases, QK-norm, zero-initialised output projections)
 *   optimizer  AdamW, or Muon on the hidden matrices (AdamW on the rest); warmup + cosine either way
 *   MLP        dense, or MoE in every block (E = 4, top-1) at equal active ('dense' expert width) or equal
 *              total ('split': 1/E of it) parameters
 *
 * Every recipe searches the same learning rates (the grid's lrSearch, interpolated between the smallest and
 * largest size): Muon's matrices run at optim.muonLrScale × that rate, so one searched rate serves both groups and
 * no recipe needs its own grid. A recipe that did would set `lrSearch` here with the reason beside it.
 */
import type { Recipe } from './grid';

export type RecipeGroup = 'baseline' | 'single' | 'all' | 'leave-one-out';
export type Ingredient = 'modern' | 'muon' | 'moe';

/** A recipe of the table: the planner's delta plus what the page shows. */
export interface RecipeInfo extends Recipe {
  label: string;
  description: string;
  group: RecipeGroup;
  /** The ingredients it adds to the baseline (moe-total's MoE counts as 'moe'). */
  ingredients: Ingredient[];
}

const GPT2_BLOCK = {
  positions: 'learned', norm: 'layernorm', bias: true, mlp: 'gelu', tiedEmbeddings: true, qkNorm: false, zeroInitProjections: false,
} as const;
const MODERN_BLOCK = {
  positions: 'rope', norm: 'rmsnorm', bias: false, mlp: 'swiglu', tiedEmbeddings: true, qkNorm: true, zeroInitProjections: true,
} as const;
const DENSE = { moeEvery: 0 } as const;
const MOE = { moeEvery: 1, moeExperts: 4, moeTopK: 1 } as const;

function recipe(
  id: string, label: string, group: RecipeGroup, description: string,
  parts: { modern?: boolean; muon?: boolean; moe?: 'dense' | 'split' },
): RecipeInfo {
  const ingredients: Ingredient[] = [];
  if (parts.modern) ingredients.push('modern');
  if (parts.muon) ingredients.push('muon');
  if (parts.moe) ingredients.push('moe');
  return {
    id, label, group, description, ingredients,
    model: { ...(parts.modern ? MODERN_BLOCK : GPT2_BLOCK), ...(parts.moe ? MOE : DENSE) },
    optim: { optimizer: parts.muon ? 'muon' : 'adamw', schedule: 'cosine' },
    ...(parts.moe ? { mlpWidth: parts.moe } : {}),
  };
}

export const RECIPES: readonly RecipeInfo[] = [
  recipe('baseline', 'Baseline (GPT-2)', 'baseline', 'learned positions, LayerNorm, biases, GELU MLP of 4·C, tied head, AdamW, warmup + cosine', {}),
  recipe('modern', 'Modern block', 'single', 'RoPE, RMSNorm, SwiGLU, no biases, QK-norm, zero-initialised output projections', { modern: true }),
  recipe('muon', 'Muon', 'single', 'the baseline with Muon on the hidden matrices (AdamW on embeddings, norms and biases)', { muon: true }),
  recipe('moe-active', 'MoE, equal active', 'single', 'every block 4 experts, top-1, each as wide as the dense MLP: the same active parameters', { moe: 'dense' }),
  recipe('moe-total', 'MoE, equal total', 'single', 'every block 4 experts, top-1, each a quarter of the dense MLP: the same total parameters', { moe: 'split' }),
  recipe('spark', 'Spark (all)', 'all', 'modern block + Muon + MoE at equal active parameters', { modern: true, muon: true, moe: 'dense' }),
  recipe('spark-no-modern', 'Spark − modern block', 'leave-one-out', 'Spark with the GPT-2 block: Muon + MoE', { muon: true, moe: 'dense' }),
  recipe('spark-no-muon', 'Spark − Muon', 'leave-one-out', 'Spark with AdamW: modern block + MoE', { modern: true, moe: 'dense' }),
  recipe('spark-no-moe', 'Spark − MoE', 'leave-one-out', 'Spark with a dense MLP: modern block + Muon', { modern: true, muon: true }),
];

export const BASELINE_RECIPE = 'baseline';

/** The recipe with this id, or undefined. */
export function findRecipe(id: string): RecipeInfo | undefined {
  return RECIPES.find((r) => r.id === id);
}

/** The planner's part of a recipe (planGrid refuses the page's fields as unknown recipe parts). */
export function plannerRecipe(info: RecipeInfo): Recipe {
  const { label: _l, description: _d, group: _g, ingredients: _i, ...recipe } = info;
  return recipe;
}
