/**
 * The held-out split: a fixed fifth of every task's problems is kept for evaluation, and training text never
 * contains one. A problem's side is a pure function of the problem itself (a hash of its canonical form: operands
 * of + and * sorted, countdown numbers sorted), so it is the same at every difficulty, seed, thinking style and
 * corpus size, and `12+34=` goes with `34+12=`. Training corpora draw from the 'train' side, test-time sweeps from
 * the 'eval' side, both by rejection, which keeps each side's distribution the task generator's, conditioned.
 *
 * Problem spaces (counted in tests/unit/tasks-split.test.ts): the smallest are multiplication level 1 (720
 * problems: 2-digit × 2..9) and countdown level 1 (about 1,850 distinct prompts); addition level 1 has 4,095
 * problems up to order; the rest have tens of thousands or more. A fifth held out leaves each side hundreds at least.
 *
 * Changing SPLIT_SALT or HELD_OUT_FRACTION moves problems between the sides: checkpoints trained before would then
 * be scored on problems they saw. Don't.
 */
import type { Rng } from '../../lib/rng';
import type { Task, TaskInstance, ThinkingStyle } from './task';
import { hash32 } from '../../lib/hash';

/** Share of each task's problems held out for evaluation. */
export const HELD_OUT_FRACTION = 0.2;
/** Part of every hashed key: names the split's version. */
const SPLIT_SALT = 'spark-lab held-out v1';
/** Draws before giving up on a side (at a fifth held out, 200 draws miss it with probability 0.8^200). */
const MAX_DRAWS = 10_000;

export type ProblemSplit = 'train' | 'eval';

/** The problem a prompt states, in the form the split hashes (the prompt itself for tasks without a canonical form). */
export function canonicalProblem(task: Task, prompt: string): string {
  return task.canonicalProblem ? task.canonicalProblem(prompt) : prompt.trim();
}

/** True when the problem belongs to the evaluation side: training text never contains it. */
export function isHeldOut(task: Task, prompt: string): boolean {
  return hash32(`${SPLIT_SALT}|${task.id}|${canonicalProblem(task, prompt)}`) < HELD_OUT_FRACTION * 2 ** 32;
}

/** A problem from one side of the split: the task generator's draws, those of the other side rejected. */
export function drawProblem(task: Task, rng: Rng, difficulty: number, split: ProblemSplit, style: ThinkingStyle = 'full'): TaskInstance {
  const wantHeldOut = split === 'eval';
  for (let i = 0; i < MAX_DRAWS; i++) {
    const p = task.generate(rng, difficulty, style);
    if (isHeldOut(task, p.prompt) === wantHeldOut) return p;
  }
  throw new Error(`${task.id}: no ${split} problem at difficulty ${difficulty} in ${MAX_DRAWS} draws; the split leaves this level's ${split} side empty`);
}
