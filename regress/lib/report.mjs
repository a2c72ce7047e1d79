// The Node half of a regression run: adapter ids, verdicts against the baseline, exit codes, baseline files and
// the merge of shard reports. Plain ESM so scripts/regress.mjs and the e2e test share it. Format: regress/SCHEMA.md.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export const REPORT_SCHEMA = 'spark-lab-regress/1';
export const BASELINE_SCHEMA = 'spark-lab-regress-baseline/1';

/** A stable key for an adapter: vendor/architecture/description (or device id), lower-case, dashes for the rest. */
export function adapterIdOf(adapter) {
  const part = (s) => String(s ?? '').toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^-+|-+$/g, '') || 'unknown';
  return [part(adapter.vendor), part(adapter.architecture), part(adapter.description || adapter.device)].join('/');
}

const fmt = (v) => (v === null || v === undefined ? 'null' : Math.abs(v) !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6) ? v.toExponential(2) : String(Number(v.toPrecision(4))));

/**
 * The verdict of one check: 'error' when it threw; rule 'max' needs no baseline; 'relative', 'slowdown' and 'time' are
 * 'new' without one, or 'fail' with `requireBaseline` (CI, where a missing baseline must not pass unnoticed).
 * Returns the check with baseline, verdict and (for anything but a pass) a reason.
 */
export function judge(check, baselineChecks, { requireBaseline = false } = {}) {
  const baseline = baselineChecks?.[check.id]?.value ?? null;
  const out = { ...check, baseline, verdict: 'pass' };
  const { rule, value: tol } = check.tolerance;
  const v = check.value;
  if (check.error) return { ...out, verdict: 'error', reason: check.message ?? 'the check threw' };
  if (rule === 'max') {
    if (v === null) return { ...out, verdict: 'fail', reason: `no finite value (${check.message ?? 'non-finite output'})` };
    if (v > tol) return { ...out, verdict: 'fail', reason: `${check.unit} ${fmt(v)} > ${fmt(tol)}${check.message ? ` (${check.message})` : ''}` };
    return out;
  }
  if (v === null) return { ...out, verdict: 'fail', reason: `no finite value${check.message ? ` (${check.message})` : ''}` };
  if (baseline === null && requireBaseline) return { ...out, verdict: 'fail', reason: 'no baseline for this check on this adapter, and --require-baseline was given' };
  if (baseline === null) return { ...out, verdict: 'new', reason: 'no baseline for this check on this adapter' };
  if (rule === 'relative') {
    const diff = Math.abs(v - baseline) / Math.max(Math.abs(baseline), 1e-30);
    if (diff > tol) return { ...out, verdict: 'fail', reason: `${fmt(v)} ${check.unit} vs baseline ${fmt(baseline)}: relative difference ${fmt(diff)} > ${fmt(tol)}` };
    return out;
  }
  if (rule === 'slowdown') {
    const ratio = v / baseline;
    if (ratio < 1 - tol) return { ...out, verdict: 'fail', reason: `${fmt(v)} ${check.unit} is ${fmt(ratio)}x the baseline ${fmt(baseline)} (allowed down to ${fmt(1 - tol)}x)` };
    return out;
  }
  if (rule === 'time') {
    const ratio = v / baseline;
    if (ratio > 1 / (1 - tol)) return { ...out, verdict: 'fail', reason: `${fmt(v)} ${check.unit} is ${fmt(ratio)}x the baseline ${fmt(baseline)} (allowed up to ${fmt(1 / (1 - tol))}x)` };
    return out;
  }
  return { ...out, verdict: 'error', reason: `unknown tolerance rule '${rule}'` };
}

export function summarize(checks) {
  const s = { total: checks.length, pass: 0, fail: 0, new: 0, error: 0, accepted: 0 };
  for (const c of checks) {
    s[c.verdict]++;
    if (c.accepted) s.accepted++;
  }
  return s;
}

/** 2: the run could not be made; 1: a failing or erroring check not accepted into the baseline; 0: all within tolerance. */
export function exitCodeOf(report) {
  if (report.error) return 2;
  return report.checks.some((c) => (c.verdict === 'fail' || c.verdict === 'error') && !c.accepted) ? 1 : 0;
}

/** The failing checks, one line each, naming the kernel. */
export function regressionLines(report) {
  return report.checks
    .filter((c) => (c.verdict === 'fail' || c.verdict === 'error') && !c.accepted)
    .map((c) => `${c.verdict === 'error' ? 'ERROR' : 'REGRESSION'} [${c.kernel}] ${c.id}: ${c.reason}`);
}

export function loadBaseline(file) {
  if (!file || !existsSync(file)) return { schema: BASELINE_SCHEMA, adapters: {} };
  const data = JSON.parse(readFileSync(file, 'utf8'));
  if (data.schema !== BASELINE_SCHEMA || typeof data.adapters !== 'object') {
    throw new Error(`${file} is not a regression baseline (schema '${data.schema}', expected '${BASELINE_SCHEMA}')`);
  }
  return data;
}

/**
 * Writes the report's values into the baseline file under its adapter id (other adapters and other checks of this
 * one are kept), and marks the baseline-relative failures as accepted. Checks that errored or have no value are
 * not written.
 */
export function updateBaseline(file, report) {
  const data = loadBaseline(file);
  const entry = (data.adapters[report.adapterId] ??= { checks: {} });
  entry.adapter = report.adapter;
  entry.browser = report.browser?.version ?? null;
  entry.updatedAt = new Date().toISOString();
  let written = 0;
  for (const c of report.checks) {
    if (c.error || c.value === null) continue;
    entry.checks[c.id] = { value: c.value, unit: c.unit, kind: c.kind };
    written++;
    if (c.verdict === 'fail' && c.tolerance.rule !== 'max') c.accepted = true;
  }
  entry.checks = Object.fromEntries(Object.entries(entry.checks).sort(([a], [b]) => a.localeCompare(b)));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  report.baseline.updated = true;
  report.summary = summarize(report.checks);
  report.exitCode = exitCodeOf(report);
  return written;
}

/**
 * One report from shard reports: same schema, suite and adapter required; every shard i/n present exactly once
 * (or unsharded reports whose check ids do not overlap). Verdicts are kept; summary and exit code recomputed.
 * Throws with a one-line reason when the set is not mergeable.
 */
export function mergeReports(reports, files = []) {
  if (!reports.length) throw new Error('--merge needs at least one report');
  const name = (i) => files[i] ?? `report ${i + 1}`;
  reports.forEach((r, i) => {
    if (r.schema !== REPORT_SCHEMA) throw new Error(`${name(i)}: schema '${r.schema}', expected '${REPORT_SCHEMA}'`);
  });
  const first = reports[0];
  for (const [i, r] of reports.entries()) {
    if (r.suite !== first.suite) throw new Error(`${name(i)} ran suite '${r.suite}', ${name(0)} '${first.suite}'`);
    if (r.adapterId !== first.adapterId) throw new Error(`${name(i)} ran on '${r.adapterId}', ${name(0)} on '${first.adapterId}'`);
    if ((r.break ?? null) !== (first.break ?? null)) throw new Error(`${name(i)} has --break ${r.break}, ${name(0)} ${first.break}`);
  }
  const sharded = reports.filter((r) => r.shard);
  if (sharded.length) {
    const count = sharded[0].shard.count;
    if (sharded.length !== reports.length || sharded.some((r) => r.shard.count !== count)) throw new Error('cannot merge reports of different shardings (or sharded with unsharded ones)');
    const seen = new Set(sharded.map((r) => r.shard.index));
    const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !seen.has(i));
    if (missing.length) throw new Error(`shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${count}`).join(', ')} missing from the merge`);
    if (seen.size !== reports.length) throw new Error('a shard appears more than once in the merge');
  }
  const checks = [];
  const ids = new Set();
  for (const r of reports) {
    for (const c of r.checks) {
      if (ids.has(c.id)) throw new Error(`check ${c.id} appears in more than one report`);
      ids.add(c.id);
      checks.push(c);
    }
  }
  const order = new Map((first.tasks?.all ?? []).map((t, i) => [t, i]));
  checks.sort((a, b) => (order.get(a.task) ?? 1e9) - (order.get(b.task) ?? 1e9));
  const errors = reports.map((r, i) => (r.error ? `${name(i)}: ${r.error}` : null)).filter(Boolean);
  const merged = {
    ...first,
    startedAt: reports.map((r) => r.startedAt).sort()[0],
    elapsedMs: reports.reduce((t, r) => t + (r.elapsedMs ?? 0), 0),
    shard: null,
    mergedFrom: reports.map((r, i) => ({ file: name(i), shard: r.shard, elapsedMs: r.elapsedMs, exitCode: r.exitCode })),
    tasks: { planned: reports.flatMap((r) => r.tasks?.planned ?? []), all: first.tasks?.all ?? [] },
    baseline: { ...first.baseline, updated: reports.some((r) => r.baseline?.updated) },
    checks,
    error: errors.length ? errors.join('; ') : null,
  };
  merged.summary = summarize(checks);
  merged.exitCode = exitCodeOf(merged);
  return merged;
}
