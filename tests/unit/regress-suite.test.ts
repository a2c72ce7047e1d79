// The regression suites draw their kernel cases from the GPU tests' tables (tests/util/cases/): every name they
// pick exists, task ids are unique, and the quick suite's ids (baseline keys) stay put.
import { describe, expect, it } from 'vitest';
import { pick } from '../../regress/checks/case-checks';
import { suiteTasks } from '../../regress/suite';

const SHARED = /^(matmul|rmsnorm|layernorm|column-sum|embedding|gelu|swiglu|rope|cross-entropy)\//;

describe('regression suites', () => {
  it.each(['quick', 'full'] as const)('%s: builds, with unique task ids', (suite) => {
    const ids = suiteTasks(suite).map((t) => t.id);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });

  it('the quick suite runs these cases of the shared tables', () => {
    expect(suiteTasks('quick').map((t) => t.id).filter((id) => SHARED.test(id))).toEqual([
      'matmul/tiled-65x67x33',
      'matmul/transA-transB-37x29x45',
      'matmul/default-bias-96x160x64',
      'matmul/accumulate-transA-alpha-19x23x41',
      'rmsnorm/N33-C64',
      'rmsnorm/N5-C257',
      'layernorm/N5-C257',
      'layernorm/N9-C100-shift100',
      'column-sum/rows37-cols33',
      'column-sum/rows5-cols35-acc',
      'embedding/N300-V17-C257',
      'embedding/N1337-V1000-C12-bad9',
      'embedding/positions-N6-V20-C16-T3-L10-off4-bad2',
      'gelu/n1001',
      'swiglu/N5-H257',
      'rope/B2-T5-NH3-HS6',
      'rope/B2-T16-NH4-HS64-pos37',
      'cross-entropy/hard-N5-V257',
      'cross-entropy/soft-N5-V257',
      'cross-entropy/weighted-N5-V257',
    ]);
  });

  it('the full suite runs every quick case and more', () => {
    const full = new Set(suiteTasks('full').map((t) => t.id));
    const quick = suiteTasks('quick').map((t) => t.id).filter((id) => SHARED.test(id));
    expect(quick.filter((id) => !full.has(id))).toEqual([]);
    expect([...full].filter((id) => SHARED.test(id)).length).toBeGreaterThan(quick.length);
  });

  it('a case missing from a shared table is named', () => {
    expect(pick([1, 7], String, ['7'])).toEqual([7]);
    expect(() => pick([1, 7], String, ['1', '8'])).toThrow("regress: no case '8' in the shared table; it has 1, 7");
  });
});
