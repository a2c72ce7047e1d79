import { chromium, type Browser, type Page } from 'playwright';
// @ts-expect-error plain ESM helper
import { chromiumArgs, findChromium } from '../../scripts/browser.mjs';
// @ts-expect-error plain ESM helper
import { serveStatic } from '../../scripts/serve.mjs';

export interface Served {
  url: string;
  close(): Promise<void>;
}

/** dist/ served under a sub-path, as a static host would. */
export function serveDist(): Promise<Served> {
  return serveStatic('dist', { base: '/spark-lab/' });
}

/** Headless Chromium with WebGPU (args override the flags, e.g. to take WebGPU away). */
export async function launch(args?: string[]): Promise<Browser> {
  const executablePath = (await findChromium()) as string;
  return chromium.launch({ executablePath, headless: true, args: args ?? chromiumArgs() });
}

/** Collects console errors and uncaught exceptions of a page. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}
