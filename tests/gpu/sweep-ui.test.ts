// The test-time scaling UI against a scripted fake engine: charts grow live for every strategy, samples show their
// thinking apart from the answer, exports hold every point, a ConfigError lands at its field, controls are labelled.
// No GPU needed: the fake client stands in for the engine worker. The view holds no client: it asks for a sweep
// with 'spark-sweep-request', and the test plays the app, carrying it out with sweepInto as LabApp does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cdp, commands, page } from 'vitest/browser';
import { EngineRequestError } from '../../src/engine/client';
import { accuracy } from '../../src/eval/passk';
import type { Strategy, SweepConfig, SweepEvent, SweepPoint, SweepSample } from '../../src/eval/sweep';
import type { SweepDoneDetail, SweepView } from '../../src/ui/sweep-view';
import type { SweepRequestDetail } from '../../src/ui/sweep-panel';
import { STRATEGIES } from '../../src/ui/sweep-data';
import { sweepInto, type SweepClient } from '../../src/ui/view-jobs';
import '../../src/ui/sweep-view';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const frames = async (n = 2) => {
  for (let i = 0; i < n; i++) await new Promise((r) => requestAnimationFrame(r));
};
const RULES = ['oracle', 'logprob', 'majority', 'weighted'] as const;

/** A seeded pseudo-random verdict, so the fake's accuracies differ by strategy and size. */
const lucky = (i: number, p: number) => ((Math.sin(i * 12.9898) * 43758.5453) % 1 + 1) % 1 < p;

function fakeSample(strategy: Strategy, n: number, i: number, correct: boolean, budget?: number): SweepSample {
  const a = 10 + (i % 80);
  const b = 7 + (i % 13);
  const closed = i % 17 !== 5;
  const answer = correct ? String(a + b) : String(a + b + 1);
  const thinking = `${a % 10}+${b % 10}=${(a % 10) + (b % 10)} carry ${Math.floor(((a % 10) + (b % 10)) / 10)}`;
  return {
    strategy, n, budget, problem: `${a}+${b}=`,
    completion: closed ? `${thinking}</think>${answer}<|endoftext|>` : thinking,
    answer: closed ? answer : null, correct: closed && correct, meanLogprob: -0.2 - (i % 7) / 10,
  };
}

/** Emits what runSweep would for `c`: progress, then per batch its points and samples, with small delays. */
function fakeClient(log: { midwayNPoints: number[] }, view: () => SweepView): SweepClient {
  return {
    async sweep(config, onEvent) {
      const c = config as SweepConfig;
      const total = c.ns.length + c.budgets.length + c.extends.length + (c.reasoners > 0 ? 2 : 0);
      let done = 0;
      let seed = 0;
      const emit = async (e: SweepEvent) => {
        onEvent(e);
        await sleep(3);
      };
      const point = (strategy: Strategy, n: number, verdicts: boolean[], tokens: number, ms: number, budget?: number): SweepPoint => {
        const a = accuracy(verdicts);
        return { strategy, n, budget, accuracy: a.estimate, low: a.low, high: a.high, correct: a.correct, total: a.total, tokens, ms };
      };
      for (const n of c.ns) {
        await emit({ kind: 'progress', done, total, label: `best-of-${n}` });
        const samples: SweepSample[] = [];
        for (let p = 0; p < c.problems; p++) {
          const group = Array.from({ length: n }, () => fakeSample('oracle', n, seed, lucky(seed++, 0.45)));
          for (const rule of RULES) {
            const pick = rule === 'oracle' ? Math.max(0, group.findIndex((s) => s.correct)) : (p + rule.length) % n;
            group.forEach((s, j) => ((s.chosen ??= {})[rule] = j === pick));
          }
          samples.push(...group);
        }
        for (const [k, rule] of RULES.entries()) {
          const v = Array.from({ length: c.problems }, (_, p) => lucky(p * 31 + n * 7 + k, Math.min(0.95, 0.3 + 0.1 * Math.log2(n) * (k === 0 ? 2 : 1))));
          await emit({ kind: 'point', point: point(rule, n, v, 900 * n, 35 * n + 20) });
        }
        await emit({ kind: 'samples', samples });
        if (n === c.ns[0]) {
          await frames(3); // the chart must show this batch before the sweep ends
          log.midwayNPoints.push(view().chart.stats.n.oracle ?? 0);
        }
        done++;
      }
      for (const [strategy, list] of [['budget-cap', c.budgets], ['budget-extend', c.extends]] as const) {
        for (const b of list) {
          await emit({ kind: 'progress', done, total, label: `${strategy} ${b}` });
          const samples = Array.from({ length: c.problems }, () => fakeSample(strategy, 1, seed, lucky(seed++, 0.25 + b / 60), b));
          await emit({ kind: 'point', point: point(strategy, 1, samples.map((s) => s.correct), c.problems * (b + 4), 12 + b * 3, b) });
          await emit({ kind: 'samples', samples });
          done++;
        }
      }
      if (c.reasoners > 0) {
        await emit({ kind: 'progress', done, total, label: `contemplating, ${c.reasoners} reasoners` });
        const samples = Array.from({ length: c.problems * c.reasoners }, () => fakeSample('contemplate-vote', c.reasoners, seed, lucky(seed++, 0.45)));
        const v = Array.from({ length: c.problems }, (_, p) => lucky(p + 999, 0.6));
        await emit({ kind: 'point', point: point('contemplate-vote', c.reasoners, v, 900 * c.reasoners, 200) });
        await emit({ kind: 'point', point: point('contemplate-write', c.reasoners, v.map((x, i) => x || i % 5 === 0), 950 * c.reasoners, 260) });
        await emit({ kind: 'samples', samples });
        done += 2;
      }
      await emit({ kind: 'progress', done, total, label: 'done' });
      return { config: c, ms: 1234 };
    },
  };
}

/** Every element under `root`, through shadow roots. */
function deepAll(root: ParentNode): Element[] {
  const out: Element[] = [];
  const walk = (node: ParentNode) => {
    for (const el of node.querySelectorAll('*')) {
      out.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(root);
  return out;
}

function accessibleName(el: Element): string {
  const aria = el.getAttribute('aria-label');
  if (aria) return aria;
  const root = el.getRootNode() as ShadowRoot | Document;
  const by = el.getAttribute('aria-labelledby');
  if (by) return by.split(' ').map((id) => root.querySelector(`#${id}`)?.textContent ?? '').join(' ').trim();
  if (el instanceof HTMLButtonElement) return el.textContent!.trim();
  const wrapping = el.closest('label');
  if (wrapping) return wrapping.textContent!.trim();
  return el.id ? (root.querySelector(`label[for="${el.id}"]`)?.textContent ?? '').trim() : '';
}

const panelOf = (v: SweepView) => v.panel.renderRoot;
const runButton = (v: SweepView) => panelOf(v).querySelector<HTMLButtonElement>('[data-testid="run-sweep"]')!;
async function typeInto(v: SweepView, key: string, text: string) {
  const input = panelOf(v).querySelector<HTMLInputElement>(`#sw-${key}`)!;
  input.value = text;
  input.dispatchEvent(new Event('input', { bubbles: true }));
  await v.panel.updateComplete;
}

describe('test-time sweep UI', () => {
  let view: SweepView;
  const log = { midwayNPoints: [] as number[] };
  /** The engine as the app would reach it; null until a test gives one (the view never sees it). */
  let client: SweepClient | null = null;
  const requests: SweepRequestDetail[] = [];

  beforeAll(async () => {
    // A window big enough that the test runner does not scale the frame down (readable screenshots).
    await cdp().send('Emulation.setDeviceMetricsOverride', { width: 1400, height: 2600, deviceScaleFactor: 1, mobile: false }).catch(() => undefined);
    await page.viewport(1280, 2400);
    document.body.style.cssText = 'margin: 12px; font: 15px/1.45 system-ui, sans-serif; color: #1b1b22';
    view = document.createElement('spark-sweep-view');
    view.style.maxWidth = '1240px';
    // The app's side of the contract: a request bubbles up, the app runs it and feeds the view.
    view.addEventListener('spark-sweep-request', (e) => {
      requests.push(e.detail);
      if (client) void sweepInto(client, view, e.detail.config);
    });
    document.body.append(view);
    await view.updateComplete;
  });
  afterAll(() => view.remove());

  it('needs a run and valid settings: inline messages name the field, cross-field rules included', async () => {
    expect(runButton(view).disabled).toBe(true);
    expect(panelOf(view).textContent).toContain('Train or load a run first');
    expect('client' in view).toBe(false); // the view talks to no engine
    client = fakeClient(log, () => view);
    view.hasRun = true;
    await view.updateComplete;
    await view.panel.updateComplete;
    expect(runButton(view).disabled).toBe(false);

    await typeInto(view, 'problems', 'lots');
    const box = () => panelOf(view).querySelector('[data-field="sweep.problems"]')!;
    expect(box().classList.contains('invalid')).toBe(true);
    expect(box().textContent).toContain('sweep.problems must be a number');
    expect(runButton(view).disabled).toBe(true);
    await typeInto(view, 'problems', '0');
    expect(box().textContent).toContain('at least 1');
    await typeInto(view, 'problems', '600'); // 600 × N=8 > 4096 sequences
    expect(box().textContent).toContain('4096');
    await typeInto(view, 'ns', '1, 2, x');
    expect(panelOf(view).querySelector('[data-field="sweep.ns"]')!.textContent).toContain('"x" is not a number');
    view.panel.setConfig({ problems: 64, ns: [1, 2, 4, 8], budgets: [0, 4, 8, 16], extends: [8, 16], reasoners: 4, temperature: 0.8 });
    await view.panel.updateComplete;
    expect(view.panel.errors.size).toBe(0);
    expect(runButton(view).disabled).toBe(false);
  });

  it('runs the sweep: charts gain points for every strategy while it runs, the inspector lists every sample', async () => {
    const chart = view.chart;
    expect(chart.renderRoot.querySelector('[data-testid="sweep-empty"]')).not.toBeNull();
    const done = new Promise<SweepDoneDetail>((r) => view.addEventListener('spark-sweep-done', (e) => r(e.detail), { once: true }));
    const t0 = performance.now();
    runButton(view).click();
    await view.updateComplete;
    await view.panel.updateComplete;
    expect(runButton(view).disabled).toBe(true);
    expect(runButton(view).textContent).toContain('Sweeping');
    expect(requests.at(-1)!.config).toEqual(view.panel.config); // the validated form, as the request's detail
    const detail = await done;
    await frames(3);
    await view.updateComplete;
    console.log(`[sweep-ui] fake sweep of ${detail.points} points and ${detail.samples} samples rendered in ${(performance.now() - t0).toFixed(0)} ms`);

    expect(log.midwayNPoints[0]).toBe(1); // live: the first batch was drawn before the sweep ended
    const s = chart.stats;
    expect(s.n).toEqual({ oracle: 4, logprob: 4, majority: 4, weighted: 4, 'contemplate-vote': 1, 'contemplate-write': 1 });
    expect(s.budget).toEqual({ 'budget-cap': 4, 'budget-extend': 2 });
    for (const v of ['tokens', 'ms'] as const) expect(Object.keys(s[v]).sort()).toEqual(STRATEGIES.map((x) => x.id).sort());
    expect(chart.renderRoot.querySelector('[data-testid="sweep-empty"]')).toBeNull();
    // The rendered legends name every strategy (uPlot's legend table, one per plot).
    const legends = [...chart.renderRoot.querySelectorAll('.u-legend')];
    expect(legends).toHaveLength(4);
    const legendText = legends.map((l) => l.textContent).join(' ');
    for (const st of STRATEGIES) expect(legendText).toContain(st.label);
    expect(chart.renderRoot.querySelectorAll('canvas').length).toBeGreaterThanOrEqual(4);

    expect(panelOf(view).querySelector('[data-testid="sweep-progress-label"]')!.textContent).toContain('done');
    expect(view.renderRoot.querySelector('[data-testid="sweep-summary"]')!.textContent).toContain(`${detail.points} points`);

    const insp = view.inspector;
    expect(insp.samples).toHaveLength(detail.samples);
    expect(detail.samples).toBe(64 * (1 + 2 + 4 + 8) + 64 * 4 + 64 * 2 + 64 * 4);
    const rows = () => [...insp.renderRoot.querySelectorAll('[data-testid="sample-row"]')];
    expect(rows()).toHaveLength(50); // one page, not thousands of rows
    expect(insp.renderRoot.querySelector('[data-testid="inspector-summary"]')!.textContent).toContain(`of ${detail.samples} samples`);
    const first = rows()[0];
    const thinking = first.querySelector('[data-testid="sample-thinking"]')!;
    const answer = first.querySelector('[data-testid="sample-answer"]')!;
    expect(thinking).not.toBe(answer);
    expect(thinking.contains(answer)).toBe(false);
    const want = insp.samples[0];
    expect(thinking.textContent).toContain(want.completion.split('</think>')[0]);
    expect(thinking.textContent).not.toContain('</think>');
    expect(answer.textContent).toContain(want.answer!);
    expect(getComputedStyle(thinking).fontStyle).toBe('italic'); // set apart by more than colour
    expect(first.querySelector('[data-testid="sample-verdict"]')!.textContent).toMatch(/✓ correct|✗ wrong/);

    const pick = async (testId: string, value: string) => {
      const sel = insp.renderRoot.querySelector<HTMLSelectElement>(`[data-testid="${testId}"]`)!;
      sel.value = value;
      sel.dispatchEvent(new Event('change'));
      await insp.updateComplete;
    };
    await pick('filter-verdict', 'incorrect');
    await pick('filter-n', '8');
    const wrong8 = insp.samples.filter((x) => !x.correct && x.n === 8).length;
    expect(insp.renderRoot.querySelector('[data-testid="inspector-summary"]')!.textContent).toContain(`of ${wrong8} samples`);
    for (const r of rows()) expect(r.querySelector('[data-testid="sample-verdict"]')!.textContent).toContain('✗ wrong');
    insp.renderRoot.querySelector<HTMLButtonElement>('[data-testid="page-next"]')!.click();
    await insp.updateComplete;
    expect(insp.renderRoot.querySelector('[data-testid="inspector-summary"]')!.textContent).toContain('Showing 51–');
    await pick('filter-n', '');
    await pick('filter-verdict', '');
    await pick('filter-group', 'budget-cap');
    for (const r of rows()) expect(r.textContent).toContain('budget cap B=');
    await pick('filter-group', '');
  });

  it('exports every point as CSV and the plots as a PNG', async () => {
    const chart = view.chart;
    let blob: Blob | null = null;
    const original = URL.createObjectURL;
    URL.createObjectURL = (b: Blob | MediaSource) => ((blob = b as Blob), 'blob:captured');
    const originalClick = HTMLAnchorElement.prototype.click;
    HTMLAnchorElement.prototype.click = () => undefined; // no real download in the test page
    try {
      chart.renderRoot.querySelector<HTMLButtonElement>('[data-testid="sweep-export-csv"]')!.click();
    } finally {
      URL.createObjectURL = original;
      HTMLAnchorElement.prototype.click = originalClick;
    }
    expect(blob).not.toBeNull();
    const lines = (await blob!.text()).trim().split('\n');
    expect(lines[0]).toBe('strategy,n,budget,accuracy,low,high,correct,total,tokens,ms');
    expect(lines).toHaveLength(chart.points.length + 1);
    for (const st of STRATEGIES) expect(lines.some((l) => l.startsWith(`${st.id},`))).toBe(true);
    for (const p of chart.points) expect(lines).toContain([p.strategy, p.n, p.budget ?? '', p.accuracy, p.low, p.high, p.correct, p.total, p.tokens, p.ms].join(','));
    const png = await chart.toPng();
    expect(png?.type).toBe('image/png');
    expect(png!.size).toBeGreaterThan(5000);
    const bytes = new Uint8Array(await png!.arrayBuffer());
    let binary = '';
    for (const b of bytes) binary += String.fromCharCode(b);
    await commands.writeFile('test-results/sweep-ui-export.png', btoa(binary), 'base64'); // what "Export PNG" saves
  });

  it('labels every control and names every button', async () => {
    const els = deepAll(view.renderRoot);
    const controls = els.filter((e) => e instanceof HTMLButtonElement || e instanceof HTMLInputElement || e instanceof HTMLSelectElement || e instanceof HTMLProgressElement);
    expect(controls.length).toBeGreaterThan(20);
    const unnamed = controls.filter((e) => !accessibleName(e)).map((e) => e.outerHTML.slice(0, 80));
    expect(unnamed).toEqual([]);
    for (const plot of els.filter((e) => e.classList.contains('plot'))) expect(plot.getAttribute('aria-label')).toMatch(/Accuracy against/);
    await page.screenshot({ path: '../../test-results/sweep-ui.png', element: view });
    await page.screenshot({ path: '../../test-results/sweep-ui-charts.png', element: view.chart });
    await page.screenshot({ path: '../../test-results/sweep-ui-samples.png', element: view.inspector });
  });

  it('shows an engine ConfigError with its name, message and field, and marks the field', async () => {
    client = {
      sweep: async () => {
        await sleep(5);
        throw new EngineRequestError({ name: 'ConfigError', message: 'sweep: 64 problems × 8 samples is too many for this GPU', field: 'sweep.problems' });
      },
    };
    await view.updateComplete;
    runButton(view).click();
    await sleep(50);
    await view.updateComplete;
    const alert = view.renderRoot.querySelector('[data-testid="sweep-error"]')!;
    expect(alert.getAttribute('role')).toBe('alert');
    expect(alert.textContent).toContain('ConfigError');
    expect(alert.textContent).toContain('too many for this GPU');
    expect(alert.querySelector('[data-testid="sweep-error-field"]')!.textContent).toBe('sweep.problems');
    await view.panel.updateComplete;
    const box = panelOf(view).querySelector('[data-field="sweep.problems"]')!;
    expect(box.classList.contains('invalid')).toBe(true);
    expect(box.textContent).toContain('too many for this GPU');
    expect(runButton(view).disabled).toBe(true); // until the field is edited
    await typeInto(view, 'problems', '32');
    expect(runButton(view).disabled).toBe(false);
    await typeInto(view, 'problems', '64'); // the message is shown again for the screenshot
    view.panel.showFieldError('sweep.problems', 'sweep: 64 problems × 8 samples is too many for this GPU');
    await view.panel.updateComplete;
    await page.screenshot({ path: '../../test-results/sweep-ui-error.png', element: view.panel });
  });
});
