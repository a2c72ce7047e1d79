import { describe, expect, it } from 'vitest';
import { resolveSweepConfig } from '../../src/eval/sweep-config';

describe('sweep config', () => {
  it('fills defaults, sorts and de-duplicates the lists', () => {
    const c = resolveSweepConfig({ ns: [8, 1, 2, 2], budgets: [16, 0] });
    expect(c.ns).toEqual([1, 2, 8]);
    expect(c.budgets).toEqual([0, 16]);
    expect(c.task).toBe('addition');
    expect(c.extends).toEqual([]);
  });

  it.each([
    [{ task: 'chess' }, 'sweep.task', /not a task; use one of addition/],
    [{ task: 'addition', difficulty: 9 }, 'sweep.difficulty', /not offered by addition/],
    [{ ns: [0, 1] }, 'sweep.ns', /whole numbers from 1 to 256/],
    [{ ns: 'many' }, 'sweep.ns', /list/],
    [{ budgets: [1.5] }, 'sweep.budgets', /whole numbers/],
    [{ problems: 1000, ns: [8] }, 'sweep.problems', /at most 4096/],
    [{ temperature: -1 }, 'sweep.temperature', /temperature/],
    [{ nss: [1] }, 'sweep.nss', /did you mean 'ns'|not a known setting/],
  ])('%j is refused naming %s', (input, field, message) => {
    expect(() => resolveSweepConfig(input)).toThrow(message);
    try {
      resolveSweepConfig(input);
    } catch (e) {
      expect((e as { field: string }).field).toBe(field);
    }
  });
});
