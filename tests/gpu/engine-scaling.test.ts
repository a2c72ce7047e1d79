// A scaling study through the Engine on the browser's WebGPU device, with the smallest grid the planner accepts
// (2 recipes × (6 search runs, up to 4 more extending an edge pick, + 16 grid runs), of which it runs 14 to 22; widths 8 to 64, one layer, context 16, 1 to 16 steps a run): runs go one
// at a time, curves arrive, GPU memory is back after each run, the study is saved and a fresh Engine resumes it
// without redoing finished runs, and cancel stops it. Runs share one tokenized corpus: the same validation tokens.
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine';
import type { EngineEvent } from '../../src/engine/protocol';
import { createRun, tokenizeCorpus } from '../../src/engine/run';
import { StudyStore } from '../../src/engine/scaling-store';
import type { Gpu } from '../../src/gpu/device';
import type { StudyState } from '../../src/scaling/study';
import { runConfigOf } from '../../src/scaling/study-plan';
import { testGpu } from '../util/gpu';

const GRID = {
  sizes: { smallest: 8, growth: 2, headSize: 8, maxAspect: 64, contextLength: 16 },
  tokensPerParam: [0.01, 0.02], optimalTokensPerParam: 0.02, seeds: [1, 2], lrSearch: [1e-3, 3e-3, 1e-2],
  batchSize: 4, evalPoints: 2, evalBatches: 1,
};
const SPEC = { recipes: ['baseline', 'modern'], grid: GRID };

type Ev<T extends EngineEvent['type']> = Extract<EngineEvent, { type: T }>;
const dbName = `spark-lab-scaling-test-${Date.now()}`;

/** An engine, its events, and waits on them. */
function harness(device: Gpu) {
  const events: EngineEvent[] = [];
  let waiters: (() => void)[] = [];
  const onEvent: ((e: EngineEvent) => void)[] = [];
  const engine = new Engine((e) => {
    events.push(e);
    for (const f of onEvent) f(e);
    for (const w of waiters.slice()) w();
  }, { studyStore: new StudyStore({ dbName }), gpu: device }); // the shared test device: its pipelines are compiled once
  const gpu = () => (engine as unknown as { gpu: Gpu | null }).gpu!;
  const waitFor = <T extends EngineEvent['type']>(type: T, pred: (e: Ev<T>) => boolean = () => true, from = 0): Promise<Ev<T>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${type}; errors: ${JSON.stringify(errors()).slice(0, 300)}; runs: ${lastRuns()}`)), 300_000);
      const check = () => {
        const e = events.slice(from).find((x): x is Ev<T> => x.type === type && pred(x as Ev<T>));
        if (!e) return;
        waiters = waiters.filter((w) => w !== check);
        clearTimeout(timer);
        resolve(e);
      };
      waiters.push(check);
      check();
    });
  const errors = () => events.filter((e) => e.type === 'error');
  const lastRuns = () => {
    const s = events.filter((e): e is Ev<'scaling-study'> => e.type === 'scaling-study').at(-1)?.study;
    return JSON.stringify(s?.runs.filter((r) => r.status !== 'queued').map((r) => [r.id, r.status, r.curve.length, r.error])).slice(0, 600);
  };
  return { engine, events, waitFor, gpu, onEvent, errors };
}

const doneCount = (s: StudyState | null) => s?.runs.filter((r) => r.status === 'done').length ?? 0;

afterAll(async () => {
  await new Promise((resolve) => {
    const r = indexedDB.deleteDatabase(dbName);
    r.onsuccess = r.onerror = r.onblocked = resolve;
  });
});

describe('engine: scaling study', () => {
  it('queues runs one at a time, records curves, frees each run, saves, resumes in a fresh engine and cancels', async () => {
    const device = await testGpu();
    const a = harness(device);
    await a.waitFor('ready');
    const before = a.gpu().allocatedBytes;
    const leaks: string[] = [];
    a.onEvent.push((e) => {
      if (e.type !== 'scaling-study' || !e.study) return;
      const running = e.study.runs.filter((r) => r.status === 'running');
      if (running.length > 1) leaks.push(`${running.length} runs at once`);
      // between runs (none running) every buffer of the last run is released
      if (running.length === 0 && a.gpu().allocatedBytes !== before) leaks.push(`${a.gpu().allocatedBytes - before} bytes after ${doneCount(e.study)} runs`);
    });

    a.engine.handle({ type: 'scaling-plan', requestId: 1, spec: SPEC });
    const plan = (await a.waitFor('scaling-plan')).plan;
    expect(plan.recipes.map((r) => [r.recipe, r.runs, r.lrSearchRuns])).toEqual([['baseline', 16, 6], ['modern', 16, 6]]);
    expect(plan.timeBasis).toBe('assumed');

    a.engine.handle({ type: 'scaling-start', requestId: 2, spec: SPEC });
    await a.waitFor('state', (e) => e.state === 'scaling');
    // the page's run cannot train beside the study
    a.engine.handle({ type: 'scaling-start', requestId: 3, spec: SPEC });
    expect((await a.waitFor('error', (e) => e.requestId === 3)).error).toMatchObject({ name: 'EngineStateError', message: expect.stringMatching(/already running/) });

    // every search run and the first grid runs, then cancel
    const progressed = await a.waitFor('scaling-progress');
    expect(progressed.steps).toBeGreaterThanOrEqual(progressed.step);
    // the search (12 runs, and up to 8 more where a pick fell on the edge of the searched rates), then a grid run
    const searchCount = (st: StudyState) => st.runs.filter((r) => r.kind === 'lr-search').length;
    const mid = (await a.waitFor('scaling-study', (e) => !!e.study && Object.keys(e.study.tunedLr).length === 2 && doneCount(e.study) >= searchCount(e.study) + 1)).study!;
    let from = a.events.length;
    a.engine.handle({ type: 'scaling-cancel' });
    const cancelled = (await a.waitFor('scaling-study', (e) => e.study?.status === 'cancelled', from)).study!;
    await a.waitFor('state', (e) => e.state !== 'scaling', from);
    expect(a.errors()).toEqual([expect.objectContaining({ requestId: 3 })]);
    expect(leaks).toEqual([]);

    const n = searchCount(mid);
    expect(n).toBe(12 + Object.values(mid.lrExtra ?? {}).reduce((k, x) => k + x.length, 0));
    expect(n).toBeLessThanOrEqual(20);
    expect(mid.runs.slice(0, n).every((r) => r.kind === 'lr-search' && r.status === 'done')).toBe(true);
    expect(Object.keys(cancelled.tunedLr).sort()).toEqual(['baseline', 'modern']);
    for (const r of cancelled.runs.filter((x) => x.status === 'done')) {
      expect(r.curve.map((p) => p.step)).toEqual(r.evalSteps);
      for (const p of r.curve) {
        expect(p.flops).toBe(p.step * (r.tokens / r.steps) * (r.trainFlops / r.tokens));
        expect(Number.isFinite(p.loss) && p.loss > 0).toBe(true);
        expect(p.seconds).toBeGreaterThan(0);
      }
      expect(r.wallSeconds).toBeGreaterThanOrEqual(r.curve.at(-1)!.seconds);
    }
    const finished = cancelled.runs.filter((r) => r.status === 'done');
    expect(finished.length).toBeGreaterThanOrEqual(n + 1);
    expect(cancelled.runs.filter((r) => r.status === 'cancelled').length).toBe(cancelled.runs.length - finished.length);

    // a fresh engine (a reload) loads the stored study and resumes it: finished runs stay as they were
    const b = harness(device);
    b.engine.handle({ type: 'scaling-load', requestId: 1 });
    const loaded = (await b.waitFor('scaling-study', (e) => e.requestId === 1)).study!;
    expect(loaded.runs.map((r) => r.status)).toEqual(cancelled.runs.map((r) => r.status));
    b.engine.handle({ type: 'scaling-resume', requestId: 2 });
    const firstRunning = (await b.waitFor('scaling-study', (e) => !!e.study?.runs.some((r) => r.status === 'running'))).study!;
    expect(firstRunning.runs.findIndex((r) => r.status === 'running')).toBe(finished.length); // the next one, not a redo
    const more = (await b.waitFor('scaling-study', (e) => doneCount(e.study) >= finished.length + 1)).study!;
    from = b.events.length;
    b.engine.handle({ type: 'scaling-cancel' });
    await b.waitFor('scaling-study', (e) => e.study?.status === 'cancelled', from);
    for (const r of finished) expect(more.runs.find((x) => x.id === r.id)!.curve).toEqual(r.curve);
    expect(b.errors()).toEqual([]);

    // clearing deletes it
    b.engine.handle({ type: 'scaling-clear', requestId: 3 });
    await b.waitFor('scaling-study', (e) => e.requestId === 3 && e.study === null);
    b.engine.handle({ type: 'scaling-load', requestId: 4 });
    expect((await b.waitFor('scaling-study', (e) => e.requestId === 4)).study).toBeNull();

    // the runs share one tokenized corpus: two recipes' runs evaluate the same held-out tokens
    const gpu = a.gpu();
    const base = runConfigOf(cancelled, cancelled.runs.find((r) => r.recipe === 'baseline' && r.kind === 'grid')!).config;
    const modern = runConfigOf(cancelled, cancelled.runs.find((r) => r.recipe === 'modern' && r.kind === 'grid')!).config;
    const corpus = await tokenizeCorpus(base);
    const [r1, r2] = [await createRun(base, { gpu, corpus }), await createRun(modern, { gpu, corpus })];
    try {
      expect(r1.dataset.validation).toBe(r2.dataset.validation);
      expect(r1.dataset.validation).toEqual((await tokenizeCorpus(modern)).dataset.validation);
    } finally {
      r1.destroy();
      r2.destroy();
    }
    await expect(createRun({ ...base, data: { ...base.data, validationFraction: 0.2 } }, { gpu, corpus })).rejects.toMatchObject({ name: 'ConfigError', field: 'data' });
  }, 900_000);
});
