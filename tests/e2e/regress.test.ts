/**
 * The regression runner end to end: scripts/regress.mjs as a child process on the built site (globalSetup ran
 * vite build, so every run passes --no-build), on this machine's adapter (SwiftShader without a GPU). Then the
 * report logic it relies on (verdicts, merge, JUnit) on hand-made reports, without a browser.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM helper
import { chooseAdapter, findChromium } from '../../scripts/browser.mjs';
// @ts-expect-error plain ESM helper
import { judge, mergeReports } from '../../regress/lib/report.mjs';
// @ts-expect-error plain ESM helper
import { toJUnit } from '../../regress/lib/output.mjs';
// @ts-expect-error plain ESM helper
import { validateReport } from '../../regress/lib/schema.mjs';

interface Check {
  id: string;
  task: string;
  kind: string;
  kernel: string;
  value: number | null;
  baseline: number | null;
  tolerance: { rule: string; value: number };
  verdict: 'pass' | 'fail' | 'new' | 'error';
  reason?: string;
}
interface Report {
  suite: string;
  exitCode: number;
  error: string | null;
  adapterId: string;
  software: boolean;
  shard: { index: number; count: number } | null;
  baseline: { file: string; found: boolean; updated: boolean };
  tasks: { planned: string[]; all: string[] };
  checks: Check[];
  summary: Record<string, number>;
}

const dir = mkdtempSync(join(tmpdir(), 'spark-regress-'));
const baseline = join(dir, 'baseline.json');
const adapter: string = chooseAdapter();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI; resolves with its exit code and output (never rejects on a non-zero exit). */
function regress(args: string[]): Promise<{ code: number; out: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, ['scripts/regress.mjs', '--no-build', ...args], { env: process.env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', fail);
    child.on('close', (code) => {
      const ms = Date.now() - t0;
      console.log(`regress ${args.join(' ')}: exit ${code} in ${(ms / 1000).toFixed(1)} s`);
      ok({ code: code ?? -1, out, ms });
    });
  });
}

const read = (file: string): Report => JSON.parse(readFileSync(file, 'utf8'));
const BASELINE_RULES = ['relative', 'slowdown', 'time'];

describe('npm run regress', () => {
  it('runs the quick suite with no baseline: exit 0, a schema-valid report, baseline-relative checks new; --update-baseline writes them', { timeout: 480_000 }, async () => {
    const json = join(dir, 'first.json');
    const junit = join(dir, 'first.xml');
    const r = await regress(['--suite', 'quick', '--adapter', adapter, '--json', json, '--junit', junit, '--baseline', baseline, '--update-baseline']);
    expect(r.code, r.out).toBe(0);
    const report = read(json);
    expect(validateReport(report)).toEqual([]);
    expect(report.baseline.found).toBe(false);
    expect(report.checks.length).toBeGreaterThan(40);
    for (const c of report.checks) expect(BASELINE_RULES.includes(c.tolerance.rule) ? ['new'] : ['pass'], c.id).toContain(c.verdict);
    const kernels = new Set(report.checks.map((c) => c.kernel));
    for (const k of ['matmul', 'attention', 'moe', 'adamw', 'rmsnorm', 'embedding', 'gelu', 'swiglu', 'rope', 'cross-entropy', 'reduce', 'sample', 'train']) expect(kernels).toContain(k);
    for (const kind of ['correctness', 'loss', 'determinism', 'throughput']) expect(report.checks.some((c) => c.kind === kind), kind).toBe(true);
    if (adapter === 'swiftshader') expect(report.software).toBe(true);
    expect(r.out).toMatch(/no baseline for adapter/);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/^<\?xml/);
    expect(xml).toContain(`tests="${report.checks.length}" failures="0" errors="0"`);
    const written = JSON.parse(readFileSync(baseline, 'utf8'));
    expect(Object.keys(written.adapters)).toEqual([report.adapterId]);
    expect(written.adapters[report.adapterId].checks['loss/train/dense-T16-L1-C32-B4/step-10'].value).toBeGreaterThan(0);
  });

  it('--break matmul makes the matmul checks fail, exit 1, naming the kernel; the other kernels still pass', { timeout: 240_000 }, async () => {
    const json = join(dir, 'broken.json');
    // matmul/ selects the four matmul correctness tasks (not the matmul throughput one, whose id starts with speed/).
    const r = await regress(['--adapter', adapter, '--only', 'matmul/,rmsnorm/N5', '--break', 'matmul', '--json', json, '--baseline', baseline]);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/REGRESSION \[matmul\] correctness\/matmul\//);
    expect(r.out).toMatch(/failed; kernels: matmul$/m);
    const report = read(json);
    expect(validateReport(report)).toEqual([]);
    const failed = report.checks.filter((c) => c.verdict === 'fail');
    expect(failed.length).toBeGreaterThanOrEqual(4);
    expect(new Set(failed.map((c) => c.kernel))).toEqual(new Set(['matmul']));
    expect(report.checks.filter((c) => c.kernel === 'rmsnorm').every((c) => c.verdict === 'pass')).toBe(true);
  });

  it('compares with the baseline it wrote (pass), sharded in two and merged back into one report', { timeout: 360_000 }, async () => {
    // A loaded CI machine can be several times slower than when the baseline was taken: the speed check here is
    // about the comparison working, so it allows down to 0.1x.
    const common = ['--adapter', adapter, '--only', 'matmul/tiled,train/dense,speed', '--baseline', baseline, '--speed-tolerance', '0.9'];
    const shards = [join(dir, 'shard1.json'), join(dir, 'shard2.json')];
    for (const [i, file] of shards.entries()) {
      const r = await regress([...common, '--shard', `${i + 1}/2`, '--json', file]);
      expect(r.code, r.out).toBe(0);
      expect(validateReport(read(file))).toEqual([]);
    }
    const [a, b] = shards.map(read);
    expect(a.tasks.all).toEqual(b.tasks.all);
    expect([...a.tasks.planned, ...b.tasks.planned].sort()).toEqual([...a.tasks.all].sort());
    const merged = join(dir, 'merged.json');
    const junit = join(dir, 'merged.xml');
    const m = await regress(['--merge', ...shards, '--json', merged, '--junit', junit]);
    expect(m.code, m.out).toBe(0);
    const report = read(merged);
    expect(validateReport(report)).toEqual([]);
    expect(report.shard).toBeNull();
    expect(report.checks.map((c) => c.id).sort()).toEqual([...a.checks, ...b.checks].map((c) => c.id).sort());
    expect(report.baseline.found).toBe(true);
    for (const c of report.checks) expect(c.verdict, `${c.id}: ${c.reason}`).toBe('pass');
    const compared = report.checks.filter((c) => BASELINE_RULES.includes(c.tolerance.rule));
    expect(compared.map((c) => c.id)).toEqual(expect.arrayContaining(['loss/train/dense-T16-L1-C32-B4/step-10', 'throughput/train/dense-T16-L1-C32-B4', 'throughput/matmul/256x256x256']));
    for (const c of compared) expect(c.baseline, c.id).not.toBeNull();
    expect(existsSync(junit)).toBe(true);

    // An incomplete set of shards is not a run: exit 2 with the reason.
    const partial = await regress(['--merge', shards[0]]);
    expect(partial.code).toBe(2);
    expect(partial.out).toMatch(/shard 2\/2 missing/);
  });

  it('exits 2 with one line when the run cannot be made: bad arguments, no WebGPU, a time-out', { timeout: 120_000 }, async () => {
    const r = await regress(['--break', 'no-such-kernel']);
    expect(r.code).toBe(2);
    expect(r.out.trim()).toMatch(/^regress: cannot run: --break 'no-such-kernel' is not a kernel family; one of: matmul, /);
    const merge = await regress(['--merge', join(dir, 'does-not-exist.json')]);
    expect(merge.code).toBe(2);
    const slow = await regress(['--adapter', adapter, '--only', 'attention', '--timeout', '3', '--baseline', baseline]);
    expect(slow.code).toBe(2);
    expect(slow.out).toMatch(/^regress: cannot run: timed out after 3 s/m);
    if (process.platform === 'win32') return;
    // A browser without WebGPU: a wrapper that drops the WebGPU flags and turns the feature off.
    const wrapper = join(dir, 'chromium-without-webgpu.sh');
    writeFileSync(
      wrapper,
      `#!/bin/bash\nargs=()\nfor a in "$@"; do case "$a" in --enable-unsafe-webgpu|--use-webgpu-adapter=*|--enable-features=*|--use-vulkan=*) ;; *) args+=("$a");; esac; done\n` +
        `exec '${await findChromium()}' "\${args[@]}" --disable-gpu --disable-features=WebGPU\n`,
      { mode: 0o755 },
    );
    const json = join(dir, 'no-webgpu.json');
    const none = await regress(['--adapter', adapter, '--browser', wrapper, '--only', 'gelu', '--json', json, '--baseline', baseline]);
    expect(none.code, none.out).toBe(2);
    expect(none.out).toMatch(/^regress: cannot run: WebGPUUnavailableError: .*$/m);
    const report = read(json);
    expect(validateReport(report)).toEqual([]);
    expect(report.exitCode).toBe(2);
  });
});

describe('regression report logic', () => {
  const check = (rule: string, value: number | null, tol: number) => ({ id: 'x', task: 't', kind: 'loss', kernel: 'k', value, unit: 'u', tolerance: { rule, value: tol } });

  it('judges each rule: max without a baseline, relative and slowdown against it, new without one', () => {
    expect(judge(check('max', 1e-7, 1e-4), null).verdict).toBe('pass');
    expect(judge(check('max', 1e-3, 1e-4), null).verdict).toBe('fail');
    expect(judge(check('max', null, 1e-4), null).verdict).toBe('fail');
    expect(judge(check('relative', 2.0, 1e-3), null).verdict).toBe('new');
    expect(judge(check('relative', 2.001, 1e-3), { x: { value: 2.0 } }).verdict).toBe('pass');
    expect(judge(check('relative', 2.01, 1e-3), { x: { value: 2.0 } }).verdict).toBe('fail');
    expect(judge(check('slowdown', 40, 0.5), { x: { value: 100 } }).verdict).toBe('fail');
    expect(judge(check('slowdown', 60, 0.5), { x: { value: 100 } }).verdict).toBe('pass');
    expect(judge(check('slowdown', 500, 0.5), { x: { value: 100 } }).verdict).toBe('pass');
    expect(judge(check('time', 210, 0.5), { x: { value: 100 } }).verdict).toBe('fail');
    expect(judge(check('time', 190, 0.5), { x: { value: 100 } }).verdict).toBe('pass');
    expect(judge(check('time', 20, 0.5), { x: { value: 100 } }).verdict).toBe('pass');
    expect(judge({ ...check('max', null, 0), error: true, message: 'boom' }, null)).toMatchObject({ verdict: 'error', reason: 'boom' });
  });

  it('with requireBaseline (CI), a baseline-relative check without a baseline fails instead of passing as new', () => {
    const required = { requireBaseline: true };
    for (const rule of ['relative', 'slowdown', 'time']) {
      expect(judge(check(rule, 2.0, 0.5), null, required)).toMatchObject({ verdict: 'fail', reason: expect.stringMatching(/no baseline .*--require-baseline/) });
      expect(judge(check(rule, 2.0, 0.5), { x: { value: 2.0 } }, required).verdict).toBe('pass');
    }
    expect(judge(check('max', 1e-7, 1e-4), null, required).verdict).toBe('pass');
  });

  it('merges shards into one report and recomputes the exit code; JUnit names the failing check', () => {
    const report = (index: number, checks: object[]) => ({
      schema: 'spark-lab-regress/1', suite: 'quick', startedAt: new Date(0).toISOString(), elapsedMs: 10, exitCode: 0, error: null,
      adapterRequested: 'swiftshader', adapterId: 'a/b/c', adapter: { vendor: 'a', architecture: 'b', device: '', description: 'c' }, software: true,
      browser: { version: '1', userAgent: 'x' }, features: { adapter: [], device: [] }, limits: {}, shard: { index, count: 2 }, only: [], break: null,
      baseline: { file: 'b.json', found: true, updated: false }, tasks: { planned: [`t${index}`], all: ['t1', 't2'] }, checks, summary: {},
    });
    const pass = { ...judge(check('max', 0, 1e-4), null), id: 'c1', task: 't1' };
    const fail = { ...judge(check('max', 1, 1e-4), null), id: 'c2', task: 't2', kernel: 'matmul' };
    const merged = mergeReports([report(2, [fail]), report(1, [pass])]);
    expect(merged.checks.map((c: Check) => c.id)).toEqual(['c1', 'c2']);
    expect(merged.exitCode).toBe(1);
    expect(merged.summary).toMatchObject({ total: 2, pass: 1, fail: 1 });
    expect(validateReport(merged)).toEqual([]);
    expect(() => mergeReports([report(1, [pass]), report(1, [fail])])).toThrow(/shard 2\/2 missing/);
    const xml = toJUnit(merged);
    expect(xml).toContain('classname="regress.loss.matmul" name="c2"');
    expect(xml).toMatch(/<failure type="regression" message="u 1 &gt; 1.00e-4">/);
    writeFileSync(join(dir, 'junit.xml'), xml);
  });
});
