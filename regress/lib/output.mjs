// Human and CI renderings of a regression report: the console table and JUnit XML.

const num = (v) => {
  if (v === null || v === undefined) return '-';
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a < 1e-2 || a >= 1e6 ? v.toExponential(2) : String(Number(v.toPrecision(4)));
};

const tolText = (t) =>
  t.rule === 'max' ? `<= ${num(t.value)}` : t.rule === 'relative' ? `±${num(t.value)} rel` : t.rule === 'time' ? `<= ${num(1 / (1 - t.value))}x` : `>= ${num(1 - t.value)}x`;

const MARK = { pass: 'pass', fail: 'FAIL', new: 'new ', error: 'ERR ' };

/** The report as a table: one line per check, then the environment and the summary. */
export function formatTable(report) {
  const rows = report.checks.map((c) => [
    `${MARK[c.verdict] ?? c.verdict}${c.accepted ? '*' : ''}`,
    c.id,
    `${num(c.value)} ${c.unit}`.trim(),
    num(c.baseline),
    tolText(c.tolerance),
  ]);
  const head = ['verdict', 'check', 'value', 'baseline', 'tolerance'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r) => r.map((x, i) => x.padEnd(widths[i])).join('  ').trimEnd();
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  const s = report.summary;
  out.push('');
  out.push(`${s.total} checks: ${s.pass} pass, ${s.fail} fail, ${s.new} new, ${s.error} error${s.accepted ? ` (${s.accepted} accepted into the baseline, marked *)` : ''}`);
  return out.join('\n');
}

/** Environment lines printed above the table. */
export function formatEnvironment(report) {
  const a = report.adapter ?? {};
  const lines = [
    `adapter:  ${a.vendor || '?'} / ${a.architecture || '?'} / ${a.description || a.device || '(no description)'}  [${report.adapterId}]${report.software ? '  SOFTWARE' : ''}`,
    `browser:  ${report.browser?.version ?? '?'}  (${report.adapterRequested} adapter flags)`,
    `suite:    ${report.suite}${report.shard ? `  shard ${report.shard.index}/${report.shard.count}` : ''}${report.only?.length ? `  only ${report.only.join(',')}` : ''}${report.break ? `  BREAK ${report.break}` : ''}`,
    `baseline: ${report.baseline.file} ${report.baseline.found ? '(entry for this adapter found)' : '(no entry for this adapter: baseline-relative checks are new)'}${report.baseline.updated ? ', updated' : ''}`,
  ];
  return lines.join('\n');
}

const esc = (s) =>
  String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    // Characters XML 1.0 cannot carry at all.
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '?');

/** JUnit XML: one testsuite per check kind, one testcase per check; fail -> <failure>, error -> <error>. */
export function toJUnit(report) {
  const kinds = [...new Set(report.checks.map((c) => c.kind))];
  const seconds = (ms) => ((ms ?? 0) / 1000).toFixed(3);
  const a = report.adapter ?? {};
  const props = [
    ['adapterId', report.adapterId], ['adapter', `${a.vendor} / ${a.architecture} / ${a.description}`], ['software', report.software],
    ['browser', report.browser?.version], ['suite', report.suite], ['shard', report.shard ? `${report.shard.index}/${report.shard.count}` : ''],
    ['break', report.break ?? ''], ['baseline', report.baseline.file],
  ];
  const propXml = `    <properties>\n${props.map(([k, v]) => `      <property name="${esc(k)}" value="${esc(v ?? '')}"/>`).join('\n')}\n    </properties>`;
  const suites = kinds.map((kind) => {
    const cs = report.checks.filter((c) => c.kind === kind);
    const failures = cs.filter((c) => c.verdict === 'fail' && !c.accepted).length;
    const errors = cs.filter((c) => c.verdict === 'error').length;
    const cases = cs.map((c) => {
      const attrs = `classname="regress.${esc(kind)}.${esc(c.kernel)}" name="${esc(c.id)}" time="${seconds(c.ms)}"`;
      const detail = `value=${c.value} ${c.unit}; baseline=${c.baseline}; tolerance=${c.tolerance.rule} ${c.tolerance.value}; verdict=${c.verdict}${c.accepted ? ' (accepted into the baseline)' : ''}${c.message ? `; ${c.message}` : ''}`;
      let body = `      <system-out>${esc(detail)}</system-out>\n`;
      if (c.verdict === 'fail' && !c.accepted) body = `      <failure type="regression" message="${esc(c.reason)}">${esc(detail)}</failure>\n${body}`;
      if (c.verdict === 'error') body = `      <error type="error" message="${esc(c.reason)}">${esc(detail)}</error>\n${body}`;
      return `    <testcase ${attrs}>\n${body}    </testcase>`;
    });
    const time = seconds(cs.reduce((t, c) => t + (c.ms ?? 0), 0));
    return `  <testsuite name="spark-lab regress ${esc(kind)}" tests="${cs.length}" failures="${failures}" errors="${errors}" skipped="0" time="${time}" timestamp="${esc(report.startedAt)}">\n${propXml}\n${cases.join('\n')}\n  </testsuite>`;
  });
  if (report.error) {
    suites.push(
      `  <testsuite name="spark-lab regress run" tests="1" failures="0" errors="1" skipped="0" time="${seconds(report.elapsedMs)}">\n` +
        `    <testcase classname="regress.run" name="run" time="${seconds(report.elapsedMs)}">\n      <error type="run" message="${esc(report.error)}"/>\n    </testcase>\n  </testsuite>`,
    );
  }
  const total = report.checks.length + (report.error ? 1 : 0);
  const failures = report.checks.filter((c) => c.verdict === 'fail' && !c.accepted).length;
  const errors = report.checks.filter((c) => c.verdict === 'error').length + (report.error ? 1 : 0);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="spark-lab regress" tests="${total}" failures="${failures}" errors="${errors}" time="${seconds(report.elapsedMs)}">\n${suites.join('\n')}\n</testsuites>\n`;
}
