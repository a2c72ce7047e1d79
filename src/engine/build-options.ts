/**
 * What the engine gives createRun/loadRun besides the device: the page's memory budget (checked here, as it comes
 * from a message) and a progress callback thinned to what a progress bar needs, not one message per BPE merge.
 */
import type { BuildOptions, Emit } from './protocol';
import type { CreateProgress, RunOptions } from './run';

/** Fewest milliseconds between two reports of the same phase (a phase's first and last report always go out). */
export const PROGRESS_INTERVAL_MS = 100;

/**
 * Wraps `send` so that it gets each phase's first and last report (done = total) and at most one report every
 * `intervalMs` in between. The reports are copied: a caller may reuse or mutate its object.
 */
export function throttleProgress(send: (p: CreateProgress) => void, intervalMs = PROGRESS_INTERVAL_MS, now = () => performance.now()): (p: CreateProgress) => void {
  let phase: CreateProgress['phase'] | null = null;
  let last = -Infinity;
  return (p) => {
    const t = now();
    if (p.phase === phase && p.done < p.total && t - last < intervalMs) return;
    phase = p.phase;
    last = t;
    send({ phase: p.phase, done: p.done, total: p.total });
  };
}

/** RunOptions (less the device) for a create or load request: its checked budget, and progress as 'build-progress' events. */
export function buildRunOptions(cmd: BuildOptions & { requestId: number }, text: string | undefined, emit: Emit): Omit<RunOptions, 'gpu'> {
  const budget: unknown = cmd.memoryBudgetBytes;
  if (budget !== undefined && !(typeof budget === 'number' && Number.isFinite(budget) && budget > 0)) {
    throw new RangeError(`memoryBudgetBytes must be a positive number of bytes, got ${String(budget)}`);
  }
  const { requestId } = cmd;
  return { text, memoryBudgetBytes: budget, onProgress: throttleProgress((progress) => emit({ type: 'build-progress', requestId, progress })) };
}
