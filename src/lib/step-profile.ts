/**
 * The step profile's data and its aggregation: pure, so the page (which never touches GPU objects), the engine and
 * the bench share it. The GPU side that records it is src/gpu/profile.ts.
 */

/** One dispatch of a profiled step, in recording order. */
export interface DispatchRecord {
  /** The pipeline's label: `family?params#entry` (PipelineCache's variant key). */
  label: string;
  family: string;
  entry: string;
  /** Debug-group path at the dispatch ('' outside any), e.g. 'forward/h.0'. */
  scope: string;
  /** Workgroups dispatched (x·y·z); null for an indirect dispatch (the GPU reads its grid). */
  workgroups: number | null;
  /** Bytes of the buffer ranges bound to the dispatch (an upper bound on what it reads and writes, each once). */
  bytesBound: number;
  /** GPU time in milliseconds from its pass's timestamps; null without timestamp-query. */
  ms: number | null;
}

/** Splits a pipeline label `family?params#entry` into its family and entry point. */
export function parseLabel(label: string): { family: string; entry: string } {
  const hash = label.lastIndexOf('#');
  const entry = hash >= 0 ? label.slice(hash + 1) : '';
  const head = hash >= 0 ? label.slice(0, hash) : label;
  const q = head.indexOf('?');
  return { family: (q >= 0 ? head.slice(0, q) : head) || 'unlabelled', entry: entry || 'main' };
}

/** One row of an aggregate: a family, an entry point or a scope. */
export interface ProfileRow {
  key: string;
  dispatches: number;
  /** Sum of the dispatches' GPU times (ms); null without timestamps. */
  ms: number | null;
  /** Share of the step's summed GPU time (0–1); null without timestamps. */
  share: number | null;
  bytesBound: number;
}

/** A profiled step, as the engine sends it and the page and the bench show it. */
export interface StepProfile {
  /** 'timestamp-query' when per-dispatch GPU times were measured; 'none' when only counts are known. */
  timing: 'timestamp-query' | 'none';
  step: number;
  dispatches: number;
  /** Sum of every dispatch's GPU time (ms); null without timestamps. */
  gpuMs: number | null;
  /** Wall time of the profiled step from its first encode to its readback (ms): with the passes' own overhead. */
  wallMs: number;
  /** JavaScript time spent recording the step's commands (ms). */
  encodeMs: number;
  /** Training FLOPs of the step (the run's counter: flopsPerToken × tokens) and what they come to per second of GPU time. */
  flops: number;
  bytesBound: number;
  byFamily: ProfileRow[];
  byEntry: ProfileRow[];
  byScope: ProfileRow[];
}

/** Rows grouped by `keyOf`, largest time first (by dispatch count without times). */
export function aggregate(records: readonly DispatchRecord[], keyOf: (r: DispatchRecord) => string): ProfileRow[] {
  const timed = records.length > 0 && records.every((r) => r.ms !== null);
  const total = timed ? records.reduce((s, r) => s + r.ms!, 0) : 0;
  const rows = new Map<string, ProfileRow>();
  for (const r of records) {
    const key = keyOf(r);
    const row = rows.get(key) ?? { key, dispatches: 0, ms: timed ? 0 : null, share: null, bytesBound: 0 };
    row.dispatches++;
    row.bytesBound += r.bytesBound;
    if (timed) row.ms! += r.ms!;
    rows.set(key, row);
  }
  const out = [...rows.values()];
  for (const row of out) row.share = timed ? (total > 0 ? row.ms! / total : 0) : null;
  return out.sort((a, b) => (timed ? b.ms! - a.ms! : b.dispatches - a.dispatches) || a.key.localeCompare(b.key));
}

/** Scope rows folded to their first part ('forward/h.0' and 'forward/h.1' → 'forward'): the step's phases. */
export function foldScopes(rows: readonly ProfileRow[]): ProfileRow[] {
  const folded = new Map<string, ProfileRow>();
  for (const r of rows) {
    const key = r.key.split('/')[0]!;
    const f = folded.get(key) ?? { key, dispatches: 0, ms: r.ms === null ? null : 0, share: r.share === null ? null : 0, bytesBound: 0 };
    f.dispatches += r.dispatches;
    f.bytesBound += r.bytesBound;
    if (f.ms !== null && r.ms !== null) f.ms += r.ms;
    if (f.share !== null && r.share !== null) f.share += r.share;
    folded.set(key, f);
  }
  return [...folded.values()].sort((a, b) => (b.ms ?? b.dispatches) - (a.ms ?? a.dispatches) || a.key.localeCompare(b.key));
}

/** The profile of one step from its dispatch records. */
export function summarise(records: readonly DispatchRecord[], info: { step: number; wallMs: number; encodeMs: number; flops: number }): StepProfile {
  const timed = records.length > 0 && records.every((r) => r.ms !== null);
  return {
    timing: timed ? 'timestamp-query' : 'none',
    step: info.step,
    dispatches: records.length,
    gpuMs: timed ? records.reduce((s, r) => s + r.ms!, 0) : null,
    wallMs: info.wallMs,
    encodeMs: info.encodeMs,
    flops: info.flops,
    bytesBound: records.reduce((s, r) => s + r.bytesBound, 0),
    byFamily: aggregate(records, (r) => r.family),
    byEntry: aggregate(records, (r) => `${r.family}#${r.entry}`),
    byScope: aggregate(records, (r) => r.scope || '(none)'),
  };
}
