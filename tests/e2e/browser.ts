import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { chromium, type Browser, type Page } from 'playwright';
// @ts-expect-error plain ESM helper
import { chooseAdapter, chromiumArgs, findChromium } from '../../scripts/browser.mjs';
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

/**
 * On SwiftShader the "GPU" is Chromium's GPU process computing on the same CPU cores as the page, and Chromium
 * (run as root, as in CI) raises that process to nice -8, above the page's renderer at 0; a real GPU takes no CPU
 * from the page. The page tests bound the page's own main-thread work (no task over 50 ms while training), so once
 * a page has its device, this puts the emulated GPU at nice 10: every thread of every GPU process below this test
 * process. Threads made later inherit it. Linux with SwiftShader only; a real GPU is left alone.
 */
export function yieldEmulatedGpu(): void {
  if (process.platform !== 'linux' || chooseAdapter() !== 'swiftshader') return;
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')'.
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // a process that ended meanwhile
    }
  }
  const below = (pid: number): boolean => {
    for (let p = parent.get(pid), hops = 0; p !== undefined && p > 1 && hops < 16; p = parent.get(p), hops++) if (p === process.pid) return true;
    return false;
  };
  for (const pid of parent.keys()) {
    if (!below(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=gpu-process')) continue;
      for (const tid of readdirSync(`/proc/${pid}/task`)) setPriority(Number(tid), 10);
    } catch {
      // a process or thread that ended meanwhile
    }
  }
}

/** Collects console errors and uncaught exceptions of a page. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}
