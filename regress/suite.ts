/** The ordered task list of a suite, and the filters (--only, --shard) applied to it. */
import { headTasks } from './checks/heads';
import { linearTasks } from './checks/linear';
import { moeAdamwTasks } from './checks/moe-adamw';
import { pointwiseTasks } from './checks/pointwise';
import { speedTasks } from './checks/speed';
import { startupTasks } from './checks/startup';
import { trainingTasks } from './checks/training';
import breakable from './kernels.json';
import type { Suite, Task } from './types';

/** Kernel families --break can perturb (each appears in at least one correctness check of every suite). */
export const BREAKABLE: readonly string[] = breakable;

/** Every task of the suite, in a fixed order (sharding takes every n-th of this list). */
export function suiteTasks(suite: Suite): Task[] {
  return [...linearTasks(suite), ...moeAdamwTasks(suite), ...pointwiseTasks(suite), ...headTasks(suite), ...trainingTasks(suite), ...speedTasks(suite), ...startupTasks(suite)];
}

/**
 * Tasks selected by `only` (kernel families or task-id prefixes; empty = all). Throws naming a term that matches
 * nothing, so a typo does not pass as an empty, green run.
 */
export function selectTasks(tasks: Task[], only: string[]): Task[] {
  if (!only.length) return tasks;
  const matches = (t: Task, term: string) => t.kernels.includes(term) || t.id.startsWith(term);
  for (const term of only) {
    if (!tasks.some((t) => matches(t, term))) {
      const families = [...new Set(tasks.flatMap((t) => t.kernels))].join(', ');
      throw new RangeError(`--only '${term}' matches no check; kernel families: ${families}`);
    }
  }
  return tasks.filter((t) => only.some((term) => matches(t, term)));
}

/** Shard i of n (1-based): every n-th task starting at the i-th. */
export function shardTasks(tasks: Task[], shard: { index: number; count: number } | null): Task[] {
  if (!shard) return tasks;
  return tasks.filter((_, i) => i % shard.count === shard.index - 1);
}
