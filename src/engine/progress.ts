/** Build progress as the page needs it: a progress bar that moves, not one message per BPE merge. */
import type { CreateProgress } from './run';

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
