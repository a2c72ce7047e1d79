/**
 * Regression page (regress.html): runs the suite's checks on this page's WebGPU adapter and hands each task's
 * results to scripts/regress.mjs through exposed functions (see regress/SCHEMA.md), or shows them when the page
 * is opened by hand. URL parameters: suite=quick|full, shard=i/n, only=a,b, break=KERNEL, speedTolerance=F.
 */
import { requestGpu, type Gpu } from '../src/gpu/device';
import { tuneKernels } from '../src/kernels/autotune';
import { describeChoices } from '../src/kernels/tuning';
import { Scale } from '../src/kernels/elementwise';
import type { Binding } from '../src/kernels/dispatch';
import { errorCheck } from './harness';
import { BREAKABLE, selectTasks, shardTasks, suiteTasks } from './suite';
import type { CheckResult, RegressContext, RegressEnvironment, RegressHooks, Suite } from './types';

const params = new URLSearchParams(location.search);
const hooks = window as unknown as RegressHooks;
const logEl = document.getElementById('log') as HTMLPreElement;

function log(line: string): void {
  console.log(`[regress] ${line}`);
  logEl.textContent += `\n${line}`;
}

function parseShard(text: string | null): { index: number; count: number } | null {
  if (!text) return null;
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!(count >= 1 && index >= 1 && index <= count)) throw new RangeError(`shard must be i/n with 1 <= i <= n, got '${text}'`);
  return { index, count };
}

/** Adapter facts for the report; `software` is what makes sizes and timing tolerances adapt. */
async function environment(gpu: Gpu): Promise<Omit<RegressEnvironment, 'tasks' | 'allTasks'>> {
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  const info = adapter?.info as (GPUAdapterInfo & { isFallbackAdapter?: boolean }) | undefined;
  const isFallbackAdapter = info?.isFallbackAdapter ?? false;
  const a = gpu.adapter;
  const software = isFallbackAdapter || /swiftshader|llvmpipe|lavapipe|microsoft basic render/i.test(`${a.vendor} ${a.architecture} ${a.description}`);
  const limits: Record<string, number> = {};
  for (const key in gpu.limits) {
    const v = (gpu.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') limits[key] = v;
  }
  return {
    adapter: { ...a, isFallbackAdapter },
    software,
    userAgent: navigator.userAgent,
    adapterFeatures: adapter ? [...adapter.features].map(String).sort() : [],
    deviceFeatures: [...gpu.device.features].map(String).sort(),
    limits,
  };
}

function makeContext(gpu: Gpu, suite: Suite, software: boolean, breakKernel: string | null): RegressContext {
  const requested = params.get('speedTolerance');
  const speedTolerance = requested !== null ? Number(requested) : software ? 0.75 : 0.5;
  if (!(speedTolerance >= 0 && speedTolerance < 1)) throw new RangeError(`speedTolerance must be in [0, 1), got '${requested}'`);
  return {
    gpu,
    suite,
    software,
    speedTolerance,
    perturb(pass: GPUComputePassEncoder, kernel: string, output: Binding, n: number) {
      if (kernel !== breakKernel) return;
      // The Scale's small uniform buffer is left to the garbage collector: a deliberate fault, a few per run.
      new Scale(gpu, n, 1.01).encode(pass, output);
    },
  };
}

function show(results: CheckResult[]): void {
  for (const r of results) {
    const v = r.value === null ? 'null' : r.value.toPrecision(4);
    log(`  ${r.id}: ${v} ${r.unit} (${r.tolerance.rule} ${r.tolerance.value})${r.message ? `  ${r.message}` : ''}`);
  }
}

async function main(): Promise<void> {
  const suite: Suite = params.get('suite') === 'full' ? 'full' : 'quick';
  const shard = parseShard(params.get('shard'));
  const only = (params.get('only') ?? '').split(',').filter(Boolean);
  const breakKernel = params.get('break') || null;
  if (breakKernel && !BREAKABLE.includes(breakKernel)) throw new RangeError(`--break '${breakKernel}' is not a kernel family; one of: ${BREAKABLE.join(', ')}`);
  const selected = selectTasks(suiteTasks(suite), only);
  const tasks = shardTasks(selected, shard);
  let lost: string | null = null;
  const gpu = await requestGpu({ onLost: (e) => (lost = e.message), onError: (e) => log(`GPU error: ${e.message}`) });
  const tuning = await tuneKernels(gpu); // the kernel choices measured on this adapter, as the engine makes them
  log(`kernel tuning (${(tuning.ms / 1000).toFixed(1)} s): ${describeChoices(tuning.choices)}`);
  const env = await environment(gpu);
  const fullEnv: RegressEnvironment = { ...env, tasks: tasks.map((t) => t.id), allTasks: selected.map((t) => t.id) };
  log(`adapter: ${JSON.stringify(env.adapter)}  suite: ${suite}  tasks: ${tasks.length}/${selected.length}${breakKernel ? `  BREAK ${breakKernel}` : ''}`);
  await hooks.__regressEnv?.(JSON.stringify(fullEnv));
  const ctx = makeContext(gpu, suite, env.software, breakKernel);
  for (const task of tasks) {
    await hooks.__regressStart?.(task.id);
    const errorsBefore = gpu.errors.length;
    const t0 = performance.now();
    let results: CheckResult[];
    try {
      results = await task.run(ctx);
    } catch (e) {
      results = [errorCheck(`error/${task.id}`, task.kernels[0], e)];
    }
    if (lost) throw new Error(`the GPU device was lost during ${task.id}: ${lost}`);
    const uncaptured = gpu.errors.slice(errorsBefore);
    if (uncaptured.length) results.push(errorCheck(`error/${task.id}/uncaptured`, task.kernels[0], uncaptured[0]));
    // The task's wall time shared among its checks, so sums over checks add up to the run's time.
    const ms = (performance.now() - t0) / results.length;
    for (const r of results) r.ms = ms;
    if (hooks.__regressResults) await hooks.__regressResults(JSON.stringify(results));
    else show(results);
  }
  await hooks.__regressDone?.();
  log('done');
}

main().catch(async (e) => {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  log(`FATAL ${msg}`);
  await hooks.__regressFail?.(msg);
});
