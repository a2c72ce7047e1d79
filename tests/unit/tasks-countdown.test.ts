import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/lib/rng';
import { COUNTDOWN, MAX_FAILED_ATTEMPTS, THINKING_STYLES, countdownProblem, evaluateExpression, verifyCountdown } from '../../src/data/tasks';
import { applyOp, randomAttempt, type CountdownOp } from '../../src/data/tasks/countdown';

const parsePrompt = (prompt: string) => {
  const m = /^((?:\d+ )*\d+) to (\d+):$/.exec(prompt);
  if (!m) throw new Error(`bad prompt ${prompt}`);
  return { numbers: m[1].split(' ').map(Number), target: Number(m[2]) };
};
const LEVELS = [
  { count: 3, maxNumber: 9, maxTarget: 50 },
  { count: 4, maxNumber: 9, maxTarget: 100 },
  { count: 4, maxNumber: 15, maxTarget: 200 },
  { count: 5, maxNumber: 15, maxTarget: 300 },
  { count: 6, maxNumber: 25, maxTarget: 500 },
];

describe('countdown generator', () => {
  it('is deterministic per seed; the style does not change the problem', () => {
    for (const d of COUNTDOWN.difficulties) {
      const a = Array.from({ length: 5 }, (_, i) => COUNTDOWN.generate(new Rng(i), d));
      expect(Array.from({ length: 5 }, (_, i) => COUNTDOWN.generate(new Rng(i), d))).toEqual(a);
      for (const style of THINKING_STYLES) expect(COUNTDOWN.generate(new Rng(0), d, style).prompt).toBe(a[0].prompt);
    }
    expect(COUNTDOWN.generate(new Rng(1), 2).text).not.toBe(COUNTDOWN.generate(new Rng(2), 2).text);
  });

  it('always has a solution, which the verifier accepts', () => {
    const rng = new Rng(21);
    for (const d of COUNTDOWN.difficulties) {
      for (let i = 0; i < 150; i++) {
        const e = COUNTDOWN.generate(rng, d, THINKING_STYLES[i % 3]);
        const { numbers, target } = parsePrompt(e.prompt);
        expect(COUNTDOWN.verify(e, e.answer), `${e.text}`).toEqual({ correct: true, answer: e.answer });
        expect(COUNTDOWN.verify(e.prompt, e.text.slice(e.prompt.length)).correct).toBe(true);
        expect(numbers).not.toContain(target); // never trivial
        expect(target).toBeGreaterThanOrEqual(2);
      }
    }
  });

  it('scales the number count, number size and target with difficulty', () => {
    const rng = new Rng(8);
    for (const d of COUNTDOWN.difficulties) {
      const L = LEVELS[d - 1];
      let biggest = 0;
      for (let i = 0; i < 100; i++) {
        const { numbers, target } = parsePrompt(COUNTDOWN.generate(rng, d, 'none').prompt);
        expect(numbers).toHaveLength(L.count);
        expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
        expect(Math.min(...numbers)).toBeGreaterThanOrEqual(1);
        expect(Math.max(...numbers)).toBeLessThanOrEqual(L.maxNumber);
        expect(target).toBeLessThanOrEqual(L.maxTarget);
        biggest = Math.max(biggest, target);
      }
      expect(biggest).toBeGreaterThan(L.maxTarget / 3);
      expect(COUNTDOWN.describeDifficulty(d)).toBe(`${L.count} numbers up to ${L.maxNumber}, target up to ${L.maxTarget}`);
    }
  });

  it('shows a consistent search: legal steps, failed attempts marked no, the last one reaching the target', () => {
    const rng = new Rng(31);
    const failures: number[] = [];
    for (let i = 0; i < 300; i++) {
      const d = COUNTDOWN.difficulties[i % 5];
      const e = COUNTDOWN.generate(rng, d, 'full');
      const { numbers, target } = parsePrompt(e.prompt);
      const attempts = e.thinking.split('; ');
      attempts.forEach((attempt, k) => {
        const last = k === attempts.length - 1;
        expect(attempt.endsWith(last ? ' yes' : ' no'), attempt).toBe(true);
        const pool = [...numbers];
        let result = NaN;
        for (const step of attempt.replace(/ (yes|no)$/, '').split(',')) {
          const m = /^(\d+)([-+*/])(\d+)=(\d+)$/.exec(step);
          expect(m, step).not.toBeNull();
          const [x, op, y, r] = [Number(m![1]), m![2] as CountdownOp, Number(m![3]), Number(m![4])];
          expect(x).toBeGreaterThanOrEqual(y);
          expect(applyOp(x, op, y)).toBe(r);
          expect(Number.isInteger(r) && r > 0).toBe(true);
          for (const v of [x, y]) {
            const at = pool.indexOf(v);
            expect(at, `${v} not available in ${attempt}`).toBeGreaterThanOrEqual(0);
            pool.splice(at, 1);
          }
          pool.push(r);
          if (!last) expect(r).not.toBe(target);
          result = r;
        }
        if (last) expect(result).toBe(target);
      });
      failures.push(attempts.length - 1);
    }
    expect(Math.max(...failures)).toBe(MAX_FAILED_ATTEMPTS);
    expect(failures.filter((f) => f > 0).length).toBeGreaterThan(150);
    const short = COUNTDOWN.generate(new Rng(4), 3, 'short');
    expect(short.thinking).toMatch(/^[^;]* yes$/);
  });

  it('rewards several tries: random attempts hit the target more often with more of them', () => {
    const rng = new Rng(41);
    let one = 0;
    let eight = 0;
    const problems = 300;
    for (let i = 0; i < problems; i++) {
      const { numbers, target } = countdownProblem(rng, 2);
      const hits = Array.from({ length: 8 }, () => {
        const steps = randomAttempt(rng, numbers, target, 400);
        return steps.length > 0 && steps[steps.length - 1].result === target;
      });
      if (hits[0]) one++;
      if (hits.some(Boolean)) eight++;
    }
    expect(one / problems).toBeLessThan(0.5);
    expect(eight / problems).toBeGreaterThan(one / problems + 0.2);
  });
});

describe('countdown verifier', () => {
  const numbers = [2, 3, 7, 9];
  const v = (expr: string) => verifyCountdown(numbers, 41, `<think>…</think>${expr}<|endoftext|>`);

  it('accepts any valid expression that hits the target', () => {
    expect(v('9*3+7*2')).toEqual({ correct: true, answer: '9*3+7*2' });
    expect(v('2*7+3*9')).toMatchObject({ correct: true });
    expect(v(' (2 * 7) + (3 * 9) = 41 ')).toEqual({ correct: true, answer: '(2*7)+(3*9)' });
    expect(v('9×3+7×2 yes')).toEqual({ correct: true, answer: '9*3+7*2' });
    expect(COUNTDOWN.verify('2 3 7 9 to 41:', '<think>x</think>9*3+7*2').correct).toBe(true);
    // Exact rationals: a fractional intermediate is fine when the value is exact.
    expect(verifyCountdown([2, 3, 4], 6, '3/2*4').correct).toBe(true);
  });

  it('rejects reused, missing or foreign numbers, wrong values and malformed expressions', () => {
    expect(v('9*3+7*2+0')).toMatchObject({ correct: false, reason: 'uses 0, which is not given' });
    expect(v('9*9-7*2-2*3')).toMatchObject({ correct: false, reason: 'uses 9 more often than given' });
    expect(v('9*3+7+2')).toMatchObject({ correct: false, reason: 'the expression is 36, not 41' });
    expect(v('9/2')).toMatchObject({ correct: false, reason: 'the expression is 9/2, not 41' });
    expect(v('9/(3-3)')).toMatchObject({ correct: false, reason: expect.stringMatching(/division by zero/) });
    expect(v('(9*3+7*2')).toMatchObject({ correct: false, reason: expect.stringMatching(/expected '\)'/) });
    expect(v('9*3+')).toMatchObject({ correct: false, reason: expect.stringMatching(/ends early/) });
    expect(v('-9+50')).toMatchObject({ correct: false }); // no unary minus
    expect(v('(9-3)*7 41')).toMatchObject({ correct: false, reason: expect.stringMatching(/two numbers in a row/) });
    expect(v('41')).toMatchObject({ correct: false, reason: 'uses 41, which is not given' });
    expect(v('')).toMatchObject({ correct: false, answer: null });
    expect(v('the answer')).toMatchObject({ correct: false, answer: null });
    expect(verifyCountdown(numbers, 41, '<think>9*3=27')).toMatchObject({ correct: false, answer: null, reason: expect.stringMatching(/never ended/) });
    expect(v('('.repeat(300) + '9')).toMatchObject({ correct: false, reason: expect.stringMatching(/longer than 200/) });
    expect(() => COUNTDOWN.verify('2 3 7 9 41', '9')).toThrow(/is not of the form/);
  });

  it('evaluates with the usual precedence, exactly', () => {
    const val = (e: string) => {
      const r = evaluateExpression(e);
      if ('error' in r) throw new Error(r.error);
      return `${r.value.num}/${r.value.den}`;
    };
    expect(val('2+3*4')).toBe('14/1');
    expect(val('(2+3)*4')).toBe('20/1');
    expect(val('8-3-2')).toBe('3/1');
    expect(val('8/4/2')).toBe('1/1');
    expect(val('2*3/4')).toBe('3/2');
    expect(val('8-(3-2)')).toBe('7/1');
    expect(evaluateExpression('2+3*4')).toMatchObject({ used: [2, 3, 4] });
  });
});
