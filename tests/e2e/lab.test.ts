/**
 * The lab page used as a person would: pick the tiny dense preset, train, watch the chart grow and the loss fall,
 * sample, save the checkpoint (a download) and load it back, follow a shared link, and see a hostile link refused;
 * train a tiny reasoner and sweep its test-time compute (best-of-N, thinking budgets, contemplation); survive the
 * engine worker's death (restart, autosaves kept); confirm a big linked run and see it refused over the memory budget.
 * Long tasks on the page's main thread are measured while training runs (the engine trains in its worker, so
 * the page must stay responsive), and the chart is fed tens of thousands of points to check it stays smooth.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes, si } from '../../src/ui/format';
import { runSize } from '../../src/ui/presets';
import { launch, serveDist, watchErrors, yieldEmulatedGpu, type Served } from './browser';

let served: Served;
let browser: Browser;
beforeAll(async () => {
  served = await serveDist();
  browser = await launch();
  mkdirSync('test-results', { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await served?.close();
});

const LONG_TASK_LIMIT_MS = 50;
const shot = (page: Page, name: string) => page.screenshot({ path: `test-results/lab-${name}.png`, fullPage: true });
const b64url = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

/** Records every long task of the page from its start (buffered), with its start time. */
async function openLab(hash = '', viewport = { width: 1366, height: 900 }): Promise<{ page: Page; errors: string[] }> {
  // Its own context (storage, IndexedDB), closed with the page; a second page in it sees the same autosaves.
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.on('close', () => void context.close().catch(() => undefined));
  const errors = watchErrors(page);
  await page.addInitScript(() => {
    const w = window as unknown as { __longTasks: { start: number; duration: number }[] };
    w.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
    // Long animation frames name the scripts that ran in them: what a long task was, when one fails the bound.
    const f = window as unknown as { __longFrames: unknown[] };
    f.__longFrames = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries() as unknown as { startTime: number; duration: number; scripts: { invoker: string; sourceURL: string; sourceFunctionName: string; duration: number }[] }[]) {
        f.__longFrames.push({
          start: Math.round(e.startTime),
          duration: Math.round(e.duration),
          scripts: e.scripts.map((x) => `${x.invoker} ${x.sourceFunctionName}@${x.sourceURL.split('/').pop()} ${Math.round(x.duration)} ms`),
        });
      }
    }).observe({ type: 'long-animation-frame', buffered: true });
  });
  await page.goto(served.url + hash);
  await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
  yieldEmulatedGpu();
  return { page, errors };
}

const chartStats = (page: Page) =>
  page.evaluate(() => document.querySelector('spark-lab')!.shadowRoot!.querySelector('spark-loss-chart')!.stats);
const longTasksSince = (page: Page, t0: number) =>
  page.evaluate((t) => (window as unknown as { __longTasks: { start: number; duration: number }[] }).__longTasks.filter((x) => x.start >= t), t0);
const now = (page: Page) => page.evaluate(() => performance.now());
const engineState = (page: Page) => page.getByTestId('run-status').getAttribute('data-state');

describe('the lab page', () => {
  it('trains the tiny dense preset, samples, saves and loads the checkpoint, with no long tasks and no console errors', async () => {
    const { page, errors } = await openLab();
    await expect.poll(() => engineState(page), { timeout: 60_000 }).toMatch(/no-run|idle/);
    // the engine measured its kernel choices on this adapter before it took a run (first session in this browser)
    expect(await page.getByTestId('tuning').textContent()).toMatch(/matmul tiles \d+x\d+.* \(small\) and \d+x\d+.* \(large\), norms .*, reductions over \d+ workgroups; measured now in \d+\.\d s/);
    await page.getByTestId('preset-tiny-dense').click();
    await expect.poll(() => page.getByTestId('config-summary').textContent()).toMatch(/2 layers · width 32/);
    await shot(page, 'start');

    const t0 = await now(page);
    await page.getByTestId('train').click();
    await expect.poll(() => engineState(page), { timeout: 120_000 }).toBe('training');
    // Enough steps for the byte-level loss to leave ln(vocab) ≈ 5.6 well behind.
    await expect.poll(async () => (await chartStats(page)).points, { timeout: 150_000, interval: 500 }).toBeGreaterThanOrEqual(30);
    const stats = await chartStats(page);
    console.log(`chart: ${stats.points} points, train loss ${stats.firstLoss?.toFixed(3)} → ${stats.lastLoss?.toFixed(3)}`);
    expect(stats.lastLoss!).toBeLessThan(stats.firstLoss! - 1);
    await expect.poll(async () => (await chartStats(page)).valPoints, { timeout: 60_000, interval: 500 }).toBeGreaterThanOrEqual(1);
    expect(await page.getByTestId('tokens-per-second').textContent()).not.toBe('–');
    await shot(page, 'training');

    // From the keyboard: Enter on Pause; the same button, still focused, becomes Resume and takes Space.
    await page.getByTestId('pause').focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => engineState(page), { timeout: 60_000 }).toBe('paused');
    await expect.poll(() => page.getByTestId('resume').evaluate((b) => b.matches(':focus'))).toBe(true);
    await page.keyboard.press('Space');
    await expect.poll(() => engineState(page), { timeout: 60_000 }).toBe('training');
    await page.getByTestId('stop').click();
    await expect.poll(() => engineState(page), { timeout: 60_000 }).toBe('idle');
    const tasks = await longTasksSince(page, t0);
    const maxTask = Math.max(0, ...tasks.map((t) => t.duration));
    console.log(`long tasks while training: ${tasks.length}, longest ${maxTask.toFixed(0)} ms`);
    if (tasks.length > 0) {
      const frames = await page.evaluate((t) => (window as unknown as { __longFrames: { start: number }[] }).__longFrames.filter((x) => x.start >= t), t0);
      console.log(`long tasks: ${JSON.stringify(tasks)}\nlong animation frames: ${JSON.stringify(frames, null, 1)}`);
    }
    expect(maxTask).toBeLessThanOrEqual(LONG_TASK_LIMIT_MS);

    // Sample: the text streams into the output after the prompt.
    await page.getByTestId('prompt').fill('Once upon a time');
    await page.getByTestId('sample-maxTokens').fill('48');
    await page.getByTestId('sample').click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: /tokens at/ }).count(), { timeout: 60_000 }).toBe(1);
    const sampled = (await page.getByTestId('sample-output').textContent()) ?? '';
    expect(sampled.startsWith('Once upon a time')).toBe(true);
    expect(sampled.length).toBeGreaterThan('Once upon a time'.length + 10);
    await shot(page, 'sample');

    // Save (a download), then load that file back: a second series starts at the saved step.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('save').click()]);
    const file = `test-results/lab-${download.suggestedFilename()}`;
    await download.saveAs(file);
    expect(download.suggestedFilename()).toMatch(/\.safetensors$/);
    await page.getByTestId('load-file').setInputFiles(file);
    await expect.poll(() => page.getByTestId('checkpoint-message').textContent(), { timeout: 60_000 }).toMatch(/Loaded .*step \d+/);
    expect((await chartStats(page)).runs).toBe(2);
    await expect.poll(() => engineState(page)).toBe('idle');
    await shot(page, 'loaded');

    // A broken file is refused with its code and message.
    await page.getByTestId('load-file').setInputFiles({ name: 'broken.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('not a checkpoint at all') });
    await expect.poll(() => page.getByTestId('checkpoint-message').textContent(), { timeout: 30_000 }).toMatch(/Could not load broken\.safetensors: CheckpointError \[[a-z-]+\]/);
    await shot(page, 'load-error');

    // A new visit in the same browser offers to resume the newest autosave; resuming it loads that run.
    const again = await page.context().newPage();
    const againErrors = watchErrors(again);
    await again.goto(served.url);
    await again.getByTestId('resume-offer').waitFor({ timeout: 60_000 });
    expect(await again.getByTestId('resume-offer').textContent()).toMatch(/at step \d+/);
    await shot(again, 'resume-offer');
    await again.getByTestId('resume-newest').click();
    await expect.poll(() => again.getByTestId('checkpoint-message').textContent(), { timeout: 60_000 }).toMatch(/Loaded the autosaved run: step \d+/);

    // Device loss (forced through the engine's test-only command): the page says so and that the run resumes
    // from its last autosave; the engine reloads it on a new device.
    await again.evaluate(() => (document.querySelector('spark-lab') as unknown as { client: { send(c: { type: string }): void } }).client.send({ type: 'debug-lose-device' }));
    await expect.poll(() => again.getByTestId('device-lost').textContent(), { timeout: 60_000 }).toMatch(/device was lost.*resumes the run from its last autosave \(step \d+\)/s);
    await expect.poll(() => engineState(again), { timeout: 120_000 }).toBe('idle');
    await shot(again, 'device-lost');

    // The worker dies (a test-only uncaught error): the page says the engine stopped and offers a restart; the
    // new engine lists the autosaves, which outlive the worker in IndexedDB, and offers to resume the newest.
    const autosaved = await again.getByTestId('autosaves').locator('li').allTextContents();
    expect(autosaved.length).toBeGreaterThan(0);
    await again.evaluate(() => (document.querySelector('spark-lab') as unknown as { client: { send(c: object): void } }).client.send({ type: 'debug-crash', how: 'throw' }));
    await again.getByTestId('engine-stopped').waitFor({ timeout: 30_000 });
    expect(await again.getByTestId('engine-stopped').textContent()).toMatch(/The engine stopped\.\s+Its worker failed: .*debug-crash.*autosaved in this browser are kept/s);
    expect(await engineState(again)).toBe('stopped');
    expect(await again.getByTestId('train').isDisabled()).toBe(true);
    await shot(again, 'engine-stopped');
    await again.getByTestId('restart-engine').click();
    await again.getByTestId('adapter').waitFor({ timeout: 60_000 });
    // the new engine takes the kernel tuning kept in this browser; "Measure again" measures it anew
    await expect.poll(() => again.getByTestId('tuning').textContent(), { timeout: 60_000 }).toMatch(/measured in an earlier session \(\d+\.\d s\), kept in this browser/);
    await again.getByTestId('retune').click();
    await expect.poll(() => again.getByTestId('tuning').textContent(), { timeout: 120_000 }).toMatch(/measured now in/);
    await again.getByTestId('resume-offer').waitFor({ timeout: 60_000 });
    expect(await again.getByTestId('autosaves').locator('li').allTextContents()).toEqual(autosaved);
    await expect.poll(() => engineState(again), { timeout: 60_000 }).toBe('no-run');
    await shot(again, 'engine-restarted');
    expect(againErrors.filter((e) => !/debug-crash/.test(e))).toEqual([]);
    await again.close();

    expect(errors).toEqual([]);
    await page.close();
  });

  it('trains a tiny MoE run from a shared link and shows its expert load', async () => {
    const config = {
      model: { contextLength: 32, nLayer: 2, nEmbd: 32, nHead: 2, moeEvery: 1, moeExperts: 4, moeTopK: 2 },
      optim: { lr: 0.01, warmupSteps: 2 },
      // Evaluations every 4 steps flush progress (which otherwise comes in batches of up to 16 steps), so several
      // progress messages arrive and the routing statistics, read back one message late, reach the page.
      train: { batchSize: 4, steps: 16, evalEvery: 4, evalBatches: 1, autosaveEvery: 0 },
    };
    const { page, errors } = await openLab(`#config=${b64url(JSON.stringify(config))}`);
    await expect.poll(() => page.getByTestId('config-summary').textContent()).toMatch(/MoE 4 experts top-2/);
    await expect.poll(() => engineState(page), { timeout: 60_000 }).toMatch(/no-run|idle/);
    await page.getByTestId('train').click();
    await expect.poll(() => engineState(page), { timeout: 120_000 }).toBe('training');
    // While it trains, a profile of its next step: the experts' kernels show as their own family.
    await page.getByTestId('profile-step').click();
    await expect.poll(() => page.getByTestId('profile-summary').textContent(), { timeout: 300_000, interval: 1000 }).toMatch(/Step \d+: \d+ dispatches/);
    const families = await page.getByTestId('profile-bars').locator('li').evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.key));
    expect(families).toEqual(expect.arrayContaining(['matmul', 'attention', 'moe', 'adamw']));
    // SwiftShader compiles the MoE pipelines on the first step: allow minutes.
    await expect.poll(() => engineState(page), { timeout: 300_000, interval: 1000 }).toBe('idle');
    await page.waitForTimeout(500);
    await shot(page, 'moe');
    expect(await page.getByTestId('moe-dropped').textContent()).toMatch(/layer 0: [\d.]+% dropped/);
    expect(await page.getByTestId('moe-heatmap').isVisible()).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  }, 420_000);

  it('trains a tiny reasoner, then sweeps test-time compute: every strategy gets points on the charts', async () => {
    // The tiny reasoning preset, shrunk for SwiftShader: a few steps, then a sweep small enough for a CI machine.
    const config = {
      model: { contextLength: 48, nLayer: 1, nEmbd: 32, nHead: 2 },
      data: { corpus: 'reasoning', windows: 'documents' },
      optim: { lr: 0.01, warmupSteps: 2 },
      train: { batchSize: 4, steps: 6, evalEvery: 0, autosaveEvery: 0 },
    };
    const { page, errors } = await openLab(`#config=${b64url(JSON.stringify(config))}`);
    await expect.poll(() => engineState(page), { timeout: 60_000 }).toMatch(/no-run|idle/);
    expect(await page.getByTestId('run-sweep').isDisabled()).toBe(true); // nothing to sweep yet
    await page.getByTestId('train').click();
    await page.getByTestId('done').waitFor({ timeout: 300_000 }); // 'Training finished'
    await expect.poll(() => engineState(page), { timeout: 60_000 }).toBe('idle');
    const set = (field: string, value: string) => page.locator(`[data-field="sweep.${field}"] input`).fill(value);
    await set('problems', '2');
    await set('ns', '1, 2');
    await set('budgets', '0, 4');
    await set('extends', '6');
    await set('reasoners', '2');
    await set('maxThinkingTokens', '8');
    await set('maxAnswerTokens', '3');
    await page.getByTestId('run-sweep').click();
    await expect.poll(() => page.getByTestId('sweep-summary').count(), { timeout: 400_000, interval: 1000 }).toBe(1);
    const stats = await page.evaluate(() => {
      const view = document.querySelector('spark-lab')!.shadowRoot!.querySelector('spark-sweep-view')!;
      return (view.shadowRoot!.querySelector('spark-sweep-chart') as unknown as { stats: Record<string, Record<string, number>> }).stats;
    });
    console.log(`sweep chart points: ${JSON.stringify(stats)}`);
    expect(stats.n).toEqual({ oracle: 2, logprob: 2, majority: 2, weighted: 2, 'contemplate-vote': 1, 'contemplate-write': 1 });
    expect(stats.budget).toEqual({ 'budget-cap': 2, 'budget-extend': 1 });
    expect(Object.keys(stats.tokens).sort()).toEqual(['budget-cap', 'budget-extend', 'contemplate-vote', 'contemplate-write', 'logprob', 'majority', 'oracle', 'weighted']);
    expect(await page.getByTestId('inspector-summary').textContent()).toMatch(/of \d+ samples/);
    await page.getByTestId('sweep-summary').scrollIntoViewIfNeeded();
    await shot(page, 'sweep');
    expect(errors).toEqual([]);
    await page.close();
  }, 600_000);

  it('fills the form from a shared link, refuses hostile links with a message, and shows field errors inline', async () => {
    const config = { model: { nLayer: 3, nEmbd: 48, nHead: 3 }, train: { steps: 77 } };
    const { page, errors } = await openLab(`#config=${b64url(JSON.stringify(config))}`);
    await expect.poll(() => page.locator('[data-field="model.nLayer"] input').inputValue()).toBe('3');
    expect(await page.locator('[data-field="train.steps"] input').inputValue()).toBe('77');
    expect(await page.getByTestId('url-loaded').isVisible()).toBe(true);
    await shot(page, 'shared-url');

    // Editing a field shows the validator's message at the field and keeps Train off.
    await page.locator('[data-field="model.nHead"] input').fill('5');
    await expect.poll(() => page.locator('[data-field="model.nEmbd"] [data-testid="field-error"]').textContent()).toMatch(/model\.nEmbd 48 is not divisible by model\.nHead 5/);
    expect(await page.getByTestId('train').isDisabled()).toBe(true);
    await page.locator('[data-field="model.nHead"] input').fill('3');
    await expect.poll(() => page.locator('[data-testid="field-error"]').count()).toBe(0);

    // A binary file for a corpus is refused with validateUserText's message; a text file becomes a choice.
    await page.getByTestId('corpus-file').setInputFiles({ name: 'photo.txt', mimeType: 'text/plain', buffer: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d]) });
    await expect.poll(() => page.getByTestId('corpus-error').textContent()).toMatch(/photo\.txt contains NUL bytes/);
    await page.getByTestId('corpus-file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('The cat sat on the mat.\n'.repeat(20)) });
    await expect.poll(() => page.getByTestId('corpus').inputValue()).toBe('user');
    await shot(page, 'corpus-file');

    // Every control in every shadow root has an accessible name.
    const unnamed = await page.evaluate(() => {
      const out: string[] = [];
      const visit = (root: Document | ShadowRoot) => {
        for (const el of root.querySelectorAll<HTMLElement>('input, select, textarea, button')) {
          const labelled = (el as HTMLInputElement).labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent!.trim());
          if (!labelled && (el as HTMLInputElement).type !== 'hidden') out.push(el.outerHTML.slice(0, 80));
        }
        for (const host of root.querySelectorAll('*')) if (host.shadowRoot) visit(host.shadowRoot);
      };
      visit(document);
      return out;
    });
    expect(unnamed).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();

    for (const [hash, pattern] of [
      [`#config=${b64url('{"__proto__": {"polluted": true}}')}`, /"__proto__".*not allowed/],
      ['#config=%%%garbage!!', /not valid base64url/],
      [`#config=${b64url('{"model": {"nLayer": 1e308}}')}`, /model\.nLayer must be at most 96/],
      [`#config=${'A'.repeat(5000)}`, /more than the 4096/],
    ] as const) {
      // At a 1024×768 projector's width.
      const { page: p, errors: pe } = await openLab(hash, { width: 1024, height: 768 });
      await expect.poll(() => p.getByTestId('url-error').textContent()).toMatch(pattern);
      expect(await p.evaluate(() => ({} as Record<string, unknown>).polluted)).toBeUndefined();
      if (String(pattern).includes('__proto__')) await shot(p, 'hostile-url');
      expect(pe).toEqual([]);
      await p.close();
    }
    expect(errors).toEqual([]);
  });

  it('asks before training a linked run far beyond the presets; over the memory budget the engine refuses it', async () => {
    const big = { model: { nLayer: 12, nEmbd: 768, nHead: 12 } }; // 85M parameters, about 2 GiB to train
    const size = runSize(big)!;
    const { page, errors } = await openLab(`#config=${b64url(JSON.stringify(big))}`);
    await expect.poll(() => engineState(page), { timeout: 60_000 }).toMatch(/no-run|idle/);
    // The budget is this browser's setting: set it, and a reload keeps it.
    await page.getByTestId('memory-budget').fill('64');
    await page.reload();
    await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
    await expect.poll(() => engineState(page), { timeout: 60_000 }).toMatch(/no-run|idle/);
    expect(await page.getByTestId('memory-budget').inputValue()).toBe('64');
    await expect.poll(() => page.getByTestId('memory-over-budget').textContent()).toMatch(/over the 64\.0 MiB budget/);

    await page.getByTestId('train').click();
    await page.getByTestId('confirm-run').waitFor();
    const stated = (await page.getByTestId('confirm-size').textContent())!.replace(/\s+/g, ' ');
    expect(stated).toContain(`${si(size.params)} parameters that needs about ${formatBytes(size.memoryBytes)} of GPU memory`);
    await shot(page, 'confirm-big-link');
    await page.getByTestId('confirm-back').click(); // go back: nothing is built
    await expect.poll(() => page.getByTestId('confirm-run').count()).toBe(0);
    expect(await engineState(page)).toBe('no-run');

    await page.getByTestId('train').click();
    await page.getByTestId('confirm-train').click();
    await expect.poll(() => page.getByTestId('engine-error').textContent(), { timeout: 60_000 }).toMatch(/LimitExceededError.*64\.0 MiB/s);
    console.log(`refused: ${await page.getByTestId('engine-error').textContent()}`);
    expect(await engineState(page)).toBe('no-run');
    await shot(page, 'budget-refused');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('keeps the chart smooth with 50,000 points over three runs, and lays out at projector width', async () => {
    const { page, errors } = await openLab('', { width: 1920, height: 1080 });
    // Measure the chart, not the engine's start: its worker creates the device and compiles on SwiftShader's
    // threads, which share this machine's two cores with the page (in the suite a task of 54–71 ms showed up
    // while it did; alone, none). A user's 50,000 points come after training, with the engine idle.
    await expect.poll(() => engineState(page), { timeout: 60_000 }).toMatch(/no-run|idle/);
    // 49,000 points at once (two finished runs and most of a third), then progress at training's pace: 20
    // batches of 50 steps, 100 ms apart, each redrawing a chart that holds tens of thousands of points.
    await page.evaluate(() => {
      const loss = (run: number, step: number) => 1.2 + 0.3 * run + 4 / Math.sqrt(1 + step / 50) + 0.2 * Math.sin(step);
      const chart = document.querySelector('spark-lab')!.shadowRoot!.querySelector('spark-loss-chart')!;
      for (let r = 0; r < 3; r++) {
        chart.startRun({ id: `synthetic-${r}`, label: `synthetic ${r}`, tokensPerStep: 128, flopsPerToken: 1e5, step: 0 });
        const n = r === 2 ? 29_000 : 10_000;
        chart.addSteps(Array.from({ length: n }, (_, i) => ({ step: i, loss: loss(r, i) })), n * 20);
        for (let s = 500; s <= n; s += 2000) chart.addEval(s, loss(r, s) + 0.1);
      }
    });
    await page.waitForTimeout(500);
    const t0 = await now(page);
    const redrawMs = await page.evaluate(async () => {
      const loss = (run: number, step: number) => 1.2 + 0.3 * run + 4 / Math.sqrt(1 + step / 50) + 0.2 * Math.sin(step);
      const chart = document.querySelector('spark-lab')!.shadowRoot!.querySelector('spark-loss-chart')!;
      const frame = () => new Promise((r) => requestAnimationFrame(r));
      const times: number[] = [];
      for (let s = 29_000; s < 30_000; s += 50) {
        chart.addSteps(Array.from({ length: 50 }, (_, i) => ({ step: s + i, loss: loss(2, s + i) })), (s + 50) * 20);
        const t = performance.now();
        await frame();
        await frame();
        times.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 100));
      }
      return times.sort((a, b) => a - b)[times.length >> 1];
    });
    const tasks = await longTasksSince(page, t0);
    const maxTask = Math.max(0, ...tasks.map((t) => t.duration));
    console.log(`chart at 50k points: median 2 frames per update ${redrawMs.toFixed(0)} ms; long tasks ${tasks.length}, longest ${maxTask.toFixed(0)} ms`);
    expect((await chartStats(page)).points).toBe(30_000);
    await page.getByTestId('log-scale').check();
    await page.getByTestId('x-axis').selectOption('tokens');
    await page.waitForTimeout(300);
    // Hover read-out: the legend shows the values under the cursor.
    const plot = page.locator('spark-loss-chart .u-over');
    const box = (await plot.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
    await expect.poll(() => page.locator('spark-loss-chart .u-legend').textContent()).toMatch(/synthetic 2 train:?\s*\d\.\d+/);
    await shot(page, 'chart-50k-projector');
    const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
    await csv.saveAs('test-results/lab-loss.csv');
    expect(readFileSync('test-results/lab-loss.csv', 'utf8').split('\n').length).toBeGreaterThan(50_000);
    const [png] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-png').click()]);
    await png.saveAs('test-results/lab-loss-export.png');
    expect(readFileSync('test-results/lab-loss-export.png').subarray(1, 4).toString()).toBe('PNG');
    expect(maxTask).toBeLessThanOrEqual(LONG_TASK_LIMIT_MS);
    expect(errors).toEqual([]);
    await page.close();
  });
});
