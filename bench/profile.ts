/**
 * `npm run bench -- --profile <preset id or run config JSON>`: where a training step's time goes on this adapter.
 * Builds the run (a preset of the lab page, e.g. tiny-dense, or a config as the page's link would carry it), trains
 * WARM_STEPS steps (compiles, first readbacks), then profiles PROFILED_STEPS real steps one by one through the
 * engine's step profiler (src/gpu/profile.ts) and reports each row's median over them, with the plain steps'
 * median wall time beside the profiled ones (the timed passes cost a little each).
 */
import { createRun } from '../src/engine/run';
import type { Gpu } from '../src/gpu/device';
import type { ProfileRow, StepProfile } from '../src/lib/step-profile';
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
  flops: number;
  bytesBound: number;
  byFamily: ProfileRow[];
  byScope: ProfileRow[];
  byEntry: ProfileRow[];
  profiles: StepProfile[];
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
  const run = await createRun({ ...base, train: { ...base.train, steps, evalEvery: 0, autosaveEvery: 0 } }, { gpu });
  try {
    for await (const _ of run.train({ steps: WARM_STEPS })) void _;
    const t0 = performance.now();
    for await (const _ of run.train({ steps: PLAIN_STEPS })) void _;
    await gpu.queue.onSubmittedWorkDone();
    const plainStepMs = (performance.now() - t0) / PLAIN_STEPS;
    const profiles: StepProfile[] = [];
    for (let i = 0; i < PROFILED_STEPS; i++) {
      const p = run.trainer.requestProfile();
      for await (const _ of run.train({ steps: 1 })) void _;
      profiles.push(await p);
      log(`profiled step ${profiles[i]!.step}: ${profiles[i]!.dispatches} dispatches, GPU ${profiles[i]!.gpuMs?.toFixed(1) ?? '-'} ms, wall ${profiles[i]!.wallMs.toFixed(1)} ms`);
    }
    const m = (f: (p: StepProfile) => number) => median(profiles.map(f));
    return {
      spec, config: run.config, timing: profiles[0]!.timing, dispatches: profiles[0]!.dispatches,
      gpuMs: profiles[0]!.gpuMs === null ? null : m((p) => p.gpuMs!), wallMs: m((p) => p.wallMs), encodeMs: m((p) => p.encodeMs), plainStepMs,
      flops: profiles[0]!.flops, bytesBound: profiles[0]!.bytesBound,
      byFamily: medianRows(profiles.map((p) => p.byFamily)), byScope: medianRows(profiles.map((p) => p.byScope)), byEntry: medianRows(profiles.map((p) => p.byEntry)),
      profiles,
    };
  } finally {
    run.destroy();
  }
}
