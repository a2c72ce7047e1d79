// The scaling runner's commands without a GPU (a fake engine host and an in-memory store): the plan, the refusals
// (busy, a study already stored, nothing to resume, clearing while running), cancel and load of a stored study, and a
// study whose every run throws: each run is 'failed' with the message and the study goes on to its end.
import { describe, expect, it } from 'vitest';
import { EngineStateError } from '../../src/engine/errors';
import type { EngineEvent } from '../../src/engine/protocol';
import { ScalingRunner } from '../../src/engine/scaling-runner';
import type { StudyStore } from '../../src/engine/scaling-store';
import type { Gpu } from '../../src/gpu/device';
import { ConfigError } from '../../src/model/validate';
import type { StudyState } from '../../src/scaling/study';
import { newStudyState } from '../../src/scaling/study-plan';
import { LAPTOP_FLOPS_PER_SECOND } from '../../src/scaling/throughput';

const SPEC = { recipes: ['baseline', 'modern'], grid: 'classroom' };

function setup(o: { busy?: string; gpu?: () => Promise<Gpu>; stored?: StudyState } = {}) {
  const events: EngineEvent[] = [];
  let stored: StudyState | null = o.stored ? structuredClone(o.stored) : null;
  let saves = 0;
  const store = {
    save: async (s: StudyState) => {
      saves++;
      stored = structuredClone(s);
    },
    load: async () => (stored ? structuredClone(stored) : null),
    clear: async () => {
      stored = null;
    },
  } as unknown as StudyStore;
  let changes = 0;
  const runner = new ScalingRunner({
    emit: (e) => events.push(e),
    exclusive: (fn) => fn(),
    gpu: o.gpu ?? (() => Promise.reject(new Error('no device here'))),
    busy: () => o.busy ?? null,
    memoryBudgetBytes: () => undefined,
    changed: () => changes++,
  }, store);
  return { runner, events, stored: () => stored, saves: () => saves, changes: () => changes };
}

async function rejection<E>(p: Promise<unknown> | (() => unknown), type: new (...a: never[]) => E): Promise<E> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(type);
    return e as E;
  }
  throw new Error('expected a rejection');
}

const studies = (events: EngineEvent[]) => events.filter((e): e is Extract<EngineEvent, { type: 'scaling-study' }> => e.type === 'scaling-study');

describe('scaling runner', () => {
  it('answers a plan with the assumed GPU\'s time and refuses a bad spec naming the field', async () => {
    const t = setup();
    t.runner.plan(7, SPEC);
    const plan = t.events[0] as Extract<EngineEvent, { type: 'scaling-plan' }>;
    expect(plan).toMatchObject({ type: 'scaling-plan', requestId: 7, plan: { timeBasis: 'assumed' } });
    expect(plan.plan.recipes.map((r) => r.recipe)).toEqual(['baseline', 'modern']);
    expect((await rejection(() => t.runner.plan(8, { recipes: ['x'], grid: 'quick' }), ConfigError)).field).toBe('study.recipes[0]');
  });

  it('estimates with the FLOP rate measured on this adapter once one run has finished', async () => {
    const stored = newStudyState(SPEC, { id: 's', adapter: 'a', now: 1 });
    const r = stored.runs[0]!;
    const flopsPerSecond = 2e8; // what this "adapter" trained at: 1/250 of the assumed laptop GPU's rate
    const seconds = r.trainFlops / flopsPerSecond;
    r.status = 'done';
    r.curve = [{ step: r.steps, flops: r.trainFlops, loss: 3, seconds }];
    const before = setup();
    before.runner.plan(1, SPEC);
    const assumed = (before.events[0] as Extract<EngineEvent, { type: 'scaling-plan' }>).plan;
    const t = setup({ stored });
    await t.runner.load(2);
    t.runner.plan(3, SPEC);
    const measured = (t.events.find((e) => e.type === 'scaling-plan') as Extract<EngineEvent, { type: 'scaling-plan' }>).plan;
    expect(measured.timeBasis).toBe('measured');
    // both are pure FLOP-rate models: every run's time scales by the ratio of the rates
    expect(measured.totalSeconds / assumed.totalSeconds).toBeCloseTo(LAPTOP_FLOPS_PER_SECOND / flopsPerSecond, 6);
  });

  it('refuses to start while the page trains, or over a stored study, and then changes nothing', async () => {
    const busy = setup({ busy: "this page's run is training" });
    expect((await rejection(busy.runner.start(1, SPEC), EngineStateError)).message).toMatch(/page's run is training/);
    expect(busy.saves()).toBe(0);
    expect(busy.runner.running).toBe(false);

    const old = newStudyState(SPEC, { id: 'old', adapter: 'a', now: 1 });
    old.runs[0]!.status = 'done';
    const t = setup({ stored: old });
    expect((await rejection(t.runner.start(1, SPEC), EngineStateError)).message).toMatch(/a scaling study is stored \(1 of 60 runs done\): export it and clear it, or resume it/);
    expect(t.stored()!.id).toBe('old');
    expect(t.runner.running).toBe(false);
    expect((await rejection(setup().runner.resume(2), EngineStateError)).message).toMatch(/no stored scaling study to resume/);
  });

  it('cancels a stored study that was running when the page closed, loads it with its fits, and clears it', async () => {
    const t = setup({ stored: newStudyState(SPEC, { id: 's', adapter: 'a', now: 1 }) });
    await t.runner.load(3);
    expect(studies(t.events)[0]).toMatchObject({ requestId: 3, study: { id: 's', status: 'running' } });
    expect(studies(t.events)[0]!.fits!.multipliers[1]!.error).toMatch(/no baseline fit yet/);
    await t.runner.cancel();
    expect(t.stored()!.status).toBe('cancelled');
    expect(t.stored()!.runs.every((r) => r.status === 'cancelled')).toBe(true);
    await t.runner.clear(4);
    expect(t.stored()).toBeNull();
    expect(studies(t.events).at(-1)).toEqual({ type: 'scaling-study', requestId: 4, study: null, fits: null });
  });

  it('fails each run that throws with its message and goes on to the end of the study', async () => {
    let calls = 0;
    const adapter = { vendor: 'test', architecture: '', device: '', description: '' };
    // the device is there when the study starts (its adapter is recorded), then every run's request for it fails
    const t = setup({ gpu: () => (calls++ === 0 ? Promise.resolve({ adapter } as Gpu) : Promise.reject(new Error('no device here'))) });
    await t.runner.start(1, SPEC);
    expect(t.stored()!.adapter).toBe('test');
    expect(t.runner.running).toBe(true);
    await expect(t.runner.clear(2)).rejects.toThrow(/cancel it before clearing/);
    await expect(t.runner.start(3, SPEC)).rejects.toThrow(/already running/);
    while (t.runner.running) await new Promise((r) => setTimeout(r, 5));
    const end = t.stored()!;
    expect(end.error).toBeUndefined();
    expect(end.status).toBe('done');
    const search = end.runs.filter((r) => r.kind === 'lr-search');
    expect(search.every((r) => r.status === 'failed' && r.error === 'no device here')).toBe(true);
    // no search result: the grid's runs fail with the search's reason
    expect(end.runs.filter((r) => r.kind === 'grid').every((r) => r.status === 'failed' && /every run diverged/.test(r.error!))).toBe(true);
    expect(t.changes()).toBe(2); // started, stopped
    expect(studies(t.events).at(-1)!.study!.status).toBe('done');
  });
});
