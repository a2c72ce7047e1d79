import { describe, expect, it } from 'vitest';
import { ADDITION } from '../../src/data/tasks';
import {
  confidenceWeight,
  majorityVote,
  meanLogprob,
  select,
  selectAll,
  selectByLogprob,
  selectOracle,
  weightedVote,
  type Sample,
} from '../../src/eval/select';

const s = (answer: string | null, lp = -1, correct?: boolean): Sample => ({ answer, meanLogprob: lp, correct });

describe('meanLogprob', () => {
  it('averages, skipping forced tokens (NaN)', () => {
    expect(meanLogprob([-1, -3])).toBe(-2);
    expect(meanLogprob(new Float32Array([-1, NaN, -2, NaN]))).toBe(-1.5);
    expect(meanLogprob([])).toBe(-Infinity);
    expect(meanLogprob([NaN])).toBe(-Infinity);
  });
});

describe('majority vote', () => {
  it('picks the most frequent answer and reports its support', () => {
    const r = majorityVote([s('5'), s('7'), s('7'), s(null), s('7'), s('5')]);
    expect(r).toMatchObject({ rule: 'majority', index: 1, answer: '7', support: 3, total: 5 });
  });

  it('breaks ties toward the answer seen first, whatever the log-probabilities', () => {
    expect(majorityVote([s('7', -9), s('5', -0.1), s('5'), s('7')])).toMatchObject({ answer: '7', index: 0, support: 2 });
    expect(majorityVote([s('5'), s('7'), s('7'), s('5')])).toMatchObject({ answer: '5', index: 0 });
    expect(majorityVote([s(null), s('3'), s('4')])).toMatchObject({ answer: '3', index: 1, support: 1, total: 2 });
  });

  it('chooses nothing when no sample answered, and that counts as wrong', () => {
    expect(majorityVote([s(null, -1, false), s(null, -1, false)])).toMatchObject({ index: -1, answer: null, correct: false, support: 0 });
    expect(majorityVote([])).toMatchObject({ index: -1, answer: null, correct: undefined });
  });
});

describe('log-probability selection', () => {
  it('picks the most confident answered sample; ties go to the first', () => {
    expect(selectByLogprob([s('1', -2), s('2', -0.5), s('3', -0.7)])).toMatchObject({ index: 1, answer: '2' });
    expect(selectByLogprob([s('1', -0.5), s('2', -0.5)])).toMatchObject({ index: 0 });
    expect(selectByLogprob([s(null, -0.01), s('2', -3)])).toMatchObject({ index: 1, answer: '2' }); // no answer, no use
    expect(selectByLogprob([s(null, -2), s(null, -1)])).toMatchObject({ index: 1, answer: null });
    expect(selectByLogprob([s('1', NaN), s('2', -50)])).toMatchObject({ index: 1 }); // unknown ranks last
    expect(selectByLogprob([])).toMatchObject({ index: -1 });
  });
});

describe('oracle', () => {
  it('finds a correct sample if any (pass@N), else is wrong', () => {
    expect(selectOracle([s('1', -1, false), s('2', -5, true), s('3', -1, true)])).toMatchObject({ index: 1, correct: true });
    expect(selectOracle([s('1', -1, false), s(null, -1, false)])).toMatchObject({ index: 0, correct: false });
    expect(() => selectOracle([s('1')])).toThrow(/needs its verdict/);
    expect(selectOracle([])).toMatchObject({ index: -1, correct: undefined });
  });
});

describe('confidence-weighted vote', () => {
  it('lets one confident answer outweigh several unsure ones', () => {
    const samples = [s('5', -3), s('5', -3), s('7', -0.1)];
    expect(majorityVote(samples).answer).toBe('5');
    const r = weightedVote(samples);
    expect(r).toMatchObject({ rule: 'weighted', answer: '7', index: 2 });
    expect(r.support).toBeCloseTo(Math.exp(-0.1), 12);
    expect(r.total).toBeCloseTo(2 * Math.exp(-3) + Math.exp(-0.1), 12);
  });

  it('breaks exact ties toward the first answer, accepts custom weights and rejects bad ones', () => {
    expect(weightedVote([s('a', -1), s('b', -1)])).toMatchObject({ answer: 'a' });
    expect(weightedVote([s('a', -1), s('b', -1), s('b', -5)], () => 1)).toMatchObject({ answer: 'b', support: 2 });
    expect(() => weightedVote([s('a')], () => -1)).toThrow(/weights must be finite and >= 0/);
    expect(confidenceWeight(s('a', NaN))).toBe(0);
    expect(confidenceWeight(s('a', 0))).toBe(1);
  });
});

describe('select', () => {
  it('dispatches by rule and runs every rule over verified samples', () => {
    // Four sampled completions of one addition problem, scored by the task's verifier.
    const prompt = '12+30=';
    const completions: [string, number][] = [
      ['<think>2+0+0=2,1+3+0=4</think>42<|endoftext|>', -0.4],
      ['<think>2+0+0=2,1+3+0=5</think>52<|endoftext|>', -0.2],
      ['<think>2+0+0=2,1+3+0=4</think>42<|endoftext|>', -0.6],
      ['<think>2+0+0=2,1+3', -0.1],
    ];
    const samples = completions.map(([c, lp]) => {
      const v = ADDITION.verify(prompt, c);
      return { answer: v.answer, correct: v.correct, meanLogprob: lp };
    });
    const all = selectAll(samples);
    expect(all.oracle).toMatchObject({ index: 0, correct: true });
    expect(all.logprob).toMatchObject({ index: 1, answer: '52', correct: false });
    expect(all.majority).toMatchObject({ index: 0, answer: '42', correct: true, support: 2, total: 3 });
    expect(all.weighted).toMatchObject({ answer: '42', correct: true });
    expect(select('majority', samples)).toEqual(all.majority);
    expect(Object.keys(selectAll([s('1')]))).toEqual(['logprob', 'majority', 'weighted']);
    expect(() => select('best' as never, samples)).toThrow(/unknown selection rule "best"/);
  });
});
