/**
 * The reasoning tasks and a training corpus built from them. Pure TypeScript, no GPU; deterministic per seed.
 * Training examples come from the 'train' side of the held-out split (split.ts) only, so no evaluation problem
 * is ever in a training text.
 */
import { Rng } from '../../lib/rng';
import { ADDITION } from './addition';
import { COUNTDOWN } from './countdown';
import { MULTIPLICATION } from './multiplication';
import { drawProblem } from './split';
import type { Task, TaskInstance, ThinkingStyle } from './task';

export * from './task';
export { HELD_OUT_FRACTION, canonicalProblem, drawProblem, isHeldOut, type ProblemSplit } from './split';
export { ADDITION, additionColumns, additionThinking, checkAdditionThinking, type AdditionColumn, type ColumnCheck } from './addition';
export { MULTIPLICATION, multiplicationThinking, partialProducts, type PartialProduct } from './multiplication';
export {
  COUNTDOWN,
  MAX_FAILED_ATTEMPTS,
  countdownProblem,
  evaluateExpression,
  stepsToExpression,
  verifyCountdown,
  type CountdownProblem,
  type CountdownStep,
} from './countdown';

/** Every task, in display order. */
export const TASKS: readonly Task[] = [ADDITION, MULTIPLICATION, COUNTDOWN];

export function findTask(id: string): Task | undefined {
  return TASKS.find((t) => t.id === id);
}

export interface ReasoningCorpusOptions {
  /** Task ids; default all. Each example picks one uniformly. */
  tasks?: readonly string[];
  /** A level, or levels to draw uniformly per example; each must be offered by every chosen task. Default [1, 2, 3]. */
  difficulty?: number | readonly number[];
  /** Number of examples; default 4000. */
  examples?: number;
  /**
   * 'full': every example shows the whole worked thinking. 'mixed' (default): half full, a quarter short, a quarter
   * with empty thinking, so one model learns to answer at several thinking lengths (budget forcing then has
   * something to scale between).
   */
  thinking?: 'full' | 'mixed';
  seed?: number;
}

const MAX_EXAMPLES = 1_000_000;

/** The examples of a reasoning corpus, in order. */
export function reasoningExamples(options: ReasoningCorpusOptions = {}): TaskInstance[] {
  const out: TaskInstance[] = [];
  forEachExample(options, (e) => out.push(e));
  return out;
}

/** A training text: the examples' texts back to back, each ending with `<|endoftext|>`. */
export function reasoningCorpus(options: ReasoningCorpusOptions = {}): string {
  const texts: string[] = [];
  forEachExample(options, (e) => texts.push(e.text));
  return texts.join('');
}

function forEachExample(options: ReasoningCorpusOptions, use: (e: TaskInstance) => void): void {
  const ids = options.tasks ?? TASKS.map((t) => t.id);
  if (ids.length === 0) throw new RangeError('reasoning corpus: tasks is empty; name at least one task');
  const tasks = ids.map((id) => {
    const t = findTask(id);
    if (!t) throw new RangeError(`reasoning corpus: unknown task '${id}'; known tasks: ${TASKS.map((k) => k.id).join(', ')}`);
    return t;
  });
  const levels = typeof options.difficulty === 'number' ? [options.difficulty] : [...(options.difficulty ?? [1, 2, 3])];
  if (levels.length === 0) throw new RangeError('reasoning corpus: difficulty is empty; give a level such as 1');
  for (const t of tasks) {
    for (const d of levels) {
      if (!t.difficulties.includes(d)) throw new RangeError(`reasoning corpus: task '${t.id}' has no difficulty ${d}; it offers ${t.difficulties.join(', ')}`);
    }
  }
  const count = options.examples ?? 4000;
  if (!Number.isInteger(count) || count < 1 || count > MAX_EXAMPLES) {
    throw new RangeError(`reasoning corpus: examples must be an integer from 1 to ${MAX_EXAMPLES}, got ${count}`);
  }
  const mode = options.thinking ?? 'mixed';
  if (mode !== 'full' && mode !== 'mixed') throw new RangeError(`reasoning corpus: thinking must be 'full' or 'mixed', got ${JSON.stringify(mode)}`);
  const rng = new Rng(options.seed ?? 1);
  for (let i = 0; i < count; i++) {
    const task = rng.pick(tasks);
    const difficulty = rng.pick(levels);
    let style: ThinkingStyle = 'full';
    if (mode === 'mixed') {
      const u = rng.nextInt(4);
      style = u < 2 ? 'full' : u === 2 ? 'short' : 'none';
    }
    use(drawProblem(task, rng, difficulty, 'train', style));
  }
}
