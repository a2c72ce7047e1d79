#!/usr/bin/env node
// npm run bench -- [--quick] [--json FILE] [--only op1,op2] [--adapter default|swiftshader]
// Serves bench/index.html with Vite, opens it in headless Chromium, prints the table of times, GFLOP/s and ratios.
import { writeFileSync } from 'node:fs';
import { createServer } from 'vite';
import { chromium } from 'playwright';
import { chooseAdapter, chromiumArgs, ensureChromium } from './browser.mjs';

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = argv.includes('--quick');
const jsonFile = opt('--json');
const only = opt('--only');
const adapter = chooseAdapter(opt('--adapter'));

const executablePath = await ensureChromium();
const server = await createServer({ configFile: 'vite.config.ts', server: { host: '127.0.0.1', port: 0 }, logLevel: 'error' });
await server.listen();
const { port } = server.httpServer.address();
const browser = await chromium.launch({ executablePath, args: chromiumArgs(adapter), headless: true });
const page = await browser.newPage();
let result;
const done = new Promise((resolve, reject) => {
  page.exposeFunction('__benchReport', (json) => resolve(JSON.parse(json)));
  page.exposeFunction('__benchFail', (msg) => reject(new Error(msg)));
});
page.on('console', (m) => {
  const t = m.text();
  if (t.startsWith('[bench]')) console.error(t);
  else if (m.type() === 'error') console.error(`[page error] ${t}`);
});
page.on('pageerror', (e) => console.error(`[page exception] ${e.message}`));
const q = new URLSearchParams();
if (quick) q.set('quick', '');
if (only) q.set('only', only);
try {
  await page.goto(`http://127.0.0.1:${port}/bench/index.html?${q}`);
  result = await done;
} catch (e) {
  console.error(`bench failed: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  await server.close();
}
if (result) {
  result.browser = `${result.browser}`;
  const fmt = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(d));
  const a = result.adapter;
  console.log(`adapter: ${a.vendor} / ${a.architecture} / ${a.description || '(no description)'}  (${adapter})`);
  console.log(['op', 'shape', 'ours ms', 'peer ms', 'ratio', 'ours GFLOP/s', 'peer GFLOP/s', 'ours GB/s'].join('\t'));
  for (const r of result.rows) {
    console.log([r.op, r.shape, fmt(r.ours_ms, 3), fmt(r.peer_ms, 3), fmt(r.ratio), fmt(r.ours_gflops), fmt(r.peer_gflops), fmt(r.ours_gbps)].join('\t') + (r.error ? `\tERROR ${r.error}` : ''));
  }
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify(result, null, 2));
  if (result.rows.some((r) => r.error)) process.exitCode = 1;
}
