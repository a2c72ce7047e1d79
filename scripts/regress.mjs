#!/usr/bin/env node
// npm run regress -- [--suite quick|full] [--baseline FILE] [--update-baseline] [--require-baseline] [--json FILE]
//                    [--junit FILE] [--adapter default|swiftshader] [--browser PATH] [--shard i/n] [--only a,b]
//                    [--break KERNEL] [--speed-tolerance F] [--timeout SECONDS] [--no-build]
// npm run regress -- --merge a.json b.json ... [--json FILE] [--junit FILE] [--baseline FILE --update-baseline]
//
// Builds the site when dist/ is older than its sources, serves dist/, opens regress.html in headless Chromium with
// WebGPU (the real GPU by default), collects every check, judges it against the baseline kept per adapter, prints a
// table and writes JSON (regress/SCHEMA.md) and JUnit XML. Exit: 0 all within tolerance, 1 a regression, 2 no run.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chooseAdapter, chromiumArgs, ensureChromium, hasRealGpu } from './browser.mjs';
import { serveStatic } from './serve.mjs';
import { adapterIdOf, exitCodeOf, judge, loadBaseline, mergeReports, regressionLines, REPORT_SCHEMA, summarize, updateBaseline } from '../regress/lib/report.mjs';
import { formatEnvironment, formatTable, toJUnit } from '../regress/lib/output.mjs';
import { validateReport } from '../regress/lib/schema.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const BREAKABLE = JSON.parse(readFileSync(join(ROOT, 'regress/kernels.json'), 'utf8'));
const USAGE = 'usage: npm run regress -- [--suite quick|full] [--baseline FILE] [--update-baseline] [--require-baseline] [--json FILE] [--junit FILE] [--adapter default|swiftshader] [--browser PATH] [--shard i/n] [--only a,b] [--break KERNEL] [--speed-tolerance F] [--timeout S] [--no-build] | --merge a.json b.json ... [--json FILE] [--junit FILE]';

/** Exit 2 with one line saying why the run could not be made. */
function cannotRun(reason) {
  console.error(`regress: cannot run: ${reason}`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: {
      suite: { type: 'string', default: 'quick' },
      baseline: { type: 'string', default: join(ROOT, 'regress/baseline.json') },
      'update-baseline': { type: 'boolean', default: false },
      'require-baseline': { type: 'boolean', default: false },
      json: { type: 'string' },
      junit: { type: 'string' },
      adapter: { type: 'string' },
      browser: { type: 'string' },
      shard: { type: 'string' },
      only: { type: 'string' },
      break: { type: 'string' },
      'speed-tolerance': { type: 'string' },
      timeout: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      merge: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
} catch (e) {
  cannotRun(`${e.message}\n${USAGE}`);
}
const opt = args.values;
if (opt.help) {
  console.log(USAGE);
  process.exit(0);
}
const baselineFile = resolve(opt.baseline);

/** Writes the JSON and JUnit files asked for, prints the outcome and returns the exit code. */
function finish(report) {
  if (opt.json) {
    mkdirSync(dirname(resolve(opt.json)), { recursive: true });
    writeFileSync(resolve(opt.json), `${JSON.stringify(report, null, 2)}\n`);
  }
  if (opt.junit) {
    mkdirSync(dirname(resolve(opt.junit)), { recursive: true });
    writeFileSync(resolve(opt.junit), toJUnit(report));
  }
  if (report.error) console.error(`regress: cannot run: ${report.error}`);
  const lines = regressionLines(report);
  for (const l of lines) console.error(l);
  const kernels = [...new Set(report.checks.filter((c) => (c.verdict === 'fail' || c.verdict === 'error') && !c.accepted).map((c) => c.kernel))];
  if (report.exitCode === 1) console.error(`regress: ${lines.length} check(s) failed; kernels: ${kernels.join(', ')}`);
  if (report.exitCode === 0) console.log(`regress: all ${report.checks.length} checks within tolerance${report.summary.new ? ` (${report.summary.new} new, no baseline yet)` : ''}`);
  return report.exitCode;
}

// ---- --merge: shard reports into one --------------------------------------------------------------------------
function runMerge() {
  const files = args.positionals;
  if (!files.length) cannotRun(`--merge needs report files\n${USAGE}`);
  let merged;
  try {
    const reports = files.map((f) => {
      const r = JSON.parse(readFileSync(f, 'utf8'));
      const problems = validateReport(r);
      if (problems.length) throw new Error(`${f} is not a valid report: ${problems.slice(0, 3).join('; ')}`);
      return r;
    });
    merged = mergeReports(reports, files);
  } catch (e) {
    cannotRun(e.message);
  }
  if (opt['update-baseline'] && !merged.error) {
    merged.baseline.file = baselineFile;
    console.error(`regress: wrote ${updateBaseline(baselineFile, merged)} values for '${merged.adapterId}' into ${baselineFile}`);
  }
  console.log(formatEnvironment(merged));
  console.log(formatTable(merged));
  return finish(merged);
}
process.exitCode = opt.merge ? runMerge() : await runSuite();

// ---- a run -----------------------------------------------------------------------------------------------------
async function runSuite() {
  if (args.positionals.length) cannotRun(`unexpected arguments: ${args.positionals.join(' ')} (report files go after --merge)\n${USAGE}`);
  if (opt.suite !== 'quick' && opt.suite !== 'full') cannotRun(`--suite must be 'quick' or 'full', got '${opt.suite}'`);
  if (opt.break && !BREAKABLE.includes(opt.break)) cannotRun(`--break '${opt.break}' is not a kernel family; one of: ${BREAKABLE.join(', ')}`);
  let shard = null;
  if (opt.shard) {
    const m = /^(\d+)\/(\d+)$/.exec(opt.shard);
    shard = m ? { index: Number(m[1]), count: Number(m[2]) } : null;
    if (!shard || shard.count < 1 || shard.index < 1 || shard.index > shard.count) cannotRun(`--shard must be i/n with 1 <= i <= n, got '${opt.shard}'`);
  }
  const speedTolerance = opt['speed-tolerance'];
  if (speedTolerance !== undefined && !(Number(speedTolerance) >= 0 && Number(speedTolerance) < 1)) cannotRun(`--speed-tolerance must be a fraction in [0, 1), got '${speedTolerance}'`);
  const timeoutS = Number(opt.timeout ?? (opt.suite === 'full' ? 3600 : 900));
  if (!(timeoutS > 0)) cannotRun(`--timeout must be a positive number of seconds, got '${opt.timeout}'`);
  let adapterRequested;
  try {
    adapterRequested = chooseAdapter(opt.adapter ?? process.env.SPARK_ADAPTER);
  } catch (e) {
    cannotRun(e.message.replace('SPARK_ADAPTER', '--adapter'));
  }
  const load = loadavg()[0];
  if (opt['update-baseline'] && load > 0.5) {
    console.error(`\n*** regress: writing a baseline with the 1-minute load average at ${load.toFixed(2)} on ${cpus().length} CPUs: its throughput values are taken under load (loss and correctness values are not affected). Write throughput baselines on an idle machine. ***\n`);
  }
  const askedForSoftware = (opt.adapter ?? process.env.SPARK_ADAPTER) === 'swiftshader';
  if (adapterRequested === 'swiftshader' && !askedForSoftware) {
    console.error('\n*** regress: NO GPU FOUND on this machine: running on SwiftShader, a SOFTWARE WebGPU adapter. ***');
    console.error('*** Correctness and loss checks still mean something; throughput numbers say nothing about a GPU. ***\n');
  }
  if (adapterRequested === 'default' && !hasRealGpu()) console.error('regress: warning: no GPU device node found; the default adapter may be a software one');

  /** Newest modification time (ms) under `paths` (files or directories; node_modules skipped). */
  function newestMtime(paths) {
    let newest = 0;
    const walk = (p) => {
      if (!existsSync(p)) return;
      const s = statSync(p);
      if (s.isDirectory()) {
        for (const name of readdirSync(p)) if (name !== 'node_modules') walk(join(p, name));
      } else newest = Math.max(newest, s.mtimeMs);
    };
    for (const p of paths) walk(join(ROOT, p));
    return newest;
  }

  const BUILD_INPUTS = ['src', 'shaders', 'regress', 'tests/reference', 'tests/util', 'public', 'index.html', 'regress.html', 'vite.config.ts', 'package.json', 'package-lock.json'];
  const builtPage = join(ROOT, 'dist/regress.html');
  if (!opt['no-build']) {
    const stale = !existsSync(builtPage) || statSync(builtPage).mtimeMs < newestMtime(BUILD_INPUTS);
    if (stale) {
      console.error('regress: dist/ is missing or older than its sources: vite build...');
      const t0 = Date.now();
      try {
        const { build } = await import('vite');
        await build({ root: ROOT, configFile: join(ROOT, 'vite.config.ts'), logLevel: 'warn' });
      } catch (e) {
        cannotRun(`vite build failed: ${e.message.split('\n')[0]}`);
      }
      console.error(`regress: built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  }
  if (!existsSync(builtPage)) cannotRun('dist/regress.html does not exist: run without --no-build (or npm run build)');

  const executablePath = opt.browser ? resolve(opt.browser) : await ensureChromium();
  if (!existsSync(executablePath)) cannotRun(`--browser ${opt.browser} does not exist`);

  const { chromium } = await import('playwright');
  const startedAt = new Date();
  const report = {
    schema: REPORT_SCHEMA,
    suite: opt.suite,
    startedAt: startedAt.toISOString(),
    elapsedMs: 0,
    adapterRequested,
    adapterId: null,
    adapter: null,
    software: null,
    browser: null,
    features: null,
    limits: null,
    shard,
    only: (opt.only ?? '').split(',').filter(Boolean),
    break: opt.break ?? null,
    speedTolerance: speedTolerance === undefined ? null : Number(speedTolerance),
    baseline: { file: baselineFile, found: false, updated: false },
    tasks: { planned: [], all: [] },
    checks: [],
    summary: null,
    exitCode: 2,
    error: null,
  };

  let baselineChecks = null;
  try {
    loadBaseline(baselineFile);
  } catch (e) {
    cannotRun(e.message);
  }
  const served = await serveStatic(join(ROOT, 'dist'), { base: '/spark-lab/' });
  let browser;
  let currentTask = null;
  try {
    browser = await chromium.launch({ executablePath, headless: true, args: chromiumArgs(adapterRequested) });
    report.browser = { version: browser.version(), userAgent: '', executable: executablePath };
    const page = await browser.newPage();
    const total = () => report.tasks.planned.length;
    let doneTasks = 0;
    await new Promise((resolveRun, rejectRun) => {
      const timer = setTimeout(() => rejectRun(new Error(`timed out after ${timeoutS} s${currentTask ? ` during ${currentTask}` : ''}`)), timeoutS * 1000);
      const settle = (fn) => (x) => {
        clearTimeout(timer);
        fn(x);
      };
      const ok = settle(resolveRun);
      const fail = settle(rejectRun);
      page.on('crash', () => fail(new Error(`the page crashed${currentTask ? ` during ${currentTask}` : ''}`)));
      browser.on('disconnected', () => fail(new Error('the browser exited')));
      page.on('pageerror', (e) => console.error(`[page exception] ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') console.error(`[page error] ${m.text()}`);
      });
      const setup = Promise.all([
        page.exposeFunction('__regressEnv', (json) => {
          const env = JSON.parse(json);
          Object.assign(report, {
            adapter: env.adapter,
            adapterId: adapterIdOf(env.adapter),
            software: env.software,
            features: { adapter: env.adapterFeatures, device: env.deviceFeatures },
            limits: env.limits,
            tasks: { planned: env.tasks, all: env.allTasks },
          });
          report.browser.userAgent = env.userAgent;
          const base = loadBaseline(baselineFile);
          baselineChecks = base.adapters[report.adapterId]?.checks ?? null;
          report.baseline.found = baselineChecks !== null;
          console.error(formatEnvironment(report));
          if (env.software) console.error(`\n*** regress: the adapter is a SOFTWARE one (${env.adapter.description || env.adapter.architecture}): throughput is not a GPU's. ***\n`);
          if (!report.baseline.found) console.error(`regress: no baseline for adapter '${report.adapterId}' in ${baselineFile}: baseline-relative checks will be ${opt['require-baseline'] ? "failures (--require-baseline)" : "'new'"}`);
        }),
        page.exposeFunction('__regressStart', (id) => {
          currentTask = id;
          console.error(`[regress] (${doneTasks + 1}/${total()}) ${id}`);
        }),
        page.exposeFunction('__regressResults', (json) => {
          doneTasks++;
          for (const c of JSON.parse(json)) {
            const judged = judge({ ...c, task: currentTask }, baselineChecks, { requireBaseline: opt['require-baseline'] });
            report.checks.push(judged);
            if (judged.verdict === 'fail' || judged.verdict === 'error') console.error(`  ${judged.verdict.toUpperCase()} [${judged.kernel}] ${judged.id}: ${judged.reason}`);
          }
        }),
        page.exposeFunction('__regressDone', () => ok()),
        page.exposeFunction('__regressFail', (msg) => fail(new Error(msg))),
      ]);
      const q = new URLSearchParams({ suite: opt.suite });
      if (shard) q.set('shard', `${shard.index}/${shard.count}`);
      if (report.only.length) q.set('only', report.only.join(','));
      if (opt.break) q.set('break', opt.break);
      if (speedTolerance !== undefined) q.set('speedTolerance', String(Number(speedTolerance)));
      setup.then(() => page.goto(`${served.url}regress.html?${q}`)).catch(fail);
    });
  } catch (e) {
    report.error = (e?.message ?? String(e)).split('\n')[0];
  } finally {
    await browser?.close().catch(() => undefined);
    await served.close();
  }
  report.elapsedMs = Date.now() - startedAt.getTime();
  report.summary = summarize(report.checks);
  report.exitCode = exitCodeOf(report);
  if (opt['update-baseline']) {
    if (report.error) console.error('regress: the run did not complete: baseline not updated');
    else console.error(`regress: wrote ${updateBaseline(baselineFile, report)} values for '${report.adapterId}' into ${baselineFile}`);
  }
  if (report.checks.length) console.log(formatTable(report));
  console.log(`elapsed ${(report.elapsedMs / 1000).toFixed(1)} s`);
  return finish(report);
}
