// The Scaling section against a scripted engine: at 'ready' it asks for the stored study and an estimate, offers
// to resume an interrupted study, confirms before replacing one, starts a study with the form's spec, draws a
// few hundred runs live without long tasks, fills the multiplier and fit tables (error rows as text), switches the
// x-axis, shows progress and a refused start, and exports. No GPU needed: the test plays the app and the engine,
// answering the view's 'spark-scaling-command' events through `receive`, as LabApp does. Screenshots:
// test-results/scaling-ui-*.png.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cdp, commands, page } from 'vitest/browser';
import type { EngineCommand, EngineEvent } from '../../src/engine/protocol';
import type { StudyPlanSummary, StudySpec } from '../../src/scaling/study';
import { STUDY_CSV_HEADER, studyToCsv } from '../../src/ui/scaling-data';
import type { ScalingView } from '../../src/ui/scaling-view';
import { fixtureFits, fixtureStudy } from '../util/scaling-fixtures';
import '../../src/ui/scaling-view';

const frames = async (n = 2) => {
  for (let i = 0; i < n; i++) await new Promise((r) => requestAnimationFrame(r));
};
const shot = (name: string, element: Element) => page.screenshot({ path: `../../test-results/scaling-ui-${name}.png`, element });
const q = <T extends Element>(root: ParentNode, sel: string) => root.querySelector<T>(sel);
const testId = <T extends Element>(root: ParentNode, id: string) => q<T>(root, `[data-testid="${id}"]`);

const PLAN: StudyPlanSummary = {
  recipes: ['baseline', 'modern'].map((recipe) => ({ recipe, runs: 16, lrSearchRuns: 6, trainFlops: 4.2e12, evalFlops: 3e10, lrSearchFlops: 1.1e12, optimizerFlops: 0, allInFlops: 5.4e12, seconds: 95 })),
  totalSeconds: 190,
  timeBasis: 'assumed',
};

describe('scaling UI', () => {
  let view: ScalingView;
  const sent: EngineCommand[] = [];
  const last = <T extends EngineCommand['type']>(type: T) => [...sent].reverse().find((c) => c.type === type) as Extract<EngineCommand, { type: T }> | undefined;
  const panel = () => view.panel.renderRoot;
  const send = async (e: EngineEvent) => {
    view.receive(e);
    await view.updateComplete;
    await view.panel.updateComplete;
  };

  beforeAll(async () => {
    await cdp().send('Emulation.setDeviceMetricsOverride', { width: 1400, height: 1800, deviceScaleFactor: 1, mobile: false }).catch(() => undefined);
    await page.viewport(1300, 1700);
    document.body.style.cssText = 'margin: 12px; font: 15px/1.45 system-ui, sans-serif; color: #1b1b22';
    view = document.createElement('spark-scaling-view');
    view.style.maxWidth = '1260px';
    view.addEventListener('spark-scaling-command', (e) => sent.push(e.detail));
    document.body.append(view);
    await view.updateComplete;
  });
  afterAll(() => view.remove());

  it('at ready: loads the stored study and asks for an estimate of the form; offers to resume an interrupted study', async () => {
    expect(sent).toEqual([]); // nothing before the engine is ready
    await send({ type: 'ready', adapter: { vendor: 'x', architecture: 'y', description: 'z', isFallbackAdapter: false }, features: {} as never, limits: {} } as unknown as EngineEvent);
    await send({ type: 'state', state: 'no-run' });
    await expect.poll(() => last('scaling-plan')).toBeTruthy();
    const load = last('scaling-load')!;
    expect(load.requestId).toBeLessThan(0);
    const plan = last('scaling-plan')!;
    expect(plan.spec).toEqual({ recipes: ['baseline', 'modern'], baseline: 'baseline', grid: { preset: 'classroom', seeds: [1, 2] } });
    expect(testId(panel(), 'scaling-plan')!.textContent).toMatch(/Estimating/);
    await send({ type: 'scaling-plan', requestId: plan.requestId, plan: PLAN });
    const planText = testId(panel(), 'scaling-plan')!.textContent!.replace(/\s+/g, ' ');
    expect(planText).toMatch(/44 runs .* training 8.40 TFLOP · all-in 10.8 TFLOP · about 3 min 10 s \(assumed laptop GPU rate/);
    await shot('panel', view.panel);

    const stored = fixtureStudy({ recipes: ['baseline', 'muon'], queued: 3, status: 'running' }); // a reload interrupted it
    stored.spec = { recipes: ['baseline', 'muon'], baseline: 'baseline', grid: { preset: 'quick', seeds: [3, 4], tokensPerParam: [2, 4] } };
    await send({ type: 'scaling-study', requestId: load.requestId, study: stored, fits: fixtureFits(stored) });
    // The form shows what the stored study ran, and the estimate follows it.
    expect(testId<HTMLInputElement>(panel(), 'scaling-seeds')!.value).toBe('3, 4');
    expect(testId<HTMLSelectElement>(panel(), 'scaling-preset')!.value).toBe('quick');
    expect(testId<HTMLInputElement>(panel(), 'scaling-recipe-muon')!.checked).toBe(true);
    expect(testId<HTMLInputElement>(panel(), 'scaling-recipe-modern')!.checked).toBe(false);
    expect(JSON.parse(testId<HTMLTextAreaElement>(panel(), 'scaling-custom')!.value)).toEqual({ tokensPerParam: [2, 4] });
    await expect.poll(() => last('scaling-plan')!.spec).toEqual(stored.spec);
    expect(testId(panel(), 'scaling-resume')).not.toBeNull();
    expect(testId(panel(), 'scaling-cancel')).toBeNull(); // it does not run until resumed
    expect(testId(view.renderRoot, 'scaling-status')!.textContent!.replace(/\s+/g, ' ')).toMatch(/^Study interrupted \(grid\): 37 of 40 runs done/);
    await frames(3);
    expect(view.chart.drawn.map((d) => d.recipe)).toEqual(['baseline', 'muon']);
    testId<HTMLButtonElement>(panel(), 'scaling-resume')!.click();
    expect(last('scaling-resume')).toBeTruthy();
    await view.updateComplete;
    expect(testId(panel(), 'scaling-cancel')).not.toBeNull();
    expect(testId(view.renderRoot, 'scaling-status')!.textContent).toMatch(/^Study running \(grid\)/);
  });

  it('starts nothing while a study is stored; clears it on a second click; a refused start shows its error', async () => {
    await send({ type: 'scaling-study', study: { ...fixtureStudy({ queued: 3 }), status: 'cancelled' }, fits: null });
    const run = () => testId<HTMLButtonElement>(panel(), 'scaling-run')!;
    expect(run().disabled).toBe(true);
    expect(q(panel(), '#sc-why')!.textContent).toMatch(/A study is stored: resume it, or export and clear it to start another/);
    expect(testId(panel(), 'scaling-resume')).not.toBeNull(); // a cancelled study can go on
    testId<HTMLButtonElement>(panel(), 'scaling-clear')!.click();
    await view.panel.updateComplete;
    expect(last('scaling-clear')).toBeUndefined(); // not on one click
    testId<HTMLButtonElement>(panel(), 'scaling-clear')!.click();
    const clear = last('scaling-clear')!;
    await send({ type: 'scaling-study', requestId: clear.requestId, study: null, fits: null });
    await frames(3);
    expect(testId(view.chart.renderRoot, 'scaling-empty')).not.toBeNull();
    expect(testId(panel(), 'scaling-clear')).toBeNull();
    expect(run().disabled).toBe(false);
    run().click();
    const start = last('scaling-start')!;
    expect(start.spec).toEqual({ recipes: ['baseline', 'muon'], baseline: 'baseline', grid: { preset: 'quick', seeds: [3, 4], tokensPerParam: [2, 4] } });
    await view.updateComplete;
    expect(testId(panel(), 'scaling-cancel')).not.toBeNull();
    await send({ type: 'error', requestId: start.requestId, error: { name: 'EngineStateError', message: "this page's run is training or paused: stop it before starting a scaling study" } });
    expect(testId(view.renderRoot, 'scaling-error')!.textContent).toMatch(/Could not start the study: EngineStateError — this page's run is training/);
    expect(run().disabled).toBe(false);
  });

  it('refuses bad seeds at their field and asks no estimate for them', async () => {
    const before = sent.length;
    const input = testId<HTMLInputElement>(panel(), 'scaling-seeds')!;
    input.value = '1';
    input.dispatchEvent(new Event('input'));
    await view.panel.updateComplete;
    expect(testId(panel(), 'scaling-field-error')!.textContent).toMatch(/at least 2 different seeds/);
    expect(testId<HTMLButtonElement>(panel(), 'scaling-run')!.disabled).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    expect(sent.slice(before).some((c) => c.type === 'scaling-plan')).toBe(false);
    input.value = '1, 2, 3';
    input.dispatchEvent(new Event('input'));
    await expect.poll(() => (last('scaling-plan')!.spec as StudySpec).grid).toMatchObject({ seeds: [1, 2, 3] });
    // The engine's refusal of a grid setting lands at the custom grid, with the estimate saying why there is none.
    const message = 'recipe baseline: grid.sizes.growth 1.3 repeats width 12 at sizes 1 and 2 once rounded to the head size 4: raise the growth or lower the head size';
    await send({ type: 'error', requestId: last('scaling-plan')!.requestId, error: { name: 'ConfigError', message, field: 'grid.sizes.growth' } });
    expect(testId(panel(), 'scaling-field-error')!.textContent).toBe(message);
    expect(q(panel(), '.invalid textarea')).not.toBeNull();
    expect(testId(panel(), 'scaling-plan')!.textContent).toContain(`No estimate: ${message}`);
    input.dispatchEvent(new Event('input')); // an edit clears it
    await view.panel.updateComplete;
    expect(testId(panel(), 'scaling-field-error')).toBeNull();
  });

  it('draws a few hundred runs live, without long tasks, and fills the tables', async () => {
    testId<HTMLButtonElement>(panel(), 'scaling-run')!.click();
    const start = last('scaling-start')!;
    const full = fixtureStudy({ recipes: ['baseline', 'modern', 'muon'], sizes: 6, seeds: [1, 2, 3], budgets: [2, 5, 10, 20, 40], points: 10 });
    expect(full.runs.length).toBeGreaterThan(250);
    const fits = fixtureFits(full);
    // The study grows one run at a time, as the runner posts it after every run; snapshots made before measuring.
    const steps = 30;
    const snapshots = Array.from({ length: steps }, (_, j) => {
      const n = Math.round((full.runs.length * (j + 1)) / steps);
      return { n, runs: full.runs.map((r, i) => (i < n ? r : { ...r, status: 'queued' as const, curve: [] })) };
    });
    await frames(3);
    const tasks: number[] = [];
    /** The view's own synchronous work per snapshot (receive and render), for the failure message. */
    const own: number[] = [];
    const obs = new PerformanceObserver((l) => l.getEntries().forEach((e) => tasks.push(e.duration)));
    obs.observe({ type: 'longtask' });
    for (let k = 1; k <= steps; k++) {
      const { n, runs } = snapshots[k - 1];
      const t0 = performance.now();
      view.receive({ type: 'scaling-study', ...(k === 1 ? { requestId: start.requestId } : {}), study: { ...full, status: k === steps ? 'done' : 'running', runs }, fits: k > steps / 2 ? fits : null });
      if (k === steps / 2) view.receive({ type: 'scaling-progress', runId: full.runs[n].id, step: 30, steps: 120, done: 0.5, etaSeconds: 95 });
      await view.updateComplete;
      const t1 = performance.now();
      await frames(1);
      own.push(t1 - t0);
      if (k === steps / 2) {
        await view.updateComplete;
        expect(testId(panel(), 'scaling-progress-label')!.textContent).toMatch(/^50% · .* — step 30 of 120 · about 1 min 35 s left$/);
      }
    }
    await frames(3);
    obs.disconnect();
    // The page's bound. A long task here on a machine busy with other work shows as tasks far above `own`.
    expect(Math.max(0, ...tasks), `long tasks ${tasks.map(Math.round)} ms; the view's own work per update at most ${Math.max(...own).toFixed(1)} ms`).toBeLessThanOrEqual(50);
    expect(view.active).toBe(false); // the last snapshot said done
    expect(view.chart.current!.runs.length).toBe(full.runs.length);
    expect(view.chart.drawn).toEqual([
      { recipe: 'baseline', runs: 90, search: 4, fit: true },
      { recipe: 'modern', runs: 90, search: 4, fit: true },
      { recipe: 'muon', runs: 90, search: 4, fit: false },
    ]);
    const table = q<HTMLElement>(view.renderRoot, 'spark-scaling-table')!.shadowRoot!;
    const rows = [...table.querySelectorAll('[data-testid="scaling-multipliers"] tr[data-recipe]')]
      .map((r) => [...r.querySelectorAll('td')].map((td) => [...td.querySelectorAll('span')].map((x) => x.textContent!.trim()).join(' ') || td.textContent!.trim()).join(' | '));
    expect(rows[0]).toBe('Modern block | 2.04× [1.62, 2.71] | 1.97× [1.55, 2.6] | 1.31× [0.88, 1.9] | 2.850');
    expect(rows[1]).toBe('Muon | needs ≥ 4 finished sizes (has 2)');
    expect(rows[2]).toMatch(/^Spark \(all\) \| 3.1× \[2.2, ∞\] \|.* \| 2.600 extrapolated$/);
    expect([...table.querySelectorAll('th[scope="rowgroup"]')].map((t) => t.textContent)).toEqual(['One ingredient over the baseline', 'All together', 'Leave one out of the full recipe']);
    expect(table.querySelector('[data-testid="scaling-fits"] tr[data-recipe="muon"]')!.textContent).toMatch(/needs ≥ 4 finished sizes/);
    await shot('view', view);
    await shot('table', q(view.renderRoot, 'spark-scaling-table')!);
  });

  it('switches the x-axis to all-in FLOPs and wall-clock (envelopes follow; the fit stays on training FLOPs)', async () => {
    const select = q<HTMLSelectElement>(view.chart.renderRoot, 'select')!;
    select.value = 'seconds';
    select.dispatchEvent(new Event('change'));
    await frames(3);
    expect(view.chart.current!.series.every((s) => s.kind === 'envelope')).toBe(true);
    expect(view.chart.drawn.every((d) => !d.fit)).toBe(true);
    await shot('chart-seconds', view.chart);
    select.value = 'flops';
    select.dispatchEvent(new Event('change'));
    await frames(3);
    expect(view.chart.current!.series.filter((s) => s.kind === 'fit').map((s) => s.recipe)).toEqual(['baseline', 'modern']);
    await shot('chart', view.chart);
  });

  it('exports a PNG with its legend, and CSV of every point', async () => {
    const png = await view.chart.toPng();
    expect(png?.type).toBe('image/png');
    expect(png!.size).toBeGreaterThan(5000);
    const bytes = new Uint8Array(await png!.arrayBuffer());
    let binary = '';
    for (const b of bytes) binary += String.fromCharCode(b);
    await commands.writeFile('test-results/scaling-ui-export.png', btoa(binary), 'base64');
    const csv = studyToCsv(view.study).trim().split('\n');
    expect(csv[0]).toBe(STUDY_CSV_HEADER);
    expect(csv.length - 1).toBe(view.study!.runs.reduce((s, r) => s + r.curve.length, 0));
    for (const id of ['scaling-export-png', 'scaling-export-csv', 'scaling-export-json']) expect(testId<HTMLButtonElement>(view.renderRoot, id)!.disabled).toBe(false);
  });

  it('names every control', () => {
    const all: Element[] = [];
    const walk = (root: ParentNode) => root.querySelectorAll('*').forEach((el) => (all.push(el), el.shadowRoot && walk(el.shadowRoot)));
    walk(view.renderRoot);
    const controls = all.filter((e) => e instanceof HTMLButtonElement || e instanceof HTMLInputElement || e instanceof HTMLSelectElement || e instanceof HTMLTextAreaElement || e instanceof HTMLProgressElement);
    expect(controls.length).toBeGreaterThan(15);
    const named = (el: Element) => {
      const root = el.getRootNode() as ShadowRoot;
      return !!(el.getAttribute('aria-label') || (el instanceof HTMLButtonElement && el.textContent!.trim()) || el.closest('label')?.textContent!.trim()
        || (el.id && root.querySelector(`label[for="${el.id}"]`)?.textContent!.trim()));
    };
    expect(controls.filter((e) => !named(e)).map((e) => e.outerHTML.slice(0, 80))).toEqual([]);
  });

  it('a finished study is stored (no resume, no new start until cleared); an engine that stops ends the running state', async () => {
    expect(testId(panel(), 'scaling-resume')).toBeNull();
    expect(testId<HTMLButtonElement>(panel(), 'scaling-run')!.disabled).toBe(true);
    await send({ type: 'scaling-study', study: null, fits: null });
    testId<HTMLButtonElement>(panel(), 'scaling-run')!.click();
    await view.updateComplete;
    expect(testId(panel(), 'scaling-cancel')).not.toBeNull();
    await send({ type: 'scaling-progress', runId: 'r1', step: 1, steps: 10, done: 0.01, etaSeconds: null });
    expect(testId(panel(), 'scaling-progress')).not.toBeNull();
    await send({ type: 'engine-stopped', message: 'The engine stopped: test.' });
    expect(testId(panel(), 'scaling-cancel')).toBeNull();
    expect(testId(panel(), 'scaling-progress')).toBeNull();
    expect(q(panel(), '#sc-why')!.textContent).toMatch(/The engine stopped/);
  });
});
