/**
 * Multi-digit addition with a column-by-column carry scratchpad, least significant column first (the order a
 * person adds in, and the order a left-to-right model can produce the carries):
 *
 *   347+589=<think>7+9+0=16,4+8+1=13,3+5+1=9</think>936<|endoftext|>        (full: digits, carry in, column sum)
 *   347+589=<think>16,13,9</think>936<|endoftext|>                           (short: column sums only)
 *
 * The answer's digits are the last digits of the column sums read backwards, plus the final carry.
 */
import type { Rng } from '../../lib/rng';
import {
  assembleExample,
  checkDifficulty,
  digitsLsbFirst,
  END_THINK_TEXT,
  promptOf,
  randomDigits,
  verifyInteger,
  type Task,
  type TaskInstance,
  type ThinkingStyle,
  type Verdict,
} from './task';

/** One column of the scratchpad. */
export interface AdditionColumn {
  a: number;
  b: number;
  carryIn: number;
  sum: number;
}

/** The columns of a + b, least significant first; a missing digit is 0. */
export function additionColumns(a: number, b: number): AdditionColumn[] {
  const da = digitsLsbFirst(a);
  const db = digitsLsbFirst(b);
  const cols: AdditionColumn[] = [];
  let carry = 0;
  for (let i = 0; i < Math.max(da.length, db.length); i++) {
    const x = da[i] ?? 0;
    const y = db[i] ?? 0;
    const sum = x + y + carry;
    cols.push({ a: x, b: y, carryIn: carry, sum });
    carry = sum >= 10 ? 1 : 0;
  }
  return cols;
}

export function additionThinking(a: number, b: number, style: ThinkingStyle): string {
  const cols = additionColumns(a, b);
  if (style === 'none') return '';
  if (style === 'short') return cols.map((c) => c.sum).join(',');
  return cols.map((c) => `${c.a}+${c.b}+${c.carryIn}=${c.sum}`).join(',');
}

/** Operand digits per difficulty level. */
const DIGITS: Record<number, number> = { 1: 2, 2: 3, 3: 4, 4: 5, 5: 6 };

function parsePrompt(prompt: string): [bigint, bigint] {
  const m = /^\s*(\d{1,40})\s*\+\s*(\d{1,40})\s*=\s*$/.exec(prompt);
  if (!m) throw new TypeError(`addition: prompt ${JSON.stringify(prompt)} is not of the form 'A+B='`);
  return [BigInt(m[1]), BigInt(m[2])];
}

export const ADDITION: Task = {
  id: 'addition',
  name: 'Addition',
  description: 'Add two numbers of the same length; the thinking adds column by column, carrying.',
  difficulties: [1, 2, 3, 4, 5],
  describeDifficulty: (d) => `${DIGITS[d]}-digit + ${DIGITS[d]}-digit`,
  generate(rng: Rng, difficulty: number, style: ThinkingStyle = 'full'): TaskInstance {
    checkDifficulty(ADDITION, difficulty);
    const n = DIGITS[difficulty];
    const a = randomDigits(rng, n);
    const b = randomDigits(rng, n);
    return assembleExample(ADDITION, difficulty, style, `${a}+${b}=`, additionThinking(a, b, style), String(a + b));
  },
  verify(problem: TaskInstance | string, completion: string): Verdict {
    const [a, b] = parsePrompt(promptOf(problem));
    return verifyInteger(completion, a + b);
  },
  canonicalProblem(prompt: string): string {
    const [a, b] = parsePrompt(prompt);
    return a <= b ? `${a}+${b}` : `${b}+${a}`;
  },
};

/** How one column of a sampled scratchpad compares with the true column (for diagnosing where a model goes wrong). */
export interface ColumnCheck {
  /** Column index, least significant first. */
  index: number;
  /** The sample wrote this column in the `a+b+c=s` form. */
  written: boolean;
  /** It copied both operand digits right. */
  operands: boolean;
  /** It carried in the right value. */
  carry: boolean;
  /** Its sum is right for the digits and carry it wrote (whether or not those were right). */
  arithmetic: boolean;
  /** The whole column equals the true one. */
  correct: boolean;
}

const FULL_COLUMN = /^(\d)\+(\d)\+(\d)=(\d{1,2})$/;

/**
 * Checks each column of a sampled full-style scratchpad against the true columns of the prompt's sum. `completion`
 * is the sampled text after `<think>` (thinking, then `</think>` and the answer, or the thinking alone if it was
 * cut). One entry per true column; a column the sample did not write, or wrote in another form, has every flag false.
 */
export function checkAdditionThinking(problem: TaskInstance | string, completion: string): ColumnCheck[] {
  const [a, b] = parsePrompt(promptOf(problem));
  const truth = additionColumns(Number(a), Number(b));
  const end = completion.indexOf(END_THINK_TEXT);
  const chunks = (end < 0 ? completion : completion.slice(0, end)).split(',');
  return truth.map((t, index) => {
    const m = FULL_COLUMN.exec((chunks[index] ?? '').trim());
    if (!m) return { index, written: false, operands: false, carry: false, arithmetic: false, correct: false };
    const [x, y, c, s] = m.slice(1).map(Number);
    const operands = x === t.a && y === t.b;
    const carry = c === t.carryIn;
    return { index, written: true, operands, carry, arithmetic: x + y + c === s, correct: operands && carry && s === t.sum };
  });
}
