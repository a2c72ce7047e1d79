/**
 * The Scaling section of the built page, used as a person would: a tiny 2-recipe study (baseline and the modern
 * block) on a custom grid typed into the form, its estimate shown before it starts; the chart and the tables fill
 * in as runs finish; the stored study is offered again after a reload; exports download. Screenshots:
 * test-results/scaling-*.png.
 */
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

/**
 * The smallest grid the planner accepts (4 sizes, 2 budgets, 2 seeds, 3 searched rates): widths 8 to 20, context
 * 16, a few dozen steps per run, so 44 runs take about a minute on SwiftShader.
 */
const TINY_GRID = {
  sizes: { smallest: 8, growth: 1.3, headSize: 4, maxAspect: 64, contextLength: 16 },
  tokensPerParam: [0.25, 0.5],
  optimalTokensPerParam: 0.5,
  batchSize: 2,
  evalPoints: 3,
  evalBatches: 1,
};

const shot = (page: Page, name: string) => page.screenshot({ path: `test-results/scaling-${name}.png`, fullPage: true });
const section = (page: Page) => page.locator('spark-scaling-view');
/** The chart's legend as the view reports it: per recipe its grid runs drawn and whether it has a fit. */
const drawn = (page: Page) =>
  page.evaluate(() => document.querySelector('spark-lab')!.shadowRoot!.querySelector('spark-scaling-view')!.chart.drawn);

// enable when the runner lands: until the engine answers 'scaling-*' (helper R's runner), this cannot pass.
describe.skip('the Scaling section', () => {
  it('runs a tiny 2-recipe study: estimate, live chart, tables, reload and resume offer, exports', async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 1000 }, acceptDownloads: true });
    const page = await context.newPage();
    const errors = watchErrors(page);
    try {
      await page.goto(served.url);
      await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
      yieldEmulatedGpu();
      await section(page).scrollIntoViewIfNeeded();
      expect(await page.getByTestId('scaling-recipe-baseline').isDisabled()).toBe(true); // always runs
      expect(await page.getByTestId('scaling-recipe-modern').isChecked()).toBe(true);
      await page.getByTestId('scaling-seeds').fill('1, 2');
      await page.getByText('Custom grid (advanced)').click();
      await page.getByTestId('scaling-custom').fill(JSON.stringify(TINY_GRID));
      await page.getByTestId('scaling-custom').blur();
      await expect.poll(() => page.getByTestId('scaling-plan').textContent(), { timeout: 60_000 }).toMatch(/Plan: 44 runs .* about .*(measured|assumed)/s);
      await shot(page, 'plan');

      await page.getByTestId('scaling-run').click();
      await page.getByTestId('scaling-cancel').waitFor({ timeout: 60_000 });
      await expect.poll(() => page.getByTestId('scaling-progress-label').textContent(), { timeout: 120_000 }).toMatch(/% · .* — step \d+ of \d+/);
      // The chart fills in while the study runs: the first grid runs of both recipes.
      await expect.poll(async () => (await drawn(page)).filter((d) => d.runs > 0).length, { timeout: 170_000, interval: 1000 }).toBe(2);
      await shot(page, 'running');
      await expect.poll(() => page.getByTestId('scaling-status').textContent(), { timeout: 170_000, interval: 1000 }).toMatch(/Study done: 44 of 44 runs done/);
      const legend = await drawn(page);
      console.log(`drawn: ${JSON.stringify(legend)}`);
      expect(legend.map((d) => [d.recipe, d.runs])).toEqual([['baseline', 16], ['modern', 16]]);
      // The tables: one fit row per recipe (a fit, or why not), and the modern block's multiplier row.
      await page.getByTestId('scaling-fits').waitFor();
      expect(await page.locator('[data-testid="scaling-fits"] tr[data-recipe]').count()).toBe(2);
      const row = (await page.locator('[data-testid="scaling-multipliers"] tr[data-recipe="modern"]').textContent())?.replace(/\s+/g, ' ').trim() ?? '';
      console.log(`multiplier row: ${row}`);
      expect(row).toMatch(/^modern block (\d.*×|.+)/);
      await shot(page, 'done');

      const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('scaling-export-csv').click()]);
      await csv.saveAs('test-results/scaling-export.csv');
      expect(csv.suggestedFilename()).toBe('spark-lab-scaling.csv');
      const [json] = await Promise.all([page.waitForEvent('download'), page.getByTestId('scaling-export-json').click()]);
      expect(json.suggestedFilename()).toBe('spark-lab-scaling.json');

      // A reload shows the stored study again (chart and tables), with nothing to resume: it finished.
      await page.reload();
      await expect.poll(async () => (await drawn(page)).filter((d) => d.runs > 0).length, { timeout: 60_000 }).toBe(2);
      expect(await page.getByTestId('scaling-resume').count()).toBe(0);
      expect(await page.getByTestId('scaling-clear').count()).toBe(1);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
