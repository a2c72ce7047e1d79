// Finds a Chromium and the flags that give it WebGPU. Shared by vitest.config.ts, bench and regress.
import { existsSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome'];

/** The Chromium executable: $CHROME_PATH, a system Chromium or Chrome, or Playwright's own download; null if none. */
export async function findChromium() {
  if (process.env.CHROME_PATH) {
    if (!existsSync(process.env.CHROME_PATH)) throw new Error(`CHROME_PATH=${process.env.CHROME_PATH} does not exist`);
    return process.env.CHROME_PATH;
  }
  for (const c of CANDIDATES) if (existsSync(c)) return c;
  try {
    const { chromium } = await import('playwright');
    const p = chromium.executablePath();
    if (p && existsSync(p)) return p;
  } catch {
    /* playwright has no browser of its own here */
  }
  return null;
}

/** Finds Chromium or installs Debian's package when running as root; otherwise exits with one line saying how. */
export async function ensureChromium() {
  const found = await findChromium();
  if (found) return found;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (root && existsSync('/usr/bin/apt-get')) {
    console.error('[spark-lab] no Chromium found; installing Debian package "chromium" (apt-get)...');
    execFileSync('/bin/sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null'], { stdio: 'inherit' });
    const again = await findChromium();
    if (again) return again;
  }
  console.error('[spark-lab] no Chromium found: install one (Debian: sudo apt-get install chromium) or set CHROME_PATH to a Chrome/Chromium binary.');
  process.exit(2);
}

/** True when this machine appears to have a real GPU that Chromium can use. */
export function hasRealGpu() {
  if (process.platform === 'darwin' || process.platform === 'win32') return true;
  if (existsSync('/dev/nvidia0')) return true;
  try {
    return readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  } catch {
    return false;
  }
}

/**
 * Which WebGPU adapter to use: SPARK_ADAPTER=swiftshader|default, else the real GPU when there is one,
 * SwiftShader (software) when there is none.
 */
export function chooseAdapter(requested = process.env.SPARK_ADAPTER) {
  if (requested === 'swiftshader' || requested === 'default') return requested;
  if (requested) throw new Error(`SPARK_ADAPTER must be 'swiftshader' or 'default', got '${requested}'`);
  return hasRealGpu() ? 'default' : 'swiftshader';
}

/** Chromium command-line flags for WebGPU on the chosen adapter. */
export function chromiumArgs(adapter = chooseAdapter()) {
  const common = ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];
  if (adapter === 'swiftshader') {
    return [...common, '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-vulkan-surface'];
  }
  if (process.platform === 'linux') return [...common, '--enable-features=Vulkan', '--ignore-gpu-blocklist', '--disable-vulkan-surface'];
  return [...common, '--ignore-gpu-blocklist'];
}
