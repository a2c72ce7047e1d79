import { describe, expect, it } from 'vitest';
import { resolveSweepConfig } from '../../src/eval/sweep-config';
import { ConfigError } from '../../src/model/validate';

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

  it.each(['toString', 'constructor', 'hasOwnProperty', 'valueOf', '__proto__'])('refuses the inherited name %s as a setting', (key) => {
    const input = JSON.parse(`{"${key}": [1, 2]}`) as unknown; // JSON makes even __proto__ an own key
    let error: unknown;
    try {
      resolveSweepConfig(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe(`sweep.${key}`);
    expect((error as ConfigError).message).toMatch(/is not a known setting/);
  });

  it('refuses null like any other non-object, and reads lists only from own keys', () => {
    expect(() => resolveSweepConfig(null)).toThrow(ConfigError);
    expect(() => resolveSweepConfig([])).toThrow(/sweep must be an object/);
    const inherited = Object.create({ ns: [64] }) as object;
    expect(resolveSweepConfig(inherited).ns).toEqual([1, 2, 4, 8]);
  });
});
