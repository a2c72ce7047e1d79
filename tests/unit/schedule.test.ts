import { describe, expect, it } from 'vitest';
import { learningRate, type ScheduleConfig } from '../../src/train/schedule';

const base: ScheduleConfig = { lr: 1e-3, warmupSteps: 10, totalSteps: 100, kind: 'cosine', minLrFraction: 0.1, decayFraction: 0.2 };

describe('learningRate', () => {
  it('warms up linearly to lr', () => {
    expect(learningRate(base, 0)).toBeCloseTo(1e-4, 12);
    expect(learningRate(base, 9)).toBeCloseTo(1e-3, 12);
  });
  it('cosine decays from lr to the floor', () => {
    expect(learningRate(base, 10)).toBeCloseTo(1e-3, 12);
    expect(learningRate(base, 55)).toBeCloseTo(1e-4 + 0.5 * 9e-4, 12);
    expect(learningRate(base, 100)).toBeCloseTo(1e-4, 12);
    for (let s = 11; s < 100; s++) expect(learningRate(base, s)).toBeLessThanOrEqual(learningRate(base, s - 1));
  });
  it('warmup-stable-decay holds then decays linearly over the last fraction', () => {
    const w = { ...base, kind: 'wsd' as const };
    expect(learningRate(w, 50)).toBe(1e-3);
    expect(learningRate(w, 79)).toBe(1e-3);
    expect(learningRate(w, 99)).toBeCloseTo(1e-4, 12);
    expect(learningRate(w, 89)).toBeCloseTo(1e-3 - (10 / 20) * 9e-4, 12);
  });
});
