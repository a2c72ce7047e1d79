/**
 * The Scaling section of the built page, used as a person would: a tiny 2-recipe study (baseline and the modern
 * block) on a custom grid typed into the form, its estimate shown before it starts; the chart and the tables fill
 * in as runs finish; a reload mid-study offers to resume it, and resuming keeps the finished runs; cancel, export
 * and clear. The whole grid is 44 runs (the planner's minimum), too long for the suite on SwiftShader, so the test
 * stops it after a few. Screenshots: test-results/scaling-*.png.
 */
import { mkdirSync, readFileSync } from 'node:fs';
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
 * The smallest grid the planner accepts (4 sizes, 2 budgets, 2 seeds, 3 searched rates): widths 8 to 28 (growth 1.5:
 * a smaller one repeats a width once rounded to the head size), context 16, 3 to 63 steps per run.
 */
const TINY_GRID = {
  sizes: { smallest: 8, growth: 1.5, headSize: 4, maxAspect: 64, contextLength: 16 },
  tokensPerParam: [0.1, 0.2],
  optimalTokensPerParam: 0.2,
  batchSize: 2,
  evalPoints: 2,
  evalBatches: 1,
};

const section = (page: Page) => page.locator('spark-scaling-view');
/** The Scaling section alone (the full page is 3600 px tall). */
const shot = (page: Page, name: string) => section(page).screenshot({ path: `test-results/scaling-${name}.png` });

const txt = async (page: Page, id: string) => (await page.getByTestId(id).first().textContent())?.replace(/\s+/g, ' ').trim() ?? '';
/** Finished runs, from the status line ("Study running (grid): 5 of 44 runs done"). */
const doneRuns = async (page: Page) => Number(/(\d+) of \d+ runs done/.exec(await txt(page, 'scaling-status'))?.[1] ?? -1);
/** Recipes with at least one curve on the chart (the learning-rate search's runs included). */
const curveRecipes = (page: Page) =>
  page.evaluate(() => [...new Set(document.querySelector('spark-lab')!.shadowRoot!.querySelector('spark-scaling-view')!.chart.current?.runs.filter((r) => r.x.length > 0).map((r) => r.recipe))].sort());

describe('the Scaling section', () => {
  it('runs a tiny 2-recipe study live; a reload offers to resume it; resume keeps finished runs; cancel, export, clear', async () => {
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
      await expect.poll(() => txt(page, 'scaling-plan'), { timeout: 60_000 }).toMatch(/Plan: 44 runs .* about .*(measured|assumed)/);
      await shot(page, 'plan');

      await page.getByTestId('scaling-run').click();
      await page.getByTestId('scaling-cancel').waitFor({ timeout: 60_000 });
      // The chart fills in as runs finish: curves of both recipes, and a row per recipe in the fits table.
      await expect.poll(() => curveRecipes(page), { timeout: 150_000, interval: 1000 }).toEqual(['baseline', 'modern']);
      expect(await txt(page, 'scaling-progress-label')).toMatch(/^\d+% · .* — step \d+ of \d+ · /);
      await expect.poll(() => page.locator('[data-testid="scaling-fits"] tr[data-recipe]').count(), { timeout: 30_000 }).toBe(2);
      await shot(page, 'running');
      const before = await doneRuns(page);
      expect(before).toBeGreaterThanOrEqual(2);

      // A reload ends the worker mid-study: the stored study comes back with its curves and a Resume button.
      await page.reload();
      await page.getByTestId('scaling-resume').waitFor({ timeout: 60_000 });
      expect(await doneRuns(page)).toBeGreaterThanOrEqual(before);
      expect(await curveRecipes(page)).toEqual(['baseline', 'modern']);
      expect(await page.getByTestId('scaling-run').isDisabled()).toBe(true);
      // The form shows what the stored study runs, not the defaults.
      expect(JSON.parse(await page.getByTestId('scaling-custom').inputValue())).toEqual(TINY_GRID);
      expect(await page.getByTestId('scaling-seeds').inputValue()).toBe('1, 2');
      await shot(page, 'reloaded');
      const stored = await doneRuns(page);
      await page.getByTestId('scaling-resume').click();
      await page.getByTestId('scaling-cancel').waitFor({ timeout: 30_000 });
      expect(await doneRuns(page)).toBe(stored); // finished runs are kept, not redone
      // The new worker tokenizes the corpus and compiles its pipelines again before the next run's first steps.
      await expect.poll(() => txt(page, 'scaling-progress-label'), { timeout: 150_000, interval: 1000 }).toMatch(/ — step [1-9]\d* of \d+/);
      expect(await doneRuns(page)).toBeGreaterThanOrEqual(stored);

      await page.getByTestId('scaling-cancel').click();
      await expect.poll(() => txt(page, 'scaling-status'), { timeout: 60_000 }).toMatch(/^Study cancelled/);
      expect(await page.getByTestId('scaling-resume').count()).toBe(1);
      const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('scaling-export-csv').click()]);
      await csv.saveAs('test-results/scaling-export.csv');
      expect(readFileSync('test-results/scaling-export.csv', 'utf8').trim().split('\n').length).toBeGreaterThanOrEqual(stored * 2 + 1); // ≥ 2 points a run
      const [json] = await Promise.all([page.waitForEvent('download'), page.getByTestId('scaling-export-json').click()]);
      expect(json.suggestedFilename()).toBe('spark-lab-scaling.json');
      await shot(page, 'cancelled');

      await page.getByTestId('scaling-clear').click();
      await page.getByTestId('scaling-clear').click(); // the second click confirms
      await page.getByTestId('scaling-empty').waitFor({ timeout: 30_000 });
      expect(await page.getByTestId('scaling-run').isDisabled()).toBe(false);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 400_000);
});
