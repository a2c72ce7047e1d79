import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, serveDist, watchErrors, type Served } from './browser';

let served: Served;
beforeAll(async () => {
  served = await serveDist();
  mkdirSync('test-results', { recursive: true });
});
afterAll(() => served?.close());

describe('the built page', () => {
  it('finds the WebGPU adapter and shows it, with no console errors', async () => {
    const browser = await launch();
    try {
      const page = await browser.newPage();
      const errors = watchErrors(page);
      await page.goto(served.url);
      const adapter = page.getByTestId('adapter');
      await adapter.waitFor({ timeout: 30_000 });
      expect((await adapter.textContent())?.length).toBeGreaterThan(0);
      await page.screenshot({ path: 'test-results/page-adapter.png', fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('explains what to do when the browser has no WebGPU', async () => {
    const browser = await launch(['--no-sandbox', '--disable-gpu', '--disable-features=WebGPU', '--disable-background-networking', '--no-first-run']);
    try {
      const page = await browser.newPage();
      await page.goto(served.url);
      const err = page.getByTestId('gpu-error');
      await err.waitFor({ timeout: 30_000 });
      const text = (await err.textContent()) ?? '';
      expect(text).toMatch(/WebGPUUnavailableError/);
      expect(text).toMatch(/Chrome/);
      await page.screenshot({ path: 'test-results/page-no-webgpu.png', fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
