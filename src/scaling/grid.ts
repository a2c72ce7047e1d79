/**
 * The sweep grid planner of a scaling study: sizes (grid-sizes.ts) × token budgets × seeds per recipe, plus the
 * learning-rate search, as run configs the existing resolvers accept, with FLOPs counted by flopsPerToken and a
 * time estimate from a throughput model. Pure: no GPU, no queue (the engine runs the plan).
 *
 * Token rule: a size with N non-embedding parameters is trained for tokensPerParam·N tokens for each listed
 * multiple (a log grid, e.g. 5, 10, 20), and the largest multiple must reach optimalTokensPerParam (default 20,
 * Chinchilla's D ≈ 20·N). Chinchilla's ratio was measured on large models and counts all parameters; at toy scale
 * the estimates vary and are mostly lower (Kaplan et al.), so 20 on non-embedding parameters is taken as a
 * generous estimate of the compute-optimal point, which every size's longest run then reaches.
 *
 * Learning rate: the search trains each value of lrSearch (≥ 3, a log grid) at the smallest and the largest size
 * for the compute-optimal budget, one seed; those runs are extra compute, charged to the all-in total. The grid's
 * runs take interpolateLr between the two picks; until the picks are given they use the search's middle value.
 * A pick on the edge of the searched range may lie beyond it: the study then extends the search at that size one
 * log step at a time (options.extraLr, see study-plan.ts), each extra run charged to the search like the others.
 */
import { flopsPerToken, modelSchema, type ModelConfig } from '../model/config';
import { ConfigError, hasOwn, resolve, type Resolved, type Schema } from '../model/validate';
import { optimSchema, resolveRunConfig, seedSpec, trainSchema, type RunConfig } from '../train/config';
import { interpolateLr, MLP_WIDTHS, sizeLadder, type MlpWidth, type Size, type TunedLr } from './grid-sizes';
import { flopRateThroughput, LAPTOP_FLOPS_PER_SECOND, type Throughput } from './throughput';

export const gridSchema = {
  optimalTokensPerParam: {
    type: 'number', default: 20, min: 0.01, max: 10_000,
    doc: "training tokens per non-embedding parameter at the compute-optimal point (Chinchilla's 20); the longest budget of every size must reach it",
  },
  batchSize: { ...trainSchema.batchSize, default: 8 },
  evalPoints: { type: 'int', default: 8, min: 2, max: 64, doc: 'validation points per run, log-spaced in steps, the last step included' },
  evalBatches: { ...trainSchema.evalBatches, default: 4 },
  warmupFraction: { type: 'number', default: 0.05, min: 0, max: 0.5, doc: 'linear warmup as a share of each run\'s steps' },
} as const satisfies Schema;

/** Lists of the grid; each refused below its minimum length, the length the scaling study needs. */
const LISTS = {
  tokensPerParam: { default: [5, 10, 20], minLength: 2, maxLength: 12, min: 0.01, max: 1e5, int: false, doc: 'token budgets per size as multiples of its non-embedding parameters (a log grid)' },
  seeds: { default: [1, 2], minLength: 2, maxLength: 16, min: seedSpec.min, max: seedSpec.max, int: true, doc: 'seeds of every (size, budget)' },
  lrSearch: { default: [1e-3, 3e-3, 1e-2], minLength: 3, maxLength: 12, min: 1e-8, max: optimSchema.lr.max, int: false, doc: 'learning rates searched at the smallest and largest size (a log grid)' },
} as const;

type ListName = keyof typeof LISTS;

/** A grid as given: every part optional (defaults above and in sizeSchema), `preset` the base it overrides. */
export interface GridInput {
  preset?: PresetName;
  sizes?: Record<string, unknown>;
  tokensPerParam?: number[];
  seeds?: number[];
  lrSearch?: number[];
  data?: Record<string, unknown>;
  optimalTokensPerParam?: number;
  batchSize?: number;
  evalPoints?: number;
  evalBatches?: number;
  warmupFraction?: number;
}

/** A recipe: a config delta over the project's defaults; the grid owns sizes, steps, batch, lr and warmup. */
export interface Recipe {
  id: string;
  model?: Record<string, unknown>;
  optim?: Record<string, unknown>;
  /** The learning rates to search for this recipe (optimizers differ in scale); default the grid's. */
  lrSearch?: number[];
  /** The MLP (or each expert's) width relative to the size's dense default; default 'dense' (see MlpWidth). */
  mlpWidth?: MlpWidth;
}

/** A rate added to the search at one searched size (its index) after the pick fell on the range's edge. */
export interface ExtraLr {
  size: number;
  lr: number;
}

/** The rate one log step beyond the edge `edge` of a search whose neighbour is `inner`, or null outside the allowed range. */
export function lrBeyond(edge: number, inner: number): number | null {
  const lr = (edge * edge) / inner;
  return lr >= LISTS.lrSearch.min && lr <= LISTS.lrSearch.max && Number.isFinite(lr) ? lr : null;
}

export interface PlannedRun {
  id: string;
  kind: 'grid' | 'lr-search';
  size: number;
  nonEmbedding: number;
  /** The token budget as a multiple of nonEmbedding (the search's: optimalTokensPerParam). */
  tokensPerParam: number;
  tokens: number;
  steps: number;
  seed: number;
  lr: number;
  /** Steps at which validation loss is measured: log-spaced, ascending, the last step included. */
  evalSteps: number[];
  /** flopsPerToken × tokens trained. */
  trainFlops: number;
  /** Forward FLOPs of the evaluations, evalSteps.length × evalBatches·B·T tokens × flopsPerToken / 3 (an upper bound: a
   *  validation split shorter than evalBatches batches is evaluated whole). */
  evalFlops: number;
  /** Estimated seconds under the plan's throughput model, evaluation charged at the same FLOP rate. */
  seconds: number;
  config: RunConfig;
}

export interface GridPlan {
  recipe: string;
  sizes: Size[];
  /** False until the search's picks are passed (options.tunedLr): the grid's runs then use the search's middle value. */
  lrTuned: boolean;
  runs: PlannedRun[];
  lrSearch: PlannedRun[];
  /** FLOPs: the grid's training and its evaluations apart; the search's (training and evaluation) apart; all-in the sum. */
  totals: { trainFlops: number; evalFlops: number; lrSearchFlops: number; allInFlops: number };
  /** Seconds under the throughput model given (by default the assumed laptop GPU, LAPTOP_FLOPS_PER_SECOND). */
  estimate: { seconds: number; gridSeconds: number; lrSearchSeconds: number };
}

export type PresetName = 'classroom' | 'quick';

/**
 * The presets, sized so that the whole plan (grid, evaluations and learning-rate search) takes about their
 * target time on the assumed laptop GPU (LAPTOP_FLOPS_PER_SECOND, 50 GFLOP/s); on another adapter the plan
 * reports that adapter's (longer or shorter) time from the throughput model it is given.
 */
export const GRID_PRESETS: Record<PresetName, { targetSeconds: number; doc: string; grid: Omit<GridInput, 'preset'> }> = {
  classroom: {
    targetSeconds: 180,
    doc: 'about 3 minutes on a laptop GPU: 4 sizes from width 16 to 64, 2 seeds',
    grid: { sizes: { smallest: 16, growth: 1.6, headSize: 8, maxAspect: 32, contextLength: 32 } },
  },
  quick: {
    targetSeconds: 600,
    doc: 'about 10 minutes on a laptop GPU: 4 sizes from width 24 to 80, 2 seeds',
    grid: { sizes: { smallest: 24, growth: 1.5, headSize: 8, maxAspect: 48, contextLength: 64 } },
  },
};

/** n values from lo to hi, evenly spaced in log. */
export function logGrid(lo: number, hi: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) => (n === 1 ? lo : Math.exp(Math.log(lo) + (k / (n - 1)) * (Math.log(hi) - Math.log(lo)))));
}

/** Up to `count` distinct steps from 1 to `steps`, evenly spaced in log(step) and rounded; the last is `steps`. */
export function evalSteps(steps: number, count: number): number[] {
  const out = new Set<number>();
  for (let k = 0; k < count; k++) out.add(Math.min(steps, Math.max(1, Math.round(count === 1 ? steps : steps ** (k / (count - 1))))));
  return [...out].sort((a, b) => a - b);
}

function list(input: GridInput, key: ListName, path = 'grid'): number[] {
  const spec = LISTS[key];
  const v = hasOwn(input, key) ? input[key] : undefined;
  if (v === undefined) return [...spec.default];
  const field = `${path}.${key}`;
  if (!Array.isArray(v) || v.length > spec.maxLength || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= spec.min && x <= spec.max && (!spec.int || Number.isInteger(x)))) {
    throw new ConfigError(
      `${field} (${spec.doc}) must be a list of at most ${spec.maxLength} ${spec.int ? 'whole numbers' : 'numbers'} from ${spec.min} to ${spec.max}, got ${JSON.stringify(v)?.slice(0, 60)}`,
      field,
    );
  }
  const values = [...new Set(v as number[])].sort((a, b) => a - b);
  if (values.length < spec.minLength) {
    throw new ConfigError(`${field} (${spec.doc}) has ${values.length} distinct value${values.length === 1 ? '' : 's'}; a scaling study needs at least ${spec.minLength}`, field);
  }
  return values;
}

const NOT_SCALARS = ['preset', 'sizes', 'data', ...Object.keys(LISTS)];
const OWNED_OPTIM = ['lr', 'warmupSteps'] as const;

const RECIPE_KEYS = ['id', 'model', 'optim', 'lrSearch', 'mlpWidth'];

function checkRecipe(recipe: Recipe): void {
  if (recipe === null || typeof recipe !== 'object' || Array.isArray(recipe)) throw new ConfigError('recipe must be an object with an id', 'recipe');
  for (const k of Object.keys(recipe)) {
    if (!RECIPE_KEYS.includes(k)) throw new ConfigError(`recipe.${k} is not a recipe part; known: ${RECIPE_KEYS.join(', ')} (the grid sets the training loop)`, `recipe.${k}`);
  }
  if (typeof recipe.id !== 'string' || !/^[\w.-]{1,40}$/.test(recipe.id)) {
    throw new ConfigError(`recipe.id must be 1–40 letters, digits, '.', '_' or '-', got ${JSON.stringify(recipe.id)?.slice(0, 50)}`, 'recipe.id');
  }
  if (recipe.mlpWidth !== undefined && !MLP_WIDTHS.includes(recipe.mlpWidth)) {
    throw new ConfigError(`recipe.mlpWidth must be one of ${MLP_WIDTHS.join(', ')}, got ${JSON.stringify(recipe.mlpWidth)?.slice(0, 40)}`, 'recipe.mlpWidth');
  }
  resolve(modelSchema, recipe.model, 'recipe.model'); // types, ranges and unknown keys, under the recipe's own path
  resolve(optimSchema, recipe.optim, 'recipe.optim');
  for (const k of OWNED_OPTIM) {
    if (recipe.optim && hasOwn(recipe.optim, k)) {
      throw new ConfigError(`recipe.optim.${k} is set by the grid (${k === 'lr' ? 'give recipe.lrSearch to search other rates' : 'see grid.warmupFraction'}): remove it from the recipe`, `recipe.optim.${k}`);
    }
  }
}

/**
 * Plans a recipe's sweep on a preset or a custom grid (a custom one may name a preset to start from). Refuses,
 * with a ConfigError naming the field, a grid that cannot support a scaling fit: under 4 sizes, a span under 8× in
 * non-embedding parameters, under 2 seeds, under 3 searched learning rates, a size the model resolver refuses, or
 * budgets whose longest never reaches the compute-optimal point.
 */
export function planGrid(
  recipe: Recipe = { id: 'default' },
  grid: PresetName | GridInput = 'quick',
  options: { throughput?: Throughput; tunedLr?: readonly TunedLr[]; extraLr?: readonly ExtraLr[] } = {},
): GridPlan {
  const input = resolveGridInput(grid);
  checkRecipe(recipe);
  const scalars = Object.fromEntries(Object.entries(input).filter(([k]) => !NOT_SCALARS.includes(k)));
  const g: Resolved<typeof gridSchema> = resolve(gridSchema, scalars, 'grid'); // also refuses unknown keys
  const { sizes: sizeInput, data } = input;
  const budgets = list(input, 'tokensPerParam');
  const seeds = list(input, 'seeds');
  const lrs = recipe.lrSearch === undefined ? list(input, 'lrSearch') : list({ lrSearch: recipe.lrSearch }, 'lrSearch', 'recipe');
  const sizes = sizeLadder(sizeInput, recipe.model, 'grid.sizes', recipe.mlpWidth);
  const first = sizes[0]!;
  const last = sizes[sizes.length - 1]!;
  const span = last.nonEmbedding / first.nonEmbedding;
  if (span < 8) {
    throw new ConfigError(
      `grid.sizes spans ${span.toFixed(2)}× in non-embedding parameters (${first.nonEmbedding} to ${last.nonEmbedding}); a scaling fit needs at least 8×: raise grid.sizes.growth or grid.sizes.count`,
      'grid.sizes.growth',
    );
  }
  const longest = budgets[budgets.length - 1]!;
  if (longest < g.optimalTokensPerParam) {
    throw new ConfigError(
      `grid.tokensPerParam's longest budget ${longest}·N never reaches the compute-optimal point ${g.optimalTokensPerParam}·N (grid.optimalTokensPerParam): add a budget of at least ${g.optimalTokensPerParam}`,
      'grid.tokensPerParam',
    );
  }
  const throughput = options.throughput ?? flopRateThroughput(LAPTOP_FLOPS_PER_SECOND);
  const lrTuned = options.tunedLr !== undefined;
  const sizeLr = lrTuned ? interpolateLr(sizes.map((s) => s.nonEmbedding), options.tunedLr!) : sizes.map(() => lrs[Math.floor(lrs.length / 2)]!);

  const plan = (kind: PlannedRun['kind'], id: string, size: Size, tokensPerParam: number, seed: number, lr: number): PlannedRun => {
    const m: ModelConfig = size.model;
    const tokensPerStep = g.batchSize * m.contextLength;
    const steps = Math.max(1, Math.ceil((tokensPerParam * size.nonEmbedding) / tokensPerStep));
    const config = runConfig(id, recipe, m, data, { lr, warmupSteps: Math.round(g.warmupFraction * steps) }, { batchSize: g.batchSize, steps, evalBatches: g.evalBatches }, seed);
    const at = evalSteps(steps, g.evalPoints);
    const tokens = steps * tokensPerStep;
    const fpt = flopsPerToken(m);
    const evalTokens = at.length * g.evalBatches * g.batchSize * m.contextLength;
    const rate = throughput(m);
    if (!(rate > 0 && Number.isFinite(rate))) throw new ConfigError(`throughput: the model gave ${rate} tokens/s for size ${size.index}; it must be positive and finite`, 'throughput');
    return {
      id, kind, size: size.index, nonEmbedding: size.nonEmbedding, tokensPerParam, tokens, steps, seed, lr, evalSteps: at,
      trainFlops: fpt * tokens, evalFlops: (fpt / 3) * evalTokens, seconds: (tokens + evalTokens / 3) / rate, config,
    };
  };

  const runs: PlannedRun[] = [];
  for (const size of sizes) {
    for (const tpp of budgets) {
      for (const seed of seeds) runs.push(plan('grid', `${recipe.id}/size${size.index}/d${tpp}/seed${seed}`, size, tpp, seed, sizeLr[size.index]!));
    }
  }
  const lrSearch: PlannedRun[] = [];
  for (const size of [first, last]) {
    lrs.forEach((lr, k) => lrSearch.push(plan('lr-search', `${recipe.id}/lr-search/size${size.index}/lr${k}`, size, g.optimalTokensPerParam, seeds[0]!, lr)));
  }
  (options.extraLr ?? []).forEach((x, j) => {
    const size = x.size === first.index ? first : x.size === last.index ? last : undefined;
    if (!size || !(x.lr >= LISTS.lrSearch.min && x.lr <= LISTS.lrSearch.max)) {
      throw new ConfigError(
        `extra learning rate ${j} (size ${x.size}, lr ${x.lr}) must be at a searched size (${first.index} or ${last.index}) and from ${LISTS.lrSearch.min} to ${LISTS.lrSearch.max}`,
        `extraLr[${j}]`,
      );
    }
    lrSearch.push(plan('lr-search', `${recipe.id}/lr-search/size${size.index}/lrx${j}`, size, g.optimalTokensPerParam, seeds[0]!, x.lr));
  });
  const sum = (rs: PlannedRun[], f: (r: PlannedRun) => number): number => rs.reduce((acc, r) => acc + f(r), 0);
  const trainFlops = sum(runs, (r) => r.trainFlops);
  const evalFlops = sum(runs, (r) => r.evalFlops);
  const lrSearchFlops = sum(lrSearch, (r) => r.trainFlops + r.evalFlops);
  const gridSeconds = sum(runs, (r) => r.seconds);
  const lrSearchSeconds = sum(lrSearch, (r) => r.seconds);
  return {
    recipe: recipe.id, sizes, lrTuned, runs, lrSearch,
    totals: { trainFlops, evalFlops, lrSearchFlops, allInFlops: trainFlops + evalFlops + lrSearchFlops },
    estimate: { seconds: gridSeconds + lrSearchSeconds, gridSeconds, lrSearchSeconds },
  };
}

function resolveGridInput(grid: PresetName | GridInput): GridInput {
  const name = typeof grid === 'string' ? grid : grid?.preset;
  if (grid === null || (typeof grid !== 'string' && (typeof grid !== 'object' || Array.isArray(grid)))) throw new ConfigError('grid must be a preset name or an object', 'grid');
  if (name !== undefined && !hasOwn(GRID_PRESETS, name)) {
    throw new ConfigError(`grid.preset ${JSON.stringify(name)?.slice(0, 40)} is not a preset; known: ${Object.keys(GRID_PRESETS).join(', ')}`, 'grid.preset');
  }
  const base = name === undefined ? {} : GRID_PRESETS[name].grid;
  if (typeof grid === 'string') return base;
  const given: unknown = grid.sizes;
  if (given !== undefined && (given === null || typeof given !== 'object' || Array.isArray(given))) {
    throw new ConfigError(`grid.sizes must be an object of size-rule settings, got ${JSON.stringify(given)?.slice(0, 40)}`, 'grid.sizes'); // a spread would drop it silently
  }
  const sizes = base.sizes || grid.sizes ? { ...base.sizes, ...grid.sizes } : undefined;
  return { ...base, ...grid, ...(sizes ? { sizes } : {}) };
}

/** One run's config through the run-config resolver; a refusal names the run. */
function runConfig(
  id: string, recipe: Recipe, model: ModelConfig, data: Record<string, unknown> | undefined,
  optim: { lr: number; warmupSteps: number }, train: { batchSize: number; steps: number; evalBatches: number }, seed: number,
): RunConfig {
  try {
    // The trainer evaluates only at the last step (evalEvery = steps); the queue evaluates at the earlier evalSteps.
    return resolveRunConfig({
      model, data, seed,
      optim: { ...recipe.optim, ...optim },
      train: { ...train, gradAccum: 1, evalEvery: train.steps },
    });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new ConfigError(`run ${id}: ${e.message}`, e.field);
  }
}
