/**
 * A recipe's runs and their lower envelope in (FLOPs, loss): the compute-efficient frontier that the power law
 * L(C) is fitted to (Hoffmann et al. 2022, approach 1).
 */
import { checkComputeLoss, ScalingFitError, type ComputeLoss } from './fit';

/** One training run's validation curve; `seed` groups runs for the bootstrap's stratified resampling. */
export interface Run {
  id?: string;
  seed?: number;
  points: readonly ComputeLoss[];
}

/** A frontier point and where it came from: `run` indexes the runs given, `point` that run's points. */
export interface EnvelopePoint extends ComputeLoss {
  run: number;
  point: number;
}

/**
 * The points that no other point beats: a point is dropped when another has fewer or equal FLOPs and a lower or
 * equal loss (of exact duplicates the first run's is kept). The result is sorted by FLOPs, which rise strictly
 * while the loss falls strictly.
 */
export function lowerEnvelope(runs: readonly Run[]): EnvelopePoint[] {
  if (runs.length === 0) throw new ScalingFitError('too-few-points', 'no runs given: the envelope needs at least one run with points');
  const all: EnvelopePoint[] = [];
  runs.forEach((run, r) => {
    checkComputeLoss(run.points, `runs[${r}].points`);
    run.points.forEach((p, i) => all.push({ flops: p.flops, loss: p.loss, run: r, point: i }));
  });
  all.sort((p, q) => p.flops - q.flops || p.loss - q.loss || p.run - q.run || p.point - q.point);
  const frontier: EnvelopePoint[] = [];
  let best = Infinity;
  for (const p of all) {
    // Everything before p has fewer or equal FLOPs, so p is on the frontier only if it beats all of them.
    if (p.loss < best) {
      frontier.push(p);
      best = p.loss;
    }
  }
  return frontier;
}
