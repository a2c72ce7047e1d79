/**
 * Countdown-style search: reach a target from given numbers with + - * / (each number used at most once). The
 * thinking is a search log: random attempts that combine two numbers at a time, each marked `no` until one reaches
 * the target (`yes`); the answer is that attempt as one expression. More attempts, more chances, so thinking longer
 * helps, which is what test-time scaling needs:
 *
 *   2 3 7 9 to 41:<think>9*3=27,27+7=34,34+2=36 no; 9-2=7,7*7=49,49-3=46 no; 9*3=27,7*2=14,27+14=41 yes</think>9*3+7*2<|endoftext|>
 *
 * Attempt steps keep to Countdown's rules (positive integers, exact division, larger operand first); the verifier is
 * looser and exact: any expression over the given numbers whose rational value is the target is correct.
 */
import type { Rng } from '../../lib/rng';
import { assembleExample, checkDifficulty, finalAnswerText, promptOf, type Task, type TaskInstance, type ThinkingStyle, type Verdict } from './task';

export type CountdownOp = '+' | '-' | '*' | '/';

/** One combination: `x op y = result`, x >= y. */
export interface CountdownStep {
  x: number;
  op: CountdownOp;
  y: number;
  result: number;
}

interface Level {
  count: number;
  maxNumber: number;
  maxTarget: number;
}

const LEVELS: Record<number, Level> = {
  1: { count: 3, maxNumber: 9, maxTarget: 50 },
  2: { count: 4, maxNumber: 9, maxTarget: 100 },
  3: { count: 4, maxNumber: 15, maxTarget: 200 },
  4: { count: 5, maxNumber: 15, maxTarget: 300 },
  5: { count: 6, maxNumber: 25, maxTarget: 500 },
};

/** Failed attempts shown before the solution in a full trace: 0..MAX_FAILED_ATTEMPTS, uniformly. */
export const MAX_FAILED_ATTEMPTS = 3;

export function applyOp(x: number, op: CountdownOp, y: number): number {
  return op === '+' ? x + y : op === '-' ? x - y : op === '*' ? x * y : x / y;
}

/** Ops Countdown allows on x >= y: results stay positive integers, and * or / by 1 is pointless. */
function allowedOps(x: number, y: number, maxValue: number): CountdownOp[] {
  const ops: CountdownOp[] = [];
  if (x + y <= maxValue) ops.push('+');
  if (x > y) ops.push('-');
  if (y > 1 && x * y <= maxValue) ops.push('*');
  if (y > 1 && x % y === 0) ops.push('/');
  return ops;
}

/**
 * One random attempt: repeatedly combine two numbers of the pool until the target appears or one number is left.
 * With no target it runs to the end (used to construct problems).
 */
export function randomAttempt(rng: Rng, numbers: readonly number[], target: number | null, maxValue: number): CountdownStep[] {
  const pool = [...numbers];
  const steps: CountdownStep[] = [];
  while (pool.length > 1) {
    const i = rng.nextInt(pool.length);
    let j = rng.nextInt(pool.length - 1);
    if (j >= i) j++;
    const x = Math.max(pool[i], pool[j]);
    const y = Math.min(pool[i], pool[j]);
    const ops = allowedOps(x, y, maxValue);
    if (ops.length === 0) break; // only when + overflows: both are huge, nothing sensible is left
    const op = rng.pick(ops);
    const result = applyOp(x, op, y);
    steps.push({ x, op, y, result });
    pool.splice(Math.max(i, j), 1);
    pool.splice(Math.min(i, j), 1);
    pool.push(result);
    if (result === target) break;
  }
  return steps;
}

const PREC: Record<CountdownOp, number> = { '+': 1, '-': 1, '*': 2, '/': 2 };

/** The expression for the last step's result, over the numbers, with the parentheses it needs. */
export function stepsToExpression(numbers: readonly number[], steps: readonly CountdownStep[]): string {
  const pool = numbers.map((v) => ({ value: v, expr: String(v), prec: 3 }));
  let last = pool[0];
  for (const s of steps) {
    const take = (v: number) => {
      const k = pool.findIndex((p) => p.value === v);
      if (k < 0) throw new Error(`countdown: step ${s.x}${s.op}${s.y} uses ${v}, which is not available`);
      return pool.splice(k, 1)[0];
    };
    const left = take(s.x);
    const right = take(s.y);
    const p = PREC[s.op];
    const l = left.prec < p ? `(${left.expr})` : left.expr;
    const r = right.prec < p || (right.prec === p && (s.op === '-' || s.op === '/')) ? `(${right.expr})` : right.expr;
    last = { value: s.result, expr: `${l}${s.op}${r}`, prec: p };
    pool.push(last);
  }
  return last.expr;
}

export function formatAttempt(steps: readonly CountdownStep[], success: boolean): string {
  return steps.map((s) => `${s.x}${s.op}${s.y}=${s.result}`).join(',') + (success ? ' yes' : ' no');
}

export interface CountdownProblem {
  numbers: number[];
  target: number;
  /** A solution: steps whose last result is the target. */
  solution: CountdownStep[];
}

/** Draws numbers, then a target that one random combination of them reaches (so a solution always exists). */
export function countdownProblem(rng: Rng, difficulty: number): CountdownProblem {
  const { count, maxNumber, maxTarget } = LEVELS[difficulty];
  for (;;) {
    const numbers = Array.from({ length: count }, () => 1 + rng.nextInt(maxNumber)).sort((a, b) => a - b);
    for (let tries = 0; tries < 20; tries++) {
      const steps = randomAttempt(rng, numbers, null, 4 * maxTarget);
      // The last reachable value that is a real target: the one that used the most numbers.
      let end = -1;
      for (let k = steps.length - 1; k >= 0 && end < 0; k--) {
        const r = steps[k].result;
        if (r >= 2 && r <= maxTarget && !numbers.includes(r)) end = k;
      }
      if (end < 0) continue;
      const target = steps[end].result;
      const first = steps.findIndex((s) => s.result === target);
      return { numbers, target, solution: steps.slice(0, first + 1) };
    }
  }
}

/** The search log: failed random attempts (for 'full'), then a successful one. */
export function countdownThinking(rng: Rng, problem: CountdownProblem, difficulty: number, style: ThinkingStyle): { thinking: string; solution: CountdownStep[] } {
  if (style !== 'full') {
    return { thinking: style === 'none' ? '' : formatAttempt(problem.solution, true), solution: problem.solution };
  }
  const maxValue = 4 * LEVELS[difficulty].maxTarget;
  const failures = rng.nextInt(MAX_FAILED_ATTEMPTS + 1);
  const attempts: string[] = [];
  for (let k = 0; k < failures; k++) {
    const steps = randomAttempt(rng, problem.numbers, problem.target, maxValue);
    const hit = steps.length > 0 && steps[steps.length - 1].result === problem.target;
    attempts.push(formatAttempt(steps, hit));
    if (hit) return { thinking: attempts.join('; '), solution: steps };
  }
  attempts.push(formatAttempt(problem.solution, true));
  return { thinking: attempts.join('; '), solution: problem.solution };
}

function parsePrompt(prompt: string): { numbers: number[]; target: number } {
  const m = /^\s*((?:\d{1,6}\s+)*\d{1,6})\s+to\s+(\d{1,9})\s*:\s*$/.exec(prompt);
  if (!m) throw new TypeError(`countdown: prompt ${JSON.stringify(prompt)} is not of the form '2 3 7 9 to 41:'`);
  return { numbers: m[1].trim().split(/\s+/).map(Number), target: Number(m[2]) };
}

export const COUNTDOWN: Task = {
  id: 'countdown',
  name: 'Countdown',
  description: 'Reach the target from the given numbers with + - * /, each number at most once; the thinking tries combinations until one works.',
  difficulties: [1, 2, 3, 4, 5],
  describeDifficulty: (d) => `${LEVELS[d].count} numbers up to ${LEVELS[d].maxNumber}, target up to ${LEVELS[d].maxTarget}`,
  continuation: '; ',
  generate(rng: Rng, difficulty: number, style: ThinkingStyle = 'full'): TaskInstance {
    checkDifficulty(COUNTDOWN, difficulty);
    const problem = countdownProblem(rng, difficulty);
    const { thinking, solution } = countdownThinking(rng, problem, difficulty, style);
    const prompt = `${problem.numbers.join(' ')} to ${problem.target}:`;
    return assembleExample(COUNTDOWN, difficulty, style, prompt, thinking, stepsToExpression(problem.numbers, solution));
  },
  verify(problem: TaskInstance | string, completion: string): Verdict {
    const { numbers, target } = parsePrompt(promptOf(problem));
    return verifyCountdown(numbers, target, completion);
  },
  canonicalProblem(prompt: string): string {
    const { numbers, target } = parsePrompt(prompt);
    return `${[...numbers].sort((x, y) => x - y).join(' ')} to ${target}`;
  },
};

/** Scores a completion's final expression: valid syntax, given numbers at most once each, value exactly the target. */
export function verifyCountdown(numbers: readonly number[], target: number, completion: string): Verdict {
  const text = finalAnswerText(completion);
  if (text === null) return { correct: false, answer: null, reason: 'thinking never ended (no </think>)' };
  // The expression is the leading run of expression characters; `=41` or words after it are ignored.
  const run = (/^[\d\s+\-*/()×÷−]*/.exec(text)?.[0] ?? '').trim();
  const expr = run.replace(/\s+/g, '').replace(/×/g, '*').replace(/÷/g, '/').replace(/−/g, '-');
  if (expr.length === 0) return { correct: false, answer: null, reason: `no expression at the start of the answer ${JSON.stringify(text.slice(0, 40))}` };
  // Dropping spaces must not join two numbers into one.
  if (/\d\s+\d/.test(run)) return { correct: false, answer: expr, reason: `two numbers in a row in ${JSON.stringify(run)}` };
  const parsed = evaluateExpression(expr);
  if ('error' in parsed) return { correct: false, answer: expr, reason: parsed.error };
  const left = new Map<number, number>();
  for (const n of numbers) left.set(n, (left.get(n) ?? 0) + 1);
  for (const n of parsed.used) {
    const k = left.get(n) ?? 0;
    if (k === 0) return { correct: false, answer: expr, reason: numbers.includes(n) ? `uses ${n} more often than given` : `uses ${n}, which is not given` };
    left.set(n, k - 1);
  }
  const { num, den } = parsed.value;
  if (den !== 1n || num !== BigInt(target)) {
    return { correct: false, answer: expr, reason: `the expression is ${num}${den === 1n ? '' : `/${den}`}, not ${target}` };
  }
  return { correct: true, answer: expr };
}

interface Rational {
  num: bigint;
  den: bigint; // > 0, in lowest terms
}

const MAX_EXPRESSION_CHARS = 200;

/** Thrown inside the parser only, to unwind to evaluateExpression, which turns it into an error value. */
class SyntaxFault extends Error {}

function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function rational(num: bigint, den: bigint): Rational {
  if (den < 0n) [num, den] = [-num, -den];
  const g = gcd(num, den) || 1n;
  return { num: num / g, den: den / g };
}

/**
 * Evaluates `+ - * /` with parentheses over non-negative integer literals, exactly (rationals). No unary minus,
 * as in Countdown. Returns the literals used, or an error message.
 */
export function evaluateExpression(expr: string): { value: Rational; used: number[] } | { error: string } {
  if (expr.length > MAX_EXPRESSION_CHARS) return { error: `the expression is longer than ${MAX_EXPRESSION_CHARS} characters` };
  const used: number[] = [];
  let pos = 0;
  const fail = (what: string): never => {
    throw new SyntaxFault(`${what} at character ${pos + 1} of ${JSON.stringify(expr)}`);
  };
  const parseExpr = (): Rational => {
    let v = parseTerm();
    while (expr[pos] === '+' || expr[pos] === '-') {
      const op = expr[pos++];
      const w = parseTerm();
      v = rational(op === '+' ? v.num * w.den + w.num * v.den : v.num * w.den - w.num * v.den, v.den * w.den);
    }
    return v;
  };
  const parseTerm = (): Rational => {
    let v = parseFactor();
    while (expr[pos] === '*' || expr[pos] === '/') {
      const op = expr[pos++];
      const w = parseFactor();
      if (op === '/' && w.num === 0n) fail('division by zero');
      v = op === '*' ? rational(v.num * w.num, v.den * w.den) : rational(v.num * w.den, v.den * w.num);
    }
    return v;
  };
  const parseFactor = (): Rational => {
    if (expr[pos] === '(') {
      pos++;
      const v = parseExpr();
      if (expr[pos] !== ')') fail("expected ')'");
      pos++;
      return v;
    }
    const m = /^\d{1,9}/.exec(expr.slice(pos));
    if (!m) fail(pos >= expr.length ? 'the expression ends early' : `unexpected ${JSON.stringify(expr[pos])}`);
    pos += m![0].length;
    used.push(Number(m![0]));
    return { num: BigInt(m![0]), den: 1n };
  };
  try {
    const value = parseExpr();
    if (pos < expr.length) fail(`unexpected ${JSON.stringify(expr[pos])}`);
    return { value, used };
  } catch (e) {
    if (e instanceof SyntaxFault) return { error: e.message };
    throw e;
  }
}
