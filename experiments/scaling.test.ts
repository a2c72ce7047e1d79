/**
 * Experiment (not part of `npm test`): the scaling lab's multiplier table on this machine's adapter, run by the
 * engine's scaling runner (the page's code path) on the largest candidate (grid × recipes) whose estimated time fits
 * the budget (60 minutes by default). The estimate comes from a short measured warm-up of every recipe at the
 * candidate's batch size, at the smallest and the largest width (each recipe at its own speed, fitThroughput through the two) plus each run's
 * measured set-up (build, first steps and their compiles) times the number of runs; the experiment refuses to start
 * when no candidate fits. Results go to experiments/out/scaling.json (the study with every run's curve, the fits,
 * the plan) and experiments/out/scaling.md (the table); every line it prints starts with `[scaling]`.
 *
 * The candidates are toy-sized for a CPU adapter (SwiftShader: ~0.1–0.3 s per step whatever the width): widths 8 to
 * 28 (one layer each: depth ⌈C/32⌉), context 16, batch 32, 2 validation batches per point, and a compute-optimal point stated lower than Chinchilla's 20 tokens per parameter
 * (5 or 2.5: grid.optimalTokensPerParam, written into the table), which makes every size's longest run pass that
 * lowered point, not Chinchilla's. On a GPU the page's presets are the study to run.
 *
 *   npm run experiment -- experiments/scaling.test.ts                      the study (up to the budget)
 *   VITE_SCALING_DRY=1 npm run experiment -- experiments/scaling.test.ts   the plans on the assumed laptop GPU only
 *   VITE_SCALING_BUDGET_MIN=90 ...                                         another budget, in minutes
 *
 * The browser may not read /proc/loadavg: pass the load before as VITE_SCALING_LOAD="$(cat /proc/loadavg)".
 */
import { expect, it } from 'vitest';
import { commands } from 'vitest/browser';
import { Engine } from '../src/engine/engine';
import type { EngineEvent } from '../src/engine/protocol';
import { createRun } from '../src/engine/run';
import { StudyStore } from '../src/engine/scaling-store';
import type { Gpu } from '../src/gpu/device';
import type { GridInput } from '../src/scaling/grid';
import type { Multiplier } from '../src/scaling/multiplier';
import type { StudyFits, StudyPlanSummary, StudyState } from '../src/scaling/study';
import { planRecipes, planSummary, resolveStudySpec, runConfigOf, newStudyState } from '../src/scaling/study-plan';
import { fitThroughput, type Throughput } from '../src/scaling/throughput';

const DRY = import.meta.env.VITE_SCALING_DRY === '1';
const BUDGET_S = 60 * Number(import.meta.env.VITE_SCALING_BUDGET_MIN ?? 60);
const WARMUP_STEPS = 8;

const ALL = ['baseline', 'modern', 'muon', 'moe-active', 'moe-total', 'spark'];
const SIZES = { smallest: 8, growth: 1.5, headSize: 4, maxAspect: 32, contextLength: 16 };
// Learning rates searched: a first run (1e-3, 3e-3, 1e-2) picked 1e-2, the top, for every recipe at both sizes: runs
// this short want higher rates, so the search starts at 3e-3 and goes to 3e-2 (the table says where each pick fell).
const LR_SEARCH = [3e-3, 1e-2, 3e-2];
const toy = (optimal: number): GridInput => ({ preset: 'classroom', sizes: SIZES, batchSize: 32, evalBatches: 2, lrSearch: LR_SEARCH, optimalTokensPerParam: optimal, tokensPerParam: [optimal / 2, optimal] });
const FIVE = ['baseline', 'modern', 'muon', 'moe-total', 'spark']; // MoE at equal total parameters: the cheaper MoE comparison
const FOUR = ['baseline', 'modern', 'muon', 'spark'];

/** Most informative first (recipes, then tokens); the first whose estimate fits the budget runs. */
const CANDIDATES: { name: string; recipes: string[]; grid: GridInput }[] = [
  { name: 'all six recipes, budgets 2.5·N and 5·N', recipes: ALL, grid: toy(5) },
  { name: 'all six recipes, budgets 1.25·N and 2.5·N', recipes: ALL, grid: toy(2.5) },
  { name: `${FIVE.join(', ')}, budgets 1.25·N and 2.5·N`, recipes: FIVE, grid: toy(2.5) },
  { name: `${FOUR.join(', ')}, budgets 2.5·N and 5·N`, recipes: FOUR, grid: toy(5) },
  { name: `${FOUR.join(', ')}, budgets 1.25·N and 2.5·N`, recipes: FOUR, grid: toy(2.5) },
];

const log = (line: string) => console.log(`[scaling] ${line}`);
const hours = (s: number) => `${(s / 60).toFixed(1)} min`;

async function loadAverage(): Promise<string> {
  if (import.meta.env.VITE_SCALING_LOAD) return String(import.meta.env.VITE_SCALING_LOAD).split(' ').slice(0, 3).join(' ');
  try {
    return (await commands.readFile('/proc/loadavg')).split(' ').slice(0, 3).join(' ');
  } catch {
    return 'unknown (could not read /proc/loadavg)';
  }
}

/** Tokens/s of one run config after a compile warm-up (training only), and the set-up: build plus the first steps. */
async function measure(gpu: Gpu, config: Parameters<typeof createRun>[0]): Promise<{ tokensPerSecond: number; setupSeconds: number }> {
  const t0 = performance.now();
  const run = await createRun(config, { gpu });
  try {
    for await (const _ of run.train({ steps: 2 })) void _; // compiles, first readbacks
    const t = performance.now();
    for await (const _ of run.train({ steps: WARMUP_STEPS })) void _;
    const stepSeconds = (performance.now() - t) / 1000 / WARMUP_STEPS;
    return { tokensPerSecond: run.trainer.tokensPerStep / stepSeconds, setupSeconds: Math.max(0, (t - t0) / 1000 - 2 * stepSeconds) };
  } finally {
    run.destroy();
  }
}

/**
 * Each recipe's speed at the smallest and the largest size of the grid (every candidate has the same sizes),
 * fitted per recipe; the set-up a run costs besides its steps, the mean over the measurements after the first
 * (the first also compiles what every later run shares).
 */
async function warmup(gpu: Gpu, recipes: string[], grid: GridInput): Promise<{ throughput: Map<string, Throughput>; setupSeconds: number }> {
  const state = newStudyState({ recipes, grid }, { id: 'warmup', adapter: '', now: 0 });
  const throughput = new Map<string, Throughput>();
  const setups: number[] = [];
  for (const recipe of recipes) {
    const runs = state.runs.filter((r) => r.recipe === recipe && r.kind === 'grid');
    const sizes = [Math.min(...runs.map((r) => r.nonEmbedding)), Math.max(...runs.map((r) => r.nonEmbedding))];
    const points = [];
    for (const n of sizes) {
      const config = runConfigOf(state, runs.find((r) => r.nonEmbedding === n)!).config;
      const short = { ...config, train: { ...config.train, steps: WARMUP_STEPS + 2, evalEvery: 0 } };
      const m = await measure(gpu, short);
      log(`warm-up ${recipe} width ${config.model.nEmbd}: ${m.tokensPerSecond.toFixed(0)} tokens/s, set-up ${m.setupSeconds.toFixed(1)} s`);
      setups.push(m.setupSeconds);
      points.push({ model: config.model, tokensPerSecond: m.tokensPerSecond });
    }
    throughput.set(recipe, fitThroughput(points[0]!, points[1]!));
  }
  const later = setups.slice(1);
  return { throughput, setupSeconds: later.reduce((s, x) => s + x, 0) / later.length };
}

/** A candidate's plan with each recipe at its own measured speed, and its estimated seconds with every run's set-up. */
function estimate(c: (typeof CANDIDATES)[number], measured: { throughput: Map<string, Throughput>; setupSeconds: number }) {
  // each recipe planned alone at its own speed (a study always adds the baseline: keep only the recipe's own part)
  const recipes = c.recipes.map((id) => planSummary(planRecipes(resolveStudySpec({ recipes: [id], grid: c.grid }), { throughput: measured.throughput.get(id)! }), 'measured').recipes.find((r) => r.recipe === id)!);
  const plan: StudyPlanSummary = { recipes, totalSeconds: recipes.reduce((s, r) => s + r.seconds, 0), timeBasis: 'measured' };
  const runs = plan.recipes.reduce((s, r) => s + r.runs + r.lrSearchRuns, 0);
  return { plan, runs, seconds: plan.totalSeconds + runs * measured.setupSeconds };
}

const fmt = (m: Multiplier | undefined) => (m ? `${m.multiplier.toFixed(2)} [${m.interval[0].toFixed(2)}, ${m.interval[1].toFixed(2)}]${m.extrapolated ? ' (extrapolated)' : ''}` : '—');

function markdown(study: StudyState, fits: StudyFits, plan: { seconds: number }, grid: string, load: string, seconds: number): string {
  const rows = fits.multipliers.map((r) => {
    const target = r.flops?.targetLoss.toFixed(3) ?? '—';
    return `| ${r.recipe} | ${r.group} | ${fmt(r.flops)} | ${fmt(r.allIn)} | ${fmt(r.wallClock)} | ${target} | ${r.error ?? ''} |`;
  });
  const fitRows = fits.recipes.map((f) => (f.fit
    ? `| ${f.recipe} | ${f.fit.E.toFixed(3)} [${f.fit.intervals.E.map((x) => x.toFixed(3)).join(', ')}] | ${f.fit.alpha.toFixed(3)} [${f.fit.intervals.alpha.map((x) => x.toFixed(3)).join(', ')}] | ${f.envelope.length} |`
    : `| ${f.recipe} | — | — | ${f.error} |`));
  const done = study.runs.filter((r) => r.status === 'done').length;
  const picks = Object.entries(study.tunedLr).map(([recipe, t]) => `${recipe} ${t.map((p) => `${p.lr.toPrecision(2)} at N=${p.nonEmbedding}${p.atEdge ? ' (edge of the search)' : ''}`).join(', ')}`);
  // the search's measured cost per recipe (its runs as planned: training, evaluation, optimizer) beside the grid's training
  const search = study.spec.recipes.map((recipe) => {
    const own = study.runs.filter((r) => r.recipe === recipe);
    const s = own.filter((r) => r.kind === 'lr-search' && r.status === 'done');
    const flops = s.reduce((x, r) => x + r.trainFlops + r.evalFlops + r.optimizerFlops, 0);
    const grid = own.filter((r) => r.kind === 'grid' && r.status === 'done').reduce((x, r) => x + r.trainFlops, 0);
    const extra = study.lrExtra?.[recipe]?.map((x) => `${x.lr.toPrecision(2)} at size ${x.size}`) ?? [];
    return `${recipe} ${s.length} runs${extra.length ? ` (extended: ${extra.join(', ')})` : ''}, ${flops.toExponential(2)} FLOPs = ${grid > 0 ? (flops / grid).toFixed(2) : '—'}× its grid's training FLOPs`;
  });
  return [
    '# Scaling lab: iso-loss compute multipliers', '',
    `Adapter: ${study.adapter}. Load average before: ${load}. Grid: ${grid}. ${done} of ${study.runs.length} runs done in ${hours(seconds)} (estimated ${hours(plan.seconds)}). Compute-optimal point taken as ${(typeof study.spec.grid === 'object' && study.spec.grid.optimalTokensPerParam) || 20} tokens per non-embedding parameter (lowered from Chinchilla's 20 to fit the adapter).`,
    'Multiplier = C_baseline(L*) / C_recipe(L*) (above 1: the recipe needs less); 95% bootstrap intervals over whole runs; L* the lowest loss both reached.',
    'All-in adds each run\'s optimizer FLOPs (Muon\'s Newton–Schulz) so far; the learning-rate search and evaluations are in the plan\'s totals only.',
    `Learning rates searched: ${(typeof study.spec.grid === 'object' && study.spec.grid.lrSearch?.join(', ')) || 'the default'}, a pick on an edge extended by up to 2 rates beyond it; picks: ${picks.join('; ')}.`,
    `Search compute: ${search.join('; ')}.`, '',
    '| recipe | group | training FLOPs | all-in FLOPs | wall-clock | L* (nats) | note |', '| --- | --- | --- | --- | --- | --- | --- |', ...rows, '',
    '| recipe | E | α | envelope points |', '| --- | --- | --- | --- |', ...fitRows, '',
  ].join('\n');
}

it('measures the multiplier table of the scaling recipes on this adapter', async () => {
  const load = await loadAverage();
  log(`load average before: ${load}`);
  if (DRY) {
    for (const c of CANDIDATES) {
      const plan = planSummary(planRecipes(resolveStudySpec({ recipes: c.recipes, grid: c.grid })), 'assumed');
      const runs = plan.recipes.reduce((s, r) => s + r.runs + r.lrSearchRuns, 0);
      const flops = plan.recipes.reduce((s, r) => s + r.allInFlops, 0);
      log(`dry plan ${c.name}: ${runs} runs, ${flops.toExponential(2)} FLOPs all-in, ${hours(plan.totalSeconds)} on the assumed laptop GPU`);
    }
    return;
  }

  const events: EngineEvent[] = [];
  let wake = () => {};
  const engine = new Engine((e) => {
    events.push(e);
    if (e.type === 'error') log(`error: ${e.error.name}: ${e.error.message}`);
    wake();
  }, { studyStore: new StudyStore({ dbName: `spark-lab-scaling-experiment-${Date.now()}` }) });
  const until = async (pred: () => boolean) => {
    while (!pred()) await new Promise<void>((r) => (wake = r));
  };
  await until(() => events.some((e) => e.type === 'ready'));
  const gpu = (engine as unknown as { gpu: Gpu }).gpu;
  log(`adapter: ${JSON.stringify(gpu.adapter)}`);

  let chosen: ((typeof CANDIDATES)[number] & { seconds: number }) | null = null;
  const byBatch = new Map<number, Awaited<ReturnType<typeof warmup>>>(); // tokens/s depends on the batch: measured per batch
  for (const c of CANDIDATES) {
    const batch = c.grid.batchSize!;
    if (!byBatch.has(batch)) {
      byBatch.set(batch, await warmup(gpu, ALL, c.grid));
      log(`batch ${batch}: set-up per run ${byBatch.get(batch)!.setupSeconds.toFixed(1)} s`);
    }
    const measured = byBatch.get(batch)!;
    const e = estimate(c, measured);
    log(`grid ${c.name}: ${e.runs} runs, ${hours(e.seconds)} estimated (${e.plan.recipes.map((r) => `${r.recipe} ${hours(r.seconds)}`).join(', ')}; set-up ${hours(e.runs * measured.setupSeconds)})`);
    if (e.seconds <= BUDGET_S) {
      chosen = { ...c, seconds: e.seconds };
      break;
    }
  }
  if (!chosen) throw new Error(`[scaling] no candidate grid fits the ${hours(BUDGET_S)} budget on this adapter; raise VITE_SCALING_BUDGET_MIN or add a smaller candidate`);
  log(`running grid ${chosen.name}`);

  const t0 = performance.now();
  let lastLog = 0;
  engine.handle({ type: 'scaling-start', requestId: 1, spec: { recipes: chosen.recipes, grid: chosen.grid } });
  const final = () => events.filter((e): e is Extract<EngineEvent, { type: 'scaling-study' }> => e.type === 'scaling-study').at(-1);
  await until(() => {
    const p = events.at(-1);
    if (p?.type === 'scaling-progress' && performance.now() - lastLog > 60_000) {
      lastLog = performance.now();
      log(`${(100 * p.done).toFixed(0)}% done, about ${hours(p.etaSeconds ?? NaN)} left`);
    }
    const s = final()?.study;
    return (!!s && s.status !== 'running') || events.some((e) => e.type === 'error' && (e.requestId === 1 || /^scaling study:/.test(e.error.message)));
  });
  const failure = events.find((e): e is Extract<EngineEvent, { type: 'error' }> => e.type === 'error' && /^scaling study:/.test(e.error.message));
  if (failure) log(`the study stopped: ${failure.error.message}`);
  const last = final()!;
  const seconds = (performance.now() - t0) / 1000;
  const study = last.study!;
  const fits = last.fits!;
  for (const r of fits.multipliers) log(`${r.recipe} (${r.group}): flops ${fmt(r.flops)}, all-in ${fmt(r.allIn)}, wall-clock ${fmt(r.wallClock)}${r.error ? `; ${r.error}` : ''}`);
  const md = markdown(study, fits, chosen, chosen.name, load, seconds);
  await commands.writeFile('experiments/out/scaling.md', md);
  await commands.writeFile('experiments/out/scaling.json', JSON.stringify({ adapter: gpu.adapter, loadBefore: load, grid: chosen, seconds, study, fits }, null, 1));
  log(`wrote experiments/out/scaling.md and scaling.json (${hours(seconds)})`);
  expect(study.status).toBe('done');
}, 3 * 3600_000);
