/**
 * Multiplication with a partial-products scratchpad: one partial product per digit of the second factor (least
 * significant first, the shift written as trailing zeros), then a running sum:
 *
 *   347*29=<think>347*9=3123,347*20=6940,3123+6940=10063</think>10063<|endoftext|>     (full)
 *   347*29=<think>3123+6940</think>10063<|endoftext|>                                   (short: partials only)
 */
import type { Rng } from '../../lib/rng';
import {
  assembleExample,
  checkDifficulty,
  digitsLsbFirst,
  promptOf,
  randomDigits,
  verifyInteger,
  type Task,
  type TaskInstance,
  type ThinkingStyle,
  type Verdict,
} from './task';

export interface PartialProduct {
  /** The digit of the second factor times its place value, written as digit then zeros (e.g. `20`, `00`). */
  multiplier: string;
  value: number;
}

/** Partial products of a * b, least significant digit of b first. */
export function partialProducts(a: number, b: number): PartialProduct[] {
  return digitsLsbFirst(b).map((d, k) => ({ multiplier: String(d) + '0'.repeat(k), value: a * d * 10 ** k }));
}

export function multiplicationThinking(a: number, b: number, style: ThinkingStyle): string {
  if (style === 'none') return '';
  const parts = partialProducts(a, b);
  if (style === 'short') return parts.map((p) => p.value).join('+');
  const steps = parts.map((p) => `${a}*${p.multiplier}=${p.value}`);
  let sum = parts[0].value;
  for (const p of parts.slice(1)) {
    steps.push(`${sum}+${p.value}=${sum + p.value}`);
    sum += p.value;
  }
  return steps.join(',');
}

/** [digits of the first factor, digits of the second] per difficulty level. */
const SHAPES: Record<number, [number, number]> = { 1: [2, 1], 2: [3, 1], 3: [2, 2], 4: [3, 2], 5: [3, 3] };

function parsePrompt(prompt: string): [bigint, bigint] {
  const m = /^\s*(\d{1,40})\s*\*\s*(\d{1,40})\s*=\s*$/.exec(prompt);
  if (!m) throw new TypeError(`multiplication: prompt ${JSON.stringify(prompt)} is not of the form 'A*B='`);
  return [BigInt(m[1]), BigInt(m[2])];
}

export const MULTIPLICATION: Task = {
  id: 'multiplication',
  name: 'Multiplication',
  description: 'Multiply two numbers; the thinking writes one partial product per digit, then adds them up.',
  difficulties: [1, 2, 3, 4, 5],
  describeDifficulty: (d) => `${SHAPES[d][0]}-digit * ${SHAPES[d][1]}-digit`,
  generate(rng: Rng, difficulty: number, style: ThinkingStyle = 'full'): TaskInstance {
    checkDifficulty(MULTIPLICATION, difficulty);
    const [na, nb] = SHAPES[difficulty];
    const a = randomDigits(rng, na);
    // A one-digit factor of 0 or 1 would make a trivial example.
    const b = nb === 1 ? 2 + rng.nextInt(8) : randomDigits(rng, nb);
    return assembleExample(MULTIPLICATION, difficulty, style, `${a}*${b}=`, multiplicationThinking(a, b, style), String(a * b));
  },
  verify(problem: TaskInstance | string, completion: string): Verdict {
    const [a, b] = parsePrompt(promptOf(problem));
    return verifyInteger(completion, a * b);
  },
  canonicalProblem(prompt: string): string {
    const [a, b] = parsePrompt(prompt);
    return a <= b ? `${a}*${b}` : `${b}*${a}`;
  },
};
