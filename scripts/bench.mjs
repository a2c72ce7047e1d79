#!/usr/bin/env node
// npm run bench -- [--quick] [--json FILE] [--only op1,op2:shape-prefix] [--adapter default|swiftshader] [--max-load L] [--allow-load]
//                   [--profile PRESET|CONFIG_JSON] [--no-jax]
// Serves bench/index.html with Vite, opens it in headless Chromium, prints the table of times, GFLOP/s and ratios
// against TF.js's WebGPU backend and, where a row has one, jax-js's jit (--no-jax leaves that peer out);
// with --profile, where one training step's GPU time goes instead (bench/profile.ts): by op family, phase and layer,
// and kernel.
//
// Host load: figures taken while other work runs are not results (SwiftShader uses every core, and a GPU run
// still needs a free core for its JavaScript). The 1-minute load average before the run is compared with
// --max-load (default 0.5: an idle machine sits near 0, whatever its core count); above it the printed table is
// marked TAKEN UNDER LOAD, and --json refuses to write unless --allow-load, which writes the figures marked so.
// The load before and after (1/5/15-minute averages) and the CPU count go into the table's header and the JSON.
// The load after includes the benchmark's own browser, so only the load before decides.
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
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
const profile = opt('--profile');
const adapter = chooseAdapter(opt('--adapter'));
const allowLoad = argv.includes('--allow-load');
const maxLoad = Number(opt('--max-load') ?? 0.5);
if (!(maxLoad >= 0)) {
  console.error(`bench: --max-load must be a number >= 0, got '${opt('--max-load')}'`);
  process.exit(2);
}

const round2 = (xs) => xs.map((x) => Math.round(x * 100) / 100);
const loadBefore = round2(loadavg());
const cpuCount = cpus().length;
const underLoad = loadBefore[0] > maxLoad;
const loadLine = (label, l) => `${label} ${l.map((x) => x.toFixed(2)).join(' / ')}`;
if (underLoad) {
  const why = `the 1-minute load average is ${loadBefore[0].toFixed(2)} on ${cpuCount} CPUs, above --max-load ${maxLoad}`;
  if (jsonFile && !allowLoad) {
    console.error(`bench: refusing to record figures: ${why}. Wait for an idle machine, or pass --allow-load to write them marked "taken under load".`);
    process.exit(2);
  }
  console.error(`\n*** bench: ${why}: the figures will be marked TAKEN UNDER LOAD and are not results. ***\n`);
}

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
if (profile) q.set('profile', profile);
if (argv.includes('--no-jax')) q.set('no-jax', '');
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
  const loadAfter = round2(loadavg());
  result.host = { cpus: cpuCount, loadBefore, loadAfter, maxLoad, takenUnderLoad: underLoad };
  // First in the file, where a reader sees it.
  if (underLoad) result = { warning: `TAKEN UNDER LOAD: 1-minute load ${loadBefore[0]} > ${maxLoad} before the run; these figures are not results`, ...result };
  const banner = `*** TAKEN UNDER LOAD (1-minute load ${loadBefore[0].toFixed(2)} > ${maxLoad} before the run): these figures are not results ***`;
  const fmt = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(d));
  const a = result.adapter;
  if (underLoad) console.log(banner);
  console.log(`adapter: ${a.vendor} / ${a.architecture} / ${a.description || '(no description)'}  (${adapter})`);
  console.log(`host: ${cpuCount} CPUs; load average (1 / 5 / 15 min): ${loadLine('before', loadBefore)}, ${loadLine('after', loadAfter)}`);
  if (result.profile) {
    const p = result.profile;
    const ms = (v) => (v === null ? '-' : v.toFixed(2));
    console.log(`profile of ${p.spec}: ${p.dispatches} dispatches per step, timing by ${p.timing}; medians over ${p.profiles.length} profiled steps`);
    console.log(`cold start: createRun ${ms(p.createMs)} ms, first step's loss read back ${ms(p.firstStepMs)} ms after it began`);
    console.log(`step: GPU ${ms(p.gpuMs)} ms (sum of dispatches), profiled wall ${ms(p.wallMs)} ms, plain step ${ms(p.plainStepMs)} ms, JavaScript encode ${ms(p.encodeMs)} ms; ` +
      `${(p.flops / 1e6).toFixed(2)} MFLOP, ${(p.bytesBound / 1e6).toFixed(2)} MB bound`);
    const compileSum = p.compiles.reduce((a, c) => a + c.ms, 0);
    console.log(`start-up: the device's ${p.compiles.length} pipelines (the run's and the tuner's candidates) compiled again one at a time: ${(compileSum / 1000).toFixed(1)} s in all`);
    console.log('pipeline\tcompile ms');
    for (const c of p.compiles) console.log(`${c.key}\t${c.ms.toFixed(0)}`);
    for (const [title, rows, n] of [['op family', p.byFamily, 30], ['phase and layer', p.byScope, 40], ['kernel', p.byEntry, 25]]) {
      console.log(`\nby ${title}\tdispatches\tGPU ms\tshare\tMB bound`);
      for (const r of rows.slice(0, n)) console.log([r.key, r.dispatches, ms(r.ms), r.share === null ? '-' : `${(100 * r.share).toFixed(1)}%`, (r.bytesBound / 1e6).toFixed(2)].join('\t'));
    }
    if (underLoad) console.log(banner);
    if (jsonFile) writeFileSync(jsonFile, JSON.stringify(result, null, 2));
    process.exit(process.exitCode ?? 0);
  }
  console.log(`method: ${result.method.clock}; median of ${result.method.samples} samples per side, ${result.method.order}`);
  console.log(['op', 'shape', 'ours ms', 'TF.js ms', 'ratio', 'jax-js ms', 'jax ratio', 'ours GFLOP/s', 'TF.js GFLOP/s', 'jax-js GFLOP/s', 'ours GB/s', 'ours tokens/s'].join('\t'));
  for (const r of result.rows) {
    console.log([r.op, r.shape, fmt(r.ours_ms, 3), fmt(r.peer_ms, 3), fmt(r.ratio), fmt(r.jax_ms, 3), fmt(r.jax_ratio), fmt(r.ours_gflops), fmt(r.peer_gflops), fmt(r.jax_gflops), fmt(r.ours_gbps), fmt(r.ours_tokens_per_s, 1)].join('\t') + (r.error ? `\tERROR ${r.error}` : ''));
  }
  if (underLoad) console.log(banner);
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify(result, null, 2));
  if (result.rows.some((r) => r.error)) process.exitCode = 1;
}
