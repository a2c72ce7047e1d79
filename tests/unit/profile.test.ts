import { describe, expect, it } from 'vitest';
import { aggregate, foldScopes, parseLabel, summarise, type DispatchRecord } from '../../src/lib/step-profile';

const rec = (label: string, scope: string, ms: number | null, bytesBound = 100): DispatchRecord => ({ label, ...parseLabel(label), scope, workgroups: 1, bytesBound, ms });

describe('step profile aggregation', () => {
  it('splits pipeline labels (variant keys) into family and entry point', () => {
    expect(parseLabel('matmul?TM=4&TN=4#main')).toEqual({ family: 'matmul', entry: 'main' });
    expect(parseLabel('attention?#backward_dq')).toEqual({ family: 'attention', entry: 'backward_dq' });
    expect(parseLabel('norm#rms_forward')).toEqual({ family: 'norm', entry: 'rms_forward' });
    expect(parseLabel('')).toEqual({ family: 'unlabelled', entry: 'main' });
    expect(parseLabel('x?a=1')).toEqual({ family: 'x', entry: 'main' });
  });

  it('sums time, dispatches and bytes per key, shares over the total, largest first', () => {
    const records = [
      rec('matmul?a=1#main', 'forward/h.0', 3), rec('matmul?a=2#main', 'forward/h.1', 5), rec('add?#add', 'forward/h.0', 1, 7),
      rec('adamw?#step', 'optimizer', 1), rec('matmul?a=1#dw', 'backward/h.0', 2),
    ];
    const fam = aggregate(records, (r) => r.family);
    expect(fam.map((r) => [r.key, r.dispatches, r.ms, r.bytesBound])).toEqual([['matmul', 3, 10, 300], ['adamw', 1, 1, 100], ['add', 1, 1, 7]]);
    expect(fam[0]!.share).toBeCloseTo(10 / 12, 12);
    expect(fam.reduce((s, r) => s + r.share!, 0)).toBeCloseTo(1, 12);
    const p = summarise(records, { step: 4, wallMs: 20, encodeMs: 1.5, flops: 1e6 });
    expect(p).toMatchObject({ timing: 'timestamp-query', step: 4, dispatches: 5, gpuMs: 12, wallMs: 20, encodeMs: 1.5, flops: 1e6, bytesBound: 407 });
    expect(p.byEntry.map((r) => r.key)).toEqual(['matmul#main', 'matmul#dw', 'adamw#step', 'add#add']);
    expect(p.byScope.map((r) => [r.key, r.ms])).toEqual([['forward/h.1', 5], ['forward/h.0', 4], ['backward/h.0', 2], ['optimizer', 1]]);
    // the page's phase view folds the layers into their phase
    expect(foldScopes(p.byScope).map((r) => [r.key, r.ms, r.dispatches])).toEqual([['forward', 9, 3], ['backward', 2, 1], ['optimizer', 1, 1]]);
    expect(foldScopes(p.byScope).reduce((s, r) => s + r.share!, 0)).toBeCloseTo(1, 12);
  });

  it('without timestamps: no times or shares, rows ordered by dispatch count', () => {
    const records = [rec('a?#x', '', null), rec('b?#x', 's', null), rec('b?#y', 's', null)];
    const p = summarise(records, { step: 0, wallMs: 3, encodeMs: 1, flops: 0 });
    expect(p.timing).toBe('none');
    expect(p.gpuMs).toBeNull();
    expect(p.byFamily.map((r) => [r.key, r.dispatches, r.ms, r.share])).toEqual([['b', 2, null, null], ['a', 1, null, null]]);
    expect(p.byScope.map((r) => r.key)).toEqual(['s', '(none)']);
    expect(foldScopes(p.byScope).map((r) => [r.key, r.ms, r.share])).toEqual([['s', null, null], ['(none)', null, null]]);
    // one untimed record makes the whole step untimed rather than a partial sum
    expect(summarise([rec('a?#x', '', 1), rec('a?#x', '', null)], { step: 0, wallMs: 1, encodeMs: 0, flops: 0 }).gpuMs).toBeNull();
  });
});
