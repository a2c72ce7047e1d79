/**
 * Experiment (not part of `npm test`): the scaling lab's multiplier table on this machine's adapter. Recipes baseline,
 * modern, muon, moe-active, moe-total and spark, run by the engine's scaling runner (the page's code path) on the
 * largest grid whose estimated time fits the budget (80 minutes by default): the candidates are tried from the
 * 'quick' preset down, each estimated from one short measured warm-up (tokens/s of the baseline and of spark, the
 * slower of the two at every size, at the smallest and the largest width of all candidates), and the experiment
 * refuses to start when none fits. Results go to experiments/out/scaling.json (the study with every run's curve, the fits, the plan) and
 * experiments/out/scaling.md (the table); every line it prints starts with `[scaling]`.
 *
 *   npm run experiment -- experiments/scaling.test.ts                      the study (up to the budget)
 *   VITE_SCALING_DRY=1 npm run experiment -- experiments/scaling.test.ts   the plans on the assumed laptop GPU only
 *   VITE_SCALING_BUDGET_MIN=60 ...                                         another budget, in minutes
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
import type { GridInput, PresetName } from '../src/scaling/grid';
import type { Multiplier } from '../src/scaling/multiplier';
import type { StudyFits, StudyPlanSummary, StudyState } from '../src/scaling/study';
import { planRecipes, planSummary, resolveStudySpec, runConfigOf, newStudyState } from '../src/scaling/study-plan';
import { fitThroughput, type Throughput } from '../src/scaling/throughput';

const RECIPES = ['baseline', 'modern', 'muon', 'moe-active', 'moe-total', 'spark'];
const DRY = import.meta.env.VITE_SCALING_DRY === '1';
const BUDGET_S = 60 * Number(import.meta.env.VITE_SCALING_BUDGET_MIN ?? 80);
const WARMUP_STEPS = 8;

/** Largest first; the first whose estimate fits the budget runs. */
const CANDIDATES: { name: string; grid: PresetName | GridInput }[] = [
  { name: 'quick', grid: 'quick' },
  { name: 'classroom', grid: 'classroom' },
  { name: 'classroom, budgets 10·N and 20·N', grid: { preset: 'classroom', tokensPerParam: [10, 20] } },
  { name: 'classroom from width 8, budgets 10·N and 20·N', grid: { preset: 'classroom', sizes: { smallest: 8 }, tokensPerParam: [10, 20] } },
  { name: 'widths 8 to 28 (head size 4), context 16, budgets 10·N and 20·N', grid: { preset: 'classroom', sizes: { smallest: 8, growth: 1.5, headSize: 4, contextLength: 16 }, tokensPerParam: [10, 20] } },
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

/** Tokens/s of one run config after a compile warm-up, training only. */
async function measure(gpu: Gpu, config: Parameters<typeof createRun>[0]): Promise<number> {
  const run = await createRun(config, { gpu });
  try {
    for await (const _ of run.train({ steps: 2 })) void _; // compiles, first readbacks
    const t = performance.now();
    for await (const _ of run.train({ steps: WARMUP_STEPS })) void _;
    return (WARMUP_STEPS * run.trainer.tokensPerStep) / ((performance.now() - t) / 1000);
  } finally {
    run.destroy();
  }
}

/**
 * The slower of the baseline's and spark's measured speed at each size (spark: MoE and Muon, the costliest
 * ingredients), fitted through the smallest size of the smallest candidate and the largest of the largest, so one
 * warm-up serves every candidate.
 */
async function warmup(gpu: Gpu, smallGrid: PresetName | GridInput, largeGrid: PresetName | GridInput): Promise<Throughput> {
  const states = [smallGrid, largeGrid].map((grid) => newStudyState({ recipes: ['baseline', 'spark'], grid }, { id: 'warmup', adapter: '', now: 0 }));
  const models: Throughput[] = [];
  for (const recipe of ['baseline', 'spark']) {
    const pick = (state: StudyState, better: (a: number, b: number) => boolean) =>
      state.runs.filter((r) => r.recipe === recipe && r.kind === 'grid').reduce((a, b) => (better(b.nonEmbedding, a.nonEmbedding) ? b : a));
    const points = [];
    for (const [state, r] of [[states[0]!, pick(states[0]!, (x, y) => x < y)], [states[1]!, pick(states[1]!, (x, y) => x > y)]] as const) {
      const config = runConfigOf(state, r).config;
      const short = { ...config, train: { ...config.train, steps: WARMUP_STEPS + 2, evalEvery: 0 } };
      const tokensPerSecond = await measure(gpu, short);
      log(`warm-up ${recipe} width ${config.model.nEmbd}: ${tokensPerSecond.toFixed(0)} tokens/s`);
      points.push({ model: config.model, tokensPerSecond });
    }
    models.push(fitThroughput(points[0]!, points[1]!));
  }
  return (m) => Math.min(...models.map((t) => t(m)));
}

const fmt = (m: Multiplier | undefined) => (m ? `${m.multiplier.toFixed(2)} [${m.interval[0].toFixed(2)}, ${m.interval[1].toFixed(2)}]${m.extrapolated ? ' (extrapolated)' : ''}` : '—');

function markdown(study: StudyState, fits: StudyFits, plan: StudyPlanSummary, grid: string, load: string, seconds: number): string {
  const rows = fits.multipliers.map((r) => {
    const target = r.flops?.targetLoss.toFixed(3) ?? '—';
    return `| ${r.recipe} | ${r.group} | ${fmt(r.flops)} | ${fmt(r.allIn)} | ${fmt(r.wallClock)} | ${target} | ${r.error ?? ''} |`;
  });
  const fitRows = fits.recipes.map((f) => (f.fit
    ? `| ${f.recipe} | ${f.fit.E.toFixed(3)} [${f.fit.intervals.E.map((x) => x.toFixed(3)).join(', ')}] | ${f.fit.alpha.toFixed(3)} [${f.fit.intervals.alpha.map((x) => x.toFixed(3)).join(', ')}] | ${f.envelope.length} |`
    : `| ${f.recipe} | — | — | ${f.error} |`));
  const done = study.runs.filter((r) => r.status === 'done').length;
  return [
    '# Scaling lab: iso-loss compute multipliers', '',
    `Adapter: ${study.adapter}. Load average before: ${load}. Grid: ${grid}. ${done} of ${study.runs.length} runs done in ${hours(seconds)} (planned ${hours(plan.totalSeconds)}).`,
    'Multiplier = C_baseline(L*) / C_recipe(L*) (above 1: the recipe needs less); 95% bootstrap intervals over whole runs; L* the lowest loss both reached.',
    'All-in adds each run\'s optimizer FLOPs (Muon\'s Newton–Schulz) so far; the learning-rate search and evaluations are in the plan\'s totals only.', '',
    '| recipe | group | training FLOPs | all-in FLOPs | wall-clock | L* (nats) | note |', '| --- | --- | --- | --- | --- | --- | --- |', ...rows, '',
    '| recipe | E | α | envelope points |', '| --- | --- | --- | --- |', ...fitRows, '',
  ].join('\n');
}

it('measures the multiplier table of the scaling recipes on this adapter', async () => {
  const load = await loadAverage();
  log(`load average before: ${load}`);
  if (DRY) {
    for (const c of CANDIDATES) {
      const plan = planSummary(planRecipes(resolveStudySpec({ recipes: RECIPES, grid: c.grid })), 'assumed');
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

  let chosen: { name: string; grid: PresetName | GridInput; plan: StudyPlanSummary } | null = null;
  const throughput = await warmup(gpu, CANDIDATES[CANDIDATES.length - 1]!.grid, CANDIDATES[0]!.grid);
  for (const c of CANDIDATES) {
    const plan = planSummary(planRecipes(resolveStudySpec({ recipes: RECIPES, grid: c.grid }), { throughput }), 'measured');
    log(`grid ${c.name}: ${hours(plan.totalSeconds)} estimated (${plan.recipes.map((r) => `${r.recipe} ${hours(r.seconds)}`).join(', ')})`);
    if (plan.totalSeconds <= BUDGET_S) {
      chosen = { ...c, plan };
      break;
    }
  }
  if (!chosen) throw new Error(`[scaling] no candidate grid fits the ${hours(BUDGET_S)} budget on this adapter; raise VITE_SCALING_BUDGET_MIN or add a smaller candidate`);
  log(`running grid ${chosen.name}`);

  const t0 = performance.now();
  let lastLog = 0;
  engine.handle({ type: 'scaling-start', requestId: 1, spec: { recipes: RECIPES, grid: chosen.grid } });
  const final = () => events.filter((e): e is Extract<EngineEvent, { type: 'scaling-study' }> => e.type === 'scaling-study').at(-1);
  await until(() => {
    const p = events.at(-1);
    if (p?.type === 'scaling-progress' && performance.now() - lastLog > 60_000) {
      lastLog = performance.now();
      log(`${(100 * p.done).toFixed(0)}% done, about ${hours(p.etaSeconds ?? NaN)} left`);
    }
    const s = final()?.study;
    return (!!s && s.status !== 'running') || events.some((e) => e.type === 'error' && e.requestId === 1);
  });
  const last = final()!;
  const seconds = (performance.now() - t0) / 1000;
  const study = last.study!;
  const fits = last.fits!;
  for (const r of fits.multipliers) log(`${r.recipe} (${r.group}): flops ${fmt(r.flops)}, all-in ${fmt(r.allIn)}, wall-clock ${fmt(r.wallClock)}${r.error ? `; ${r.error}` : ''}`);
  const md = markdown(study, fits, chosen.plan, chosen.name, load, seconds);
  await commands.writeFile('experiments/out/scaling.md', md);
  await commands.writeFile('experiments/out/scaling.json', JSON.stringify({ adapter: gpu.adapter, loadBefore: load, grid: chosen, seconds, study, fits }, null, 1));
  log(`wrote experiments/out/scaling.md and scaling.json (${hours(seconds)})`);
  expect(study.status).toBe('done');
}, 3 * 3600_000);
