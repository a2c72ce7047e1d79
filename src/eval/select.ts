/**
 * Best-of-N: rules that pick one answer from N sampled completions of one prompt. They are what "contemplating
 * mode" aggregates with, and what a test-time scaling chart compares:
 *   oracle    the verifier picks any correct sample: accuracy equals pass@N, the ceiling for every other rule
 *   logprob   the sample the model was most sure of (highest mean token log-probability)
 *   majority  the most common final answer (self-consistency)
 *   weighted  the answer with the most confidence mass, each sample weighing exp(mean log-probability)
 *
 * Deterministic tie rule (all rules): among equally good candidates, the one seen first in sample order wins. Sample
 * order is the seeded sampling order, so the same seed picks the same answer.
 */

/** One scored completion of a prompt. */
export interface Sample {
  /** The normalised final answer (a task verifier's `answer`), or null when the completion gave none. */
  answer: string | null;
  /** Mean log-probability of the sampled tokens; -Infinity or NaN when unknown. */
  meanLogprob: number;
  /** The verifier's verdict, when known (the oracle needs it; the other rules only report it). */
  correct?: boolean;
}

export type SelectionRule = 'oracle' | 'logprob' | 'majority' | 'weighted';
export const SELECTION_RULES: readonly SelectionRule[] = ['oracle', 'logprob', 'majority', 'weighted'];

export interface Selection {
  rule: SelectionRule;
  /** Index of the chosen sample (for votes, the first sample giving the winning answer); -1 when none was chosen. */
  index: number;
  answer: string | null;
  /** The chosen sample's verdict (undefined when samples carry none). */
  correct: boolean | undefined;
  /** Votes (majority) or summed weight (weighted) of the winning answer, out of `total`. */
  support?: number;
  total?: number;
}

/**
 * Mean of token log-probabilities, skipping NaN entries: a decode loop passes NaN for tokens it forced (budget
 * forcing), which the model did not choose. -Infinity when nothing is left.
 */
export function meanLogprob(logprobs: ArrayLike<number>): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < logprobs.length; i++) {
    const x = logprobs[i];
    if (Number.isNaN(x)) continue;
    sum += x;
    count++;
  }
  return count === 0 ? -Infinity : sum / count;
}

const score = (x: number): number => (Number.isNaN(x) ? -Infinity : x);

function pick(rule: SelectionRule, samples: readonly Sample[], index: number, extra: Partial<Selection> = {}): Selection {
  const s = samples[index];
  // Nothing chosen (no sample gave an answer) scores as wrong wherever verdicts are known.
  const correct = s ? s.correct : samples.some((x) => x.correct !== undefined) ? false : undefined;
  return { rule, index, answer: s ? s.answer : null, correct, ...extra };
}

/** The first correct sample, else the first sample (so the rule is scored wrong, not skipped); needs `correct`. */
export function selectOracle(samples: readonly Sample[]): Selection {
  if (samples.length === 0) return pick('oracle', samples, -1);
  for (const s of samples) {
    if (s.correct === undefined) throw new TypeError('selectOracle: every sample needs its verdict (correct) for the oracle');
  }
  const i = samples.findIndex((s) => s.correct);
  return pick('oracle', samples, i >= 0 ? i : 0);
}

/**
 * The sample with the highest mean log-probability among those that gave an answer (a sure-of-itself completion
 * with no answer is no use); among all samples if none did. Ties: the first.
 */
export function selectByLogprob(samples: readonly Sample[]): Selection {
  const answered = samples.some((s) => s.answer !== null);
  let best = -1;
  for (let i = 0; i < samples.length; i++) {
    if (answered && samples[i].answer === null) continue;
    if (best < 0 || score(samples[i].meanLogprob) > score(samples[best].meanLogprob)) best = i;
  }
  return pick('logprob', samples, best);
}

/**
 * Sums a weight per distinct answer (samples without an answer do not vote) and returns the heaviest; ties go to
 * the answer whose first sample comes first. -1 when nothing voted.
 */
function vote(samples: readonly Sample[], weight: (s: Sample) => number): { index: number; support: number; total: number } {
  const tally = new Map<string, { first: number; support: number }>();
  let total = 0;
  samples.forEach((s, i) => {
    if (s.answer === null) return;
    const w = weight(s);
    total += w;
    const t = tally.get(s.answer);
    if (t) t.support += w;
    else tally.set(s.answer, { first: i, support: w });
  });
  let index = -1;
  let support = -Infinity;
  // Map iteration follows first-insertion order, so a strict > keeps the earliest of tied answers.
  for (const t of tally.values()) {
    if (t.support > support) {
      support = t.support;
      index = t.first;
    }
  }
  return { index, support: index < 0 ? 0 : support, total };
}

/** Self-consistency: the most frequent normalised answer; ties go to the answer that appeared first. */
export function majorityVote(samples: readonly Sample[]): Selection {
  const v = vote(samples, () => 1);
  return pick('majority', samples, v.index, { support: v.support, total: v.total });
}

/** Default vote weight: the sample's geometric-mean token probability, in (0, 1]; 0 when unknown. */
export function confidenceWeight(s: Sample): number {
  const w = Math.exp(score(s.meanLogprob));
  return Number.isFinite(w) ? w : 0;
}

/**
 * Confidence-weighted vote: each answer scores the sum of its samples' weights (default exp(mean log-prob)).
 * Ties go to the answer that appeared first.
 */
export function weightedVote(samples: readonly Sample[], weight: (s: Sample) => number = confidenceWeight): Selection {
  const v = vote(samples, (s) => {
    const w = weight(s);
    if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`weightedVote: weights must be finite and >= 0, got ${w}`);
    return w;
  });
  return pick('weighted', samples, v.index, { support: v.support, total: v.total });
}

export function select(rule: SelectionRule, samples: readonly Sample[]): Selection {
  switch (rule) {
    case 'oracle':
      return selectOracle(samples);
    case 'logprob':
      return selectByLogprob(samples);
    case 'majority':
      return majorityVote(samples);
    case 'weighted':
      return weightedVote(samples);
    default:
      throw new TypeError(`unknown selection rule ${JSON.stringify(rule)}; use one of ${SELECTION_RULES.join(', ')}`);
  }
}

/** Every rule over the same samples (the oracle only when all samples carry a verdict). */
export function selectAll(samples: readonly Sample[]): Partial<Record<SelectionRule, Selection>> {
  const out: Partial<Record<SelectionRule, Selection>> = {};
  for (const rule of SELECTION_RULES) {
    if (rule === 'oracle' && samples.some((s) => s.correct === undefined)) continue;
    out[rule] = select(rule, samples);
  }
  return out;
}
