/** Learning-rate schedules, written as numbered steps like nanoGPT's get_lr. */

export interface ScheduleConfig {
  lr: number;
  /** Steps of linear warmup from 0 to lr. */
  warmupSteps: number;
  /** Total optimisation steps of the run. */
  totalSteps: number;
  kind: 'cosine' | 'wsd' | 'constant';
  /** The floor, as a fraction of lr. */
  minLrFraction: number;
  /** wsd only: the fraction of totalSteps spent in the final linear decay. */
  decayFraction: number;
}

/** The learning rate at optimisation step `step` (0-based). */
export function learningRate(s: ScheduleConfig, step: number): number {
  const minLr = s.lr * s.minLrFraction;
  // 1) linear warmup
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  if (s.kind === 'constant') return s.lr;
  // 2) past the end: the floor
  if (step >= s.totalSteps) return minLr;
  if (s.kind === 'cosine') {
    // 3) cosine from lr down to minLr between warmup and the end
    const ratio = (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps);
    return minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (s.lr - minLr);
  }
  // 3') warmup-stable-decay: hold lr, then decay linearly to minLr over the last decayFraction of the run
  const decaySteps = Math.max(1, Math.round(s.totalSteps * s.decayFraction));
  const decayStart = s.totalSteps - decaySteps;
  if (step < decayStart) return s.lr;
  return s.lr - ((step - decayStart + 1) / decaySteps) * (s.lr - minLr);
}
