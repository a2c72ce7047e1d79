/**
 * The study planner (pure): a StudySpec → every recipe's GridPlan → the StudyRun records the engine runs one at a
 * time, the plan summary the page shows before starting, and the state transitions between runs (the learning-rate
 * picks, resume after a reload). The state keeps no run configs: a run's config is planGrid's for its id, re-planned
 * with the recipe's tuned rates (planning is deterministic), so the stored state stays small and can never disagree
 * with the planner.
 *
 * Learning-rate search: a recipe's picks are taken once all its search runs finished. A pick on the edge of the
 * searched range (the best rate may lie beyond it) first extends the search at that size by one run a log step
 * further out (the grid's own step there), up to MAX_LR_EXTENSIONS per size; the extra runs queue before every grid
 * run and count as search compute. A pick still on the edge after that is kept with atEdge, and the page says so.
 *
 * Order: all recipes' learning-rate search runs first (their picks set the grid's rates), then the grid's runs by
 * size ascending, then seed, then budget, interleaved across recipes, so that a cancelled or half-done study still
 * holds every recipe's small sizes.
 */
import { optimizerFlopsPerStep } from '../train/param-groups';
import { ConfigError, hasOwn } from '../model/validate';
import { lrBeyond, planGrid, type ExtraLr, type GridInput, type GridPlan, type PlannedRun, type PresetName } from './grid';
import { pickLr, type TunedLr } from './grid-sizes';
import { BASELINE_RECIPE, findRecipe, plannerRecipe, RECIPES } from './recipes';
import type { StudyPlanSummary, StudyRun, StudySpec, StudyState } from './study';
import type { Throughput } from './throughput';

/** A validated spec: known, distinct recipe ids with the baseline among them. */
export interface ResolvedStudySpec extends StudySpec {
  baseline: string;
}

const SPEC_KEYS = ['recipes', 'grid', 'baseline'];

/** Checks a spec from a message; the baseline is added (first) when the recipes leave it out: it is always run. */
export function resolveStudySpec(input: unknown): ResolvedStudySpec {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new ConfigError('study must be an object with recipes and a grid', 'study');
  for (const k of Object.keys(input)) {
    if (!SPEC_KEYS.includes(k)) throw new ConfigError(`study.${k} is not a study setting; known: ${SPEC_KEYS.join(', ')}`, `study.${k}`);
  }
  const spec = input as Partial<StudySpec>;
  const known = RECIPES.map((r) => r.id).join(', ');
  const baseline = spec.baseline ?? BASELINE_RECIPE;
  if (typeof baseline !== 'string' || !findRecipe(baseline)) throw new ConfigError(`study.baseline ${JSON.stringify(baseline)?.slice(0, 40)} is not a recipe; known: ${known}`, 'study.baseline');
  const recipes: unknown = spec.recipes;
  if (!Array.isArray(recipes) || recipes.length === 0) throw new ConfigError(`study.recipes must be a non-empty list of recipe ids (${known})`, 'study.recipes');
  recipes.forEach((id, i) => {
    if (typeof id !== 'string' || !findRecipe(id)) throw new ConfigError(`study.recipes[${i}] ${JSON.stringify(id)?.slice(0, 40)} is not a recipe; known: ${known}`, `study.recipes[${i}]`);
    if (recipes.indexOf(id) !== i) throw new ConfigError(`study.recipes lists ${id} twice: give each recipe once`, `study.recipes[${i}]`);
  });
  const grid = hasOwn(spec, 'grid') ? spec.grid : undefined;
  if (grid === undefined) throw new ConfigError("study.grid is missing: name a preset ('classroom', 'quick') or give a grid", 'study.grid');
  const ids = recipes as string[];
  return { recipes: ids.includes(baseline) ? [...ids] : [baseline, ...ids], grid: grid as PresetName | GridInput, baseline };
}

/** Extra search runs a size may get when its pick stays on the edge of the searched range. */
export const MAX_LR_EXTENSIONS = 2;

/**
 * Every recipe's grid plan (ConfigErrors name the recipe). `tunedLr`: the picks of recipes whose search finished;
 * `lrExtra`: the rates added to recipes' searches (StudyState.lrExtra).
 */
export function planRecipes(
  spec: ResolvedStudySpec,
  options: { throughput?: Throughput; tunedLr?: Record<string, TunedLr[]>; lrExtra?: Record<string, ExtraLr[]> } = {},
): Map<string, GridPlan> {
  const plans = new Map<string, GridPlan>();
  for (const id of spec.recipes) {
    // a recipe whose search found no rate (an empty pick list) plans with the search's middle value
    const picks = options.tunedLr && hasOwn(options.tunedLr, id) ? options.tunedLr[id] : undefined;
    const tunedLr = picks?.length ? picks : undefined;
    try {
      const extraLr = options.lrExtra && hasOwn(options.lrExtra, id) ? options.lrExtra[id] : undefined;
      plans.set(id, planGrid(plannerRecipe(findRecipe(id)!), spec.grid, { throughput: options.throughput, tunedLr, extraLr }));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      throw new ConfigError(`recipe ${id}: ${e.message}`, e.field);
    }
  }
  return plans;
}

/** Muon's Newton–Schulz FLOPs over a planned run's steps (0 for AdamW). */
export function plannedOptimizerFlops(run: PlannedRun): number {
  return run.steps * optimizerFlopsPerStep(run.config.model, run.config.optim);
}

/**
 * Per recipe, what the study will cost. Disjoint parts: trainFlops and evalFlops of the grid's runs; lrSearchFlops
 * of the search's runs (training, evaluation and optimizer); optimizerFlops of the grid's runs (Muon); allInFlops
 * their sum. Seconds from the throughput model (the optimizer's time is inside a measured throughput).
 */
export function planSummary(plans: ReadonlyMap<string, GridPlan>, timeBasis: StudyPlanSummary['timeBasis']): StudyPlanSummary {
  const recipes = [...plans.values()].map((p) => {
    const optimizerFlops = p.runs.reduce((s, r) => s + plannedOptimizerFlops(r), 0);
    const lrSearchFlops = p.totals.lrSearchFlops + p.lrSearch.reduce((s, r) => s + plannedOptimizerFlops(r), 0);
    return {
      recipe: p.recipe, runs: p.runs.length, lrSearchRuns: p.lrSearch.length,
      trainFlops: p.totals.trainFlops, evalFlops: p.totals.evalFlops, lrSearchFlops, optimizerFlops,
      allInFlops: p.totals.trainFlops + p.totals.evalFlops + lrSearchFlops + optimizerFlops,
      seconds: p.estimate.seconds,
    };
  });
  return { recipes, totalSeconds: recipes.reduce((s, r) => s + r.seconds, 0), timeBasis };
}

function studyRun(recipe: string, r: PlannedRun): StudyRun {
  const { config: _config, ...planned } = r;
  return { ...planned, recipe, status: 'queued', curve: [], optimizerFlops: plannedOptimizerFlops(r), wallSeconds: 0 };
}

/** The runs in the order they train (see the file's comment). */
export function orderRuns(plans: ReadonlyMap<string, GridPlan>): StudyRun[] {
  const order = [...plans.keys()];
  const search = [...plans.entries()].flatMap(([id, p]) => p.lrSearch.map((r, i) => ({ run: studyRun(id, r), i })));
  // the search's runs: smallest size's rates of every recipe, then the largest's
  search.sort((a, b) => a.run.size - b.run.size || a.i - b.i || order.indexOf(a.run.recipe) - order.indexOf(b.run.recipe));
  const grid = [...plans.entries()].flatMap(([id, p]) => p.runs.map((r) => studyRun(id, r)));
  grid.sort((a, b) => a.size - b.size || a.seed - b.seed || a.tokensPerParam - b.tokensPerParam || order.indexOf(a.recipe) - order.indexOf(b.recipe));
  return [...search.map((s) => s.run), ...grid];
}

/** A fresh study: every run queued, nothing tuned. */
export function newStudyState(input: unknown, info: { id: string; adapter: string; now: number }): StudyState {
  const spec = resolveStudySpec(input);
  return {
    id: info.id, spec, phase: 'lr-search', status: 'running', runs: orderRuns(planRecipes(spec)), tunedLr: {},
    adapter: info.adapter, createdAt: info.now, updatedAt: info.now,
  };
}

/** The final validation loss a search run reached (NaN when it failed, diverged or has no points). */
function finalLoss(run: StudyRun): number {
  const last = run.curve[run.curve.length - 1];
  return run.status === 'done' && last ? last.loss : NaN;
}

const finished = (r: StudyRun) => r.status === 'done' || r.status === 'failed';

/**
 * Once all of `recipe`'s search runs have finished: picks the rate with the lowest final loss at each searched size
 * (pickLr). A pick on the edge of the searched rates at a size with fewer than MAX_LR_EXTENSIONS extensions queues
 * one more search run there (see the file's comment) and returns false: the picks wait for it. Otherwise stores
 * them in state.tunedLr and gives the recipe's queued grid runs their interpolated rates. A search with no finite
 * loss at a size fails the recipe's grid runs with the reason. Returns whether it tuned.
 */
export function applyLrSearch(state: StudyState, recipe: string): boolean {
  if (hasOwn(state.tunedLr, recipe)) return false;
  const search = state.runs.filter((r) => r.recipe === recipe && r.kind === 'lr-search');
  if (search.length === 0 || !search.every(finished)) return false;
  const grid = state.runs.filter((r) => r.recipe === recipe && r.kind === 'grid');
  const sizes = [...new Set(search.map((r) => r.size))];
  const extra = state.lrExtra && hasOwn(state.lrExtra, recipe) ? state.lrExtra[recipe]! : [];
  let tuned: TunedLr[];
  const extend: ExtraLr[] = [];
  try {
    tuned = sizes.map((size) => {
      const at = search.filter((r) => r.size === size);
      const pick = pickLr(at.map((r) => ({ lr: r.lr, loss: finalLoss(r) })));
      if (pick.atEdge && extra.filter((x) => x.size === size).length < MAX_LR_EXTENSIONS) {
        const rates = at.map((r) => r.lr).sort((a, b) => a - b);
        const top = pick.lr === rates[rates.length - 1];
        const lr = lrBeyond(pick.lr, top ? rates[rates.length - 2]! : rates[1]!);
        if (lr !== null) extend.push({ size, lr });
      }
      return { nonEmbedding: at[0]!.nonEmbedding, lr: pick.lr, atEdge: pick.atEdge };
    });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const r of grid) if (r.status === 'queued') Object.assign(r, { status: 'failed', error: `recipe ${recipe}: ${e.message}` });
    state.tunedLr[recipe] = [];
    return true;
  }
  const spec = resolveStudySpec(state.spec);
  if (extend.length > 0) {
    const lrExtra = { ...state.lrExtra, [recipe]: [...extra, ...extend] };
    const plan = planRecipes({ ...spec, recipes: [recipe] }, { lrExtra }).get(recipe)!;
    const known = new Set(state.runs.map((r) => r.id));
    const added = plan.lrSearch.filter((r) => !known.has(r.id)).map((r) => studyRun(recipe, r));
    const at = state.runs.reduce((last, r, i) => (r.kind === 'lr-search' ? i : last), -1) + 1; // before every grid run
    state.runs.splice(at, 0, ...added);
    state.lrExtra = lrExtra;
    return false;
  }
  state.tunedLr[recipe] = tuned;
  const plan = planRecipes({ ...spec, recipes: [recipe] }, { tunedLr: state.tunedLr, lrExtra: state.lrExtra }).get(recipe)!;
  const lrById = new Map(plan.runs.map((r) => [r.id, r.lr]));
  for (const r of grid) if (r.status === 'queued') r.lr = lrById.get(r.id) ?? r.lr;
  return true;
}

/** The next run to train: the first queued one (searches come first, so a grid run's rate is set by then). */
export function nextRun(state: StudyState): StudyRun | undefined {
  return state.runs.find((r) => r.status === 'queued' && (r.kind === 'lr-search' || hasOwn(state.tunedLr, r.recipe)));
}

/** Phase and status from the runs: 'done' once nothing is queued or running. */
export function settlePhase(state: StudyState): void {
  const open = state.runs.filter((r) => r.status === 'queued' || r.status === 'running');
  state.phase = open.length === 0 ? 'done' : open.some((r) => r.kind === 'lr-search') ? 'lr-search' : 'grid';
  if (open.length === 0 && state.status === 'running') state.status = 'done';
}

/** Marks every queued or running run cancelled and the study cancelled. */
export function cancelStudy(state: StudyState): void {
  for (const r of state.runs) if (r.status === 'queued' || r.status === 'running') r.status = 'cancelled';
  state.status = 'cancelled';
}

/**
 * A stored study made ready to continue: the run that was in progress when the page closed restarts from step 0
 * (a study keeps no mid-run checkpoints: its runs are short, and a restart keeps every curve from one process), and
 * cancelled runs are queued again. Searches that finished but were not yet applied are applied.
 */
export function resumeStudy(state: StudyState): void {
  for (const r of state.runs) {
    if (r.status === 'running' || r.status === 'cancelled') Object.assign(r, { status: 'queued', curve: [], wallSeconds: 0 });
  }
  state.status = 'running';
  state.error = undefined;
  for (const id of new Set(state.runs.map((r) => r.recipe))) applyLrSearch(state, id);
  settlePhase(state);
}

/** The planned config of a study run (its id re-planned with the recipe's tuned rates). */
export function runConfigOf(state: StudyState, run: StudyRun): PlannedRun {
  const spec = resolveStudySpec(state.spec);
  const plan = planRecipes({ ...spec, recipes: [run.recipe] }, { tunedLr: state.tunedLr, lrExtra: state.lrExtra }).get(run.recipe)!;
  const planned = [...plan.lrSearch, ...plan.runs].find((r) => r.id === run.id);
  if (!planned) throw new ConfigError(`study run ${run.id} is not in its recipe's plan (was the stored study made by another version?): clear the study and start again`, 'study');
  return planned;
}
