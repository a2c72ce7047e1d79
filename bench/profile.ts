/**
 * `npm run bench -- --profile <preset id or run config JSON>`: where a training step's time goes on this adapter.
 * Builds the run (a preset of the lab page, e.g. tiny-dense, or a config as the page's link would carry it), trains
 * WARM_STEPS steps (compiles, first readbacks), then profiles PROFILED_STEPS real steps one by one through the
 * engine's step profiler (src/gpu/profile.ts) and reports each row's median over them, with the plain steps'
 * median wall time beside the profiled ones (the timed passes cost a little each), and the cold start: the page
 * has compiled nothing before, so createRun and the first step are what a user waits for on a first visit.
 */
import { createRun } from '../src/engine/run';
import type { Gpu } from '../src/gpu/device';
import type { ProfileRow, StepProfile } from '../src/lib/step-profile';
import { preprocessWgsl } from '../src/gpu/preprocess';
import { median } from '../src/gpu/timing';
import { PRESETS } from '../src/ui/presets';

const WARM_STEPS = 3;
const PROFILED_STEPS = 5;
const PLAIN_STEPS = 5;

export interface ProfileReport {
  spec: string;
  config: unknown;
  timing: StepProfile['timing'];
  dispatches: number;
  /** Medians over the profiled steps (ms). */
  gpuMs: number | null;
  wallMs: number;
  encodeMs: number;
  /** Median wall time of an unprofiled step (ms): train() over PLAIN_STEPS, per step. */
  plainStepMs: number;
  /** Cold start on this page (no pipeline compiled before): createRun (corpus, tokenizer, model, compiles) and the
   *  time from createRun's call to the first step's loss read back (the trainer's firstStepMs plus the data set-up). */
  createMs: number;
  firstStepMs: number;
  flops: number;
  bytesBound: number;
  /** Start-up: every pipeline on the device (the run's, and the tuner's candidates it compiled first), each
   *  compiled again alone; the run's part of the sum is what a one-at-a-time start costs. */
  compiles: CompileTime[];
  byFamily: ProfileRow[];
  byScope: ProfileRow[];
  byEntry: ProfileRow[];
  profiles: StepProfile[];
}

export interface CompileTime {
  key: string;
  ms: number;
}

/**
 * Compiles each of the cache's variants again, one at a time, and times it (createComputePipelineAsync to resolve).
 * A comment with a fresh nonce makes every module new text, so no shader or pipeline cache of the browser answers.
 */
async function timeCompilesAlone(gpu: Gpu, keys: string[]): Promise<CompileTime[]> {
  const out: CompileTime[] = [];
  const nonce = `${Date.now()}-${Math.random()}`;
  for (const key of keys) {
    const v = gpu.pipelines.variant(key);
    if (!v) continue;
    const t0 = performance.now();
    const module = gpu.device.createShaderModule({ code: `${preprocessWgsl(v.src.code, v.params)}\n// compile timing ${nonce}\n`, label: `timing ${key}` });
    await gpu.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: v.entryPoint }, label: `timing ${key}` });
    out.push({ key, ms: performance.now() - t0 });
  }
  return out.sort((a, b) => b.ms - a.ms);
}

/** Rows keyed alike across profiles, each figure the median over them (a key missing from one counts as 0 there). */
function medianRows(lists: ProfileRow[][]): ProfileRow[] {
  const keys = [...new Set(lists.flatMap((l) => l.map((r) => r.key)))];
  const rows = keys.map((key) => {
    const of = lists.map((l) => l.find((r) => r.key === key));
    const ms = of.every((r) => r?.ms != null) ? median(of.map((r) => r!.ms!)) : null;
    return { key, dispatches: median(of.map((r) => r?.dispatches ?? 0)), ms, share: null as number | null, bytesBound: median(of.map((r) => r?.bytesBound ?? 0)) };
  });
  const total = rows.reduce((s, r) => s + (r.ms ?? 0), 0);
  for (const r of rows) r.share = r.ms === null ? null : total > 0 ? r.ms / total : 0;
  return rows.sort((a, b) => (b.ms ?? b.dispatches) - (a.ms ?? a.dispatches));
}

export async function profileRun(gpu: Gpu, spec: string, log: (line: string) => void): Promise<ProfileReport> {
  const preset = PRESETS.find((p) => p.id === spec);
  let config: unknown = preset?.config;
  if (!config) {
    try {
      config = JSON.parse(spec);
    } catch {
      throw new Error(`--profile takes a preset (${PRESETS.map((p) => p.id).join(', ')}) or a run config as JSON, got ${JSON.stringify(spec.slice(0, 60))}`);
    }
  }
  const base = config as { train?: Record<string, unknown> };
  const steps = WARM_STEPS + PLAIN_STEPS + PROFILED_STEPS;
  const t0 = performance.now();
  const run = await createRun({ ...base, train: { ...base.train, steps, evalEvery: 0, autosaveEvery: 0 } }, { gpu });
  const createMs = performance.now() - t0;
  try {
    let firstStepMs = NaN;
    for await (const p of run.train({ steps: WARM_STEPS })) {
      if (p.kind === 'progress' && Number.isNaN(firstStepMs)) firstStepMs = performance.now() - t0;
    }
    log(`cold start: createRun ${createMs.toFixed(0)} ms, first step's loss read back at ${firstStepMs.toFixed(0)} ms`);
    const t1 = performance.now();
    for await (const _ of run.train({ steps: PLAIN_STEPS })) void _;
    await gpu.queue.onSubmittedWorkDone();
    const plainStepMs = (performance.now() - t1) / PLAIN_STEPS;
    const profiles: StepProfile[] = [];
    for (let i = 0; i < PROFILED_STEPS; i++) {
      const p = run.trainer.requestProfile();
      for await (const _ of run.train({ steps: 1 })) void _;
      profiles.push(await p);
      log(`profiled step ${profiles[i]!.step}: ${profiles[i]!.dispatches} dispatches, GPU ${profiles[i]!.gpuMs?.toFixed(1) ?? '-'} ms, wall ${profiles[i]!.wallMs.toFixed(1)} ms`);
    }
    const compiles = await timeCompilesAlone(gpu, gpu.pipelines.keys());
    const sum = compiles.reduce((a, c) => a + c.ms, 0);
    log(`start-up: ${compiles.length} pipelines, ${(sum / 1000).toFixed(1)} s compiled one at a time; slowest ${compiles.slice(0, 3).map((c) => `${c.key} ${c.ms.toFixed(0)} ms`).join(', ')}`);
    const m = (f: (p: StepProfile) => number) => median(profiles.map(f));
    return {
      spec, config: run.config, timing: profiles[0]!.timing, dispatches: profiles[0]!.dispatches,
      gpuMs: profiles[0]!.gpuMs === null ? null : m((p) => p.gpuMs!), wallMs: m((p) => p.wallMs), encodeMs: m((p) => p.encodeMs), plainStepMs, createMs, firstStepMs,
      flops: profiles[0]!.flops, bytesBound: profiles[0]!.bytesBound, compiles,
      byFamily: medianRows(profiles.map((p) => p.byFamily)), byScope: medianRows(profiles.map((p) => p.byScope)), byEntry: medianRows(profiles.map((p) => p.byEntry)),
      profiles,
    };
  } finally {
    run.destroy();
  }
}
