// A validator for regression reports (regress/SCHEMA.md): returns the list of problems, empty when valid.
// Used by --merge on its inputs and by the e2e test on every report the runner writes.
import { REPORT_SCHEMA } from './report.mjs';

const KINDS = ['correctness', 'loss', 'determinism', 'throughput', 'startup'];
const RULES = ['max', 'relative', 'slowdown', 'time'];
const VERDICTS = ['pass', 'fail', 'new', 'error'];

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const isNumOrNull = (v) => v === null || isNum(v);
const isStr = (v) => typeof v === 'string';

export function validateReport(r) {
  const p = [];
  const need = (cond, what) => {
    if (!cond) p.push(what);
  };
  if (!r || typeof r !== 'object') return ['report is not an object'];
  need(r.schema === REPORT_SCHEMA, `schema must be '${REPORT_SCHEMA}'`);
  need(r.suite === 'quick' || r.suite === 'full', "suite must be 'quick' or 'full'");
  need(isStr(r.startedAt) && !Number.isNaN(Date.parse(r.startedAt)), 'startedAt must be an ISO date');
  need(isNum(r.elapsedMs), 'elapsedMs must be a number');
  need([0, 1, 2].includes(r.exitCode), 'exitCode must be 0, 1 or 2');
  need(r.error === null || isStr(r.error), 'error must be a string or null');
  need(r.adapterRequested === 'default' || r.adapterRequested === 'swiftshader', "adapterRequested must be 'default' or 'swiftshader'");
  need(r.shard === null || (isNum(r.shard?.index) && isNum(r.shard?.count) && r.shard.index >= 1 && r.shard.index <= r.shard.count), 'shard must be null or {index, count}');
  need(r.break === null || isStr(r.break), 'break must be a string or null');
  need(Array.isArray(r.only) && r.only.every(isStr), 'only must be an array of strings');
  need(r.baseline && isStr(r.baseline.file) && typeof r.baseline.found === 'boolean' && typeof r.baseline.updated === 'boolean', 'baseline must be {file, found, updated}');
  if (r.error === null || r.adapter) {
    // A run that failed before the page reported its environment has no adapter facts.
    need(isStr(r.adapterId) && r.adapterId.length > 0, 'adapterId must be a non-empty string');
    const a = r.adapter ?? {};
    need(['vendor', 'architecture', 'device', 'description'].every((k) => isStr(a[k])), 'adapter must have vendor, architecture, device, description strings');
    need(typeof r.software === 'boolean', 'software must be a boolean');
    need(isStr(r.browser?.version) && isStr(r.browser?.userAgent), 'browser must be {version, userAgent}');
    need(Array.isArray(r.features?.adapter) && Array.isArray(r.features?.device), 'features must be {adapter: [], device: []}');
    need(r.limits && typeof r.limits === 'object' && Object.values(r.limits).every(isNum), 'limits must map names to numbers');
    need(Array.isArray(r.tasks?.planned) && Array.isArray(r.tasks?.all), 'tasks must be {planned: [], all: []}');
  }
  need(Array.isArray(r.checks), 'checks must be an array');
  const ids = new Set();
  for (const [i, c] of (Array.isArray(r.checks) ? r.checks : []).entries()) {
    const at = `checks[${i}]${isStr(c?.id) ? ` (${c.id})` : ''}`;
    need(isStr(c?.id) && c.id.length > 0, `${at}: id must be a non-empty string`);
    need(!ids.has(c?.id), `${at}: duplicate id`);
    ids.add(c?.id);
    need(isStr(c?.task), `${at}: task must be a string`);
    need(KINDS.includes(c?.kind), `${at}: kind must be one of ${KINDS.join(', ')}`);
    need(isStr(c?.kernel), `${at}: kernel must be a string`);
    need(isNumOrNull(c?.value), `${at}: value must be a finite number or null`);
    need(isNumOrNull(c?.baseline), `${at}: baseline must be a finite number or null`);
    need(isStr(c?.unit), `${at}: unit must be a string`);
    need(RULES.includes(c?.tolerance?.rule) && isNum(c?.tolerance?.value), `${at}: tolerance must be {rule, value}`);
    need(VERDICTS.includes(c?.verdict), `${at}: verdict must be one of ${VERDICTS.join(', ')}`);
    need(c?.verdict === 'pass' || isStr(c?.reason), `${at}: a verdict other than pass needs a reason`);
    need(c?.tolerance?.rule !== 'max' || c?.verdict !== 'new', `${at}: a reference-relative check cannot be 'new'`);
  }
  const s = r.summary ?? {};
  const count = (v) => (Array.isArray(r.checks) ? r.checks.filter((c) => c.verdict === v).length : -1);
  need(s.total === r.checks?.length && ['pass', 'fail', 'new', 'error'].every((v) => s[v] === count(v)), 'summary must count the checks by verdict');
  return p;
}
