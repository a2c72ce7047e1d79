/**
 * Generated, verifiable reasoning tasks for test-time scaling experiments. Every example has one shape:
 *
 *   prompt <think> thinking </think> answer <|endoftext|>      (written without spaces around the specials)
 *
 * `<think>`, `</think>` and `<|endoftext|>` are single tokens (see specials.ts), so a decode loop can open the
 * thinking, cap it and stop by id. The prompt alone determines the problem, so a verifier needs only the prompt and
 * the model's completion.
 */
import type { Rng } from '../../lib/rng';

export const THINK_TEXT = '<think>';
export const END_THINK_TEXT = '</think>';
export const END_OF_TEXT_TEXT = '<|endoftext|>';

/** How much of the worked solution goes between `<think>` and `</think>`. */
export type ThinkingStyle = 'full' | 'short' | 'none';
export const THINKING_STYLES: readonly ThinkingStyle[] = ['full', 'short', 'none'];

export interface TaskInstance {
  taskId: string;
  difficulty: number;
  style: ThinkingStyle;
  /** The question, e.g. `347+589=`. */
  prompt: string;
  /** The worked solution between the thinking tokens (empty for style 'none'). */
  thinking: string;
  /** The reference final answer, e.g. `936`. */
  answer: string;
  /** The whole training example: prompt, thinking in its specials, answer, end of text. */
  text: string;
}

export interface Verdict {
  correct: boolean;
  /** The normalised final answer the completion gave (what a majority vote counts), or null when it gave none. */
  answer: string | null;
  /** Why it is wrong, for display; absent when correct. */
  reason?: string;
}

export interface Task {
  /** Stable identifier, stored in configs. */
  id: string;
  name: string;
  description: string;
  /** The difficulty levels offered, ascending; higher is harder. */
  difficulties: readonly number[];
  /** One line, e.g. `3-digit + 3-digit`. */
  describeDifficulty(difficulty: number): string;
  /** Text that continues thinking in this task's trace grammar, for budget forcing (default: `Wait`). */
  continuation?: string;
  /**
   * Draws a problem from the whole space. Training and evaluation draw through drawProblem (split.ts) instead, so
   * the two never share a problem.
   */
  generate(rng: Rng, difficulty: number, style?: ThinkingStyle): TaskInstance;
  /** The problem a prompt states in one form for all its spellings (e.g. operands of + sorted); default the prompt. */
  canonicalProblem?(prompt: string): string;
  /**
   * Scores a completion: the text after the prompt, `<think>` included (for text sampled after generationPrompt use
   * {@link verifySampled}); a bare answer is fine too. The final answer is read
   * after the last `</think>` and before `<|endoftext|>` or a newline; junk after it is ignored. A completion that
   * opens thinking and never closes it has no answer.
   */
  verify(problem: TaskInstance | string, completion: string): Verdict;
}

/** Joins the parts of one example. */
export function assembleExample(
  task: { id: string },
  difficulty: number,
  style: ThinkingStyle,
  prompt: string,
  thinking: string,
  answer: string,
): TaskInstance {
  const shown = style === 'none' ? '' : thinking;
  return {
    taskId: task.id,
    difficulty,
    style,
    prompt,
    thinking: shown,
    answer,
    text: prompt + THINK_TEXT + shown + END_THINK_TEXT + answer + END_OF_TEXT_TEXT,
  };
}

/**
 * What to feed a model to sample a completion: an end of text first (every training example follows one, so it
 * marks "a new example starts"), the prompt, and `<think>` to open the thinking.
 */
export function generationPrompt(problem: TaskInstance | string): string {
  return END_OF_TEXT_TEXT + promptOf(problem) + THINK_TEXT;
}

/**
 * Scores text sampled after {@link generationPrompt}: that prompt already opened thinking, so `<think>` is put back
 * in front, and a sample cut off before `</think>` has no answer (rather than its scratch work read as one).
 */
export function verifySampled(task: Task, problem: TaskInstance | string, sampled: string): Verdict {
  return task.verify(problem, THINK_TEXT + sampled);
}

export function promptOf(problem: TaskInstance | string): string {
  return typeof problem === 'string' ? problem : problem.prompt;
}

/**
 * The part of a completion that holds the final answer, trimmed; null when thinking was opened and never closed.
 * Cut at the first end of text first, so text sampled past it cannot count.
 */
export function finalAnswerText(completion: string): string | null {
  let s = completion;
  const eot = s.indexOf(END_OF_TEXT_TEXT);
  if (eot >= 0) s = s.slice(0, eot);
  const close = s.lastIndexOf(END_THINK_TEXT);
  if (close >= 0) s = s.slice(close + END_THINK_TEXT.length);
  else if (s.includes(THINK_TEXT)) return null;
  const nl = s.indexOf('\n');
  if (nl >= 0) s = s.slice(0, nl);
  return s.trim();
}

/**
 * A non-negative integer at the start of the answer text (an optional leading `=` is allowed), normalised without
 * leading zeros; null when there is none. Digits must end at a non-digit, so `936x` reads 936.
 */
export function leadingInteger(answerText: string): string | null {
  const m = /^=?\s*(\d+)/.exec(answerText);
  if (!m || m[1].length > 60) return null;
  return BigInt(m[1]).toString();
}

/** Scores an integer-answer completion against the expected value. */
export function verifyInteger(completion: string, expected: bigint): Verdict {
  const text = finalAnswerText(completion);
  if (text === null) return { correct: false, answer: null, reason: 'thinking never ended (no </think>)' };
  const answer = leadingInteger(text);
  if (answer === null) return { correct: false, answer: null, reason: `no number at the start of the answer ${JSON.stringify(text.slice(0, 40))}` };
  if (BigInt(answer) !== expected) return { correct: false, answer, reason: `answered ${answer}, expected ${expected}` };
  return { correct: true, answer };
}

export function checkDifficulty(task: Task, difficulty: number): void {
  if (!task.difficulties.includes(difficulty)) {
    throw new RangeError(`${task.id}: difficulty ${difficulty} is not offered; use one of ${task.difficulties.join(', ')}`);
  }
}

/** A uniformly drawn integer with exactly `digits` decimal digits (no leading zero). */
export function randomDigits(rng: Rng, digits: number): number {
  const lo = digits === 1 ? 0 : 10 ** (digits - 1);
  return lo + rng.nextInt(10 ** digits - lo);
}

/** Decimal digits of a non-negative integer, least significant first. */
export function digitsLsbFirst(n: number): number[] {
  return String(n).split('').reverse().map(Number);
}
