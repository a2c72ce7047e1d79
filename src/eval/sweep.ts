/**
 * Test-time scaling sweeps: spend more compute at inference and measure accuracy on a generated task.
 *
 *  - best-of-N: for each N, sample N completions of every problem in one batch and pick one by each rule
 *    (oracle = pass@N, mean log-prob, majority vote, confidence-weighted vote); these run without forcing, so the
 *    decode loop stays on the GPU (thinking is bounded by maxThinkingTokens + maxAnswerTokens tokens in all);
 *  - thinking budget: cap the thinking at B tokens (force `</think>`), or extend it to at least M tokens
 *    (suppress an early `</think>` and force the task's continuation), one sample per problem;
 *  - contemplating mode: M parallel reasoners in one batch, then an aggregator: a confidence-weighted vote, or
 *    the model itself prompted with the candidates writing a final answer.
 *
 * Problems come from the task's held-out side (src/data/tasks/split.ts), which no training corpus contains, drawn
 * independently (so a small level may repeat one). Every point carries accuracy with a Wilson interval, the tokens
 * generated (test-time compute) and wall time, so strategies compare at equal compute. The sampler is an interface:
 * the GPU BatchSampler in the engine, a scripted fake in unit tests.
 */
import { END_OF_TEXT_ID } from '../data/specials';
import { drawProblem, findTask, generationPrompt, verifySampled, type Task, type TaskInstance } from '../data/tasks';
import type { Tokenizer } from '../data/tokenizer';
import { Rng } from '../lib/rng';
import type { BatchSampleOptions, BatchSampleResult, FitCheck } from './batch-sample';
import { accuracy, defaultKs, passAtKCurve } from './passk';
import { meanLogprob, select, weightedVote, SELECTION_RULES, type Sample, type SelectionRule } from './select';

export interface SequenceSampler {
  sample(prompts: readonly Uint32Array[], opts: BatchSampleOptions): Promise<BatchSampleResult>;
  /** Throws LimitExceededError naming `fit.field` when S sequences with P-token prompts cannot be decoded (BatchSampler). */
  checkFits?(sequences: number, promptTokens: number, fit: FitCheck): unknown;
}

export interface SweepOptions {
  /** Refuse a sweep whose largest batch would allocate more than this for decoding (bytes). */
  memoryBudgetBytes?: number;
}

export interface SweepConfig {
  task: string;
  difficulty: number;
  /** Problems drawn (seeded) per point. */
  problems: number;
  /** N values of the best-of-N sweep. */
  ns: number[];
  /** Thinking caps B (one sample per problem). */
  budgets: number[];
  /** Minimum thinking M of the extend direction (one sample per problem); empty for none. */
  extends: number[];
  /** Parallel reasoners of the contemplating mode; 0 for none. */
  reasoners: number;
  maxThinkingTokens: number;
  maxAnswerTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  seed: number;
}

export type Strategy = SelectionRule | 'budget-cap' | 'budget-extend' | 'contemplate-vote' | 'contemplate-write';

export interface SweepPoint {
  strategy: Strategy;
  /** Samples per problem. */
  n: number;
  /** Thinking cap (budget-cap) or minimum (budget-extend). */
  budget?: number;
  accuracy: number;
  low: number;
  high: number;
  correct: number;
  total: number;
  /** Tokens generated for this point, all problems (for selection rules: the N-sample batch they share). */
  tokens: number;
  /** Wall time of the batch (ms). */
  ms: number;
}

export interface SweepSample {
  strategy: Strategy;
  n: number;
  budget?: number;
  problem: string;
  /** The sampled text after `<think>`: thinking, `</think>`, answer. */
  completion: string;
  answer: string | null;
  correct: boolean;
  meanLogprob: number;
  /** Chosen by the strategy's rule (best-of-N), else undefined. */
  chosen?: Partial<Record<SelectionRule, boolean>>;
}

export type SweepEvent =
  | { kind: 'point'; point: SweepPoint }
  | { kind: 'samples'; samples: SweepSample[] }
  | { kind: 'progress'; done: number; total: number; label: string }
  | { kind: 'pass-at-k'; n: number; curve: { k: number; passAtK: number }[] };

export function sweepTotal(c: SweepConfig): number {
  return c.ns.length + c.budgets.length + c.extends.length + (c.reasoners > 0 ? 2 : 0);
}

export async function* runSweep(sampler: SequenceSampler, tokenizer: Tokenizer, c: SweepConfig, opts: SweepOptions = {}): AsyncGenerator<SweepEvent> {
  const task = findTask(c.task);
  if (!task) throw new RangeError(`sweep: unknown task '${c.task}'`);
  const rng = new Rng(c.seed);
  // Held-out problems only: no training corpus contains them (src/data/tasks/split.ts).
  const problems: TaskInstance[] = Array.from({ length: c.problems }, () => drawProblem(task, rng, c.difficulty, 'eval'));
  const prompts = problems.map((p) => Uint32Array.from(tokenizer.encode(generationPrompt(p))));
  // The largest batch, checked before any decoding (each batch is checked again as it is made).
  const widest = Math.max(1, ...c.ns, c.reasoners);
  sampler.checkFits?.(c.problems * widest, Math.max(...prompts.map((p) => p.length)), {
    budgetBytes: opts.memoryBudgetBytes, field: 'sweep.problems', what: `${c.problems} problems × ${widest} samples`, advice: 'fewer problems or a smaller N',
  });
  const total = sweepTotal(c);
  let done = 0;
  const base: Omit<BatchSampleOptions, 'samplesPerPrompt'> = {
    maxTokens: c.maxThinkingTokens + c.maxAnswerTokens + 2, temperature: c.temperature, topK: c.topK, topP: c.topP,
    seed: c.seed, padId: END_OF_TEXT_ID, stopId: END_OF_TEXT_ID, memoryBudgetBytes: opts.memoryBudgetBytes,
  };
  const score = (r: BatchSampleResult, n: number) => scoreBatch(task, tokenizer, problems, r, n);

  for (const n of c.ns) {
    yield { kind: 'progress', done, total, label: `best-of-${n}` };
    const r = await sampler.sample(prompts, { ...base, samplesPerPrompt: n });
    const groups = score(r, n);
    const samples: SweepSample[] = [];
    for (const rule of SELECTION_RULES) {
      const picks = groups.map((g) => select(rule, g.samples));
      yield { kind: 'point', point: { strategy: rule, n, ...interval(picks.map((p) => p.correct === true)), tokens: r.generatedTokens, ms: r.ms } };
      groups.forEach((g, i) => g.views.forEach((v, j) => ((v.chosen ??= {})[rule] = picks[i].index === j)));
    }
    for (const g of groups) samples.push(...g.views.map((v) => ({ ...v, strategy: 'oracle' as Strategy, n })));
    yield { kind: 'samples', samples };
    yield { kind: 'pass-at-k', n, curve: passCurve(groups, n) };
    done++;
  }

  for (const [strategy, list] of [['budget-cap', c.budgets], ['budget-extend', c.extends]] as const) {
    for (const b of list) {
      yield { kind: 'progress', done, total, label: `${strategy} ${b}` };
      const budget = strategy === 'budget-cap'
        ? { maxThinkingTokens: b, maxAnswerTokens: c.maxAnswerTokens }
        : { maxThinkingTokens: Math.max(c.maxThinkingTokens, b + 8), minThinkingTokens: b, continuation: Array.from(tokenizer.encode(task.continuation ?? 'Wait')), maxAnswerTokens: c.maxAnswerTokens };
      const maxTokens = budget.maxThinkingTokens + c.maxAnswerTokens + 2;
      const r = await sampler.sample(prompts, { ...base, maxTokens, budget, samplesPerPrompt: 1 });
      const groups = score(r, 1);
      yield { kind: 'point', point: { strategy, n: 1, budget: b, ...interval(groups.map((g) => g.samples[0].correct === true)), tokens: r.generatedTokens, ms: r.ms } };
      yield { kind: 'samples', samples: groups.map((g) => ({ ...g.views[0], strategy, n: 1, budget: b })) };
      done++;
    }
  }

  if (c.reasoners > 0) {
    const M = c.reasoners;
    yield { kind: 'progress', done, total, label: `contemplating, ${M} reasoners` };
    const r = await sampler.sample(prompts, { ...base, samplesPerPrompt: M });
    const groups = score(r, M);
    const votes = groups.map((g) => weightedVote(g.samples));
    yield { kind: 'point', point: { strategy: 'contemplate-vote', n: M, ...interval(votes.map((v) => v.correct === true)), tokens: r.generatedTokens, ms: r.ms } };
    done++;
    yield { kind: 'progress', done, total, label: 'contemplating, aggregator writes the answer' };
    // The aggregator sees the question and the reasoners' distinct answers as its thinking, then answers.
    const aggPrompts = problems.map((p, i) => {
      const cands = [...new Set(groups[i].samples.map((s) => s.answer).filter((a): a is string => a !== null))];
      return Uint32Array.from(tokenizer.encode(`${generationPrompt(p)}${cands.join(',')}</think>`));
    });
    const agg = await sampler.sample(aggPrompts, { ...base, maxTokens: c.maxAnswerTokens + 1, temperature: 0, samplesPerPrompt: 1 });
    // its completion starts after `</think>`: an answer only
    const written = agg.sequences.map((s, i) => task.verify(problems[i], tokenizer.decode(s.tokens)));
    yield {
      kind: 'point',
      point: { strategy: 'contemplate-write', n: M, ...interval(written.map((w) => w.correct)), tokens: r.generatedTokens + agg.generatedTokens, ms: r.ms + agg.ms },
    };
    yield { kind: 'samples', samples: groups.flatMap((g) => g.views.map((v) => ({ ...v, strategy: 'contemplate-vote' as Strategy, n: M }))) };
    done++;
  }
  yield { kind: 'progress', done, total, label: 'done' };
}

interface Group {
  samples: Sample[];
  views: Omit<SweepSample, 'strategy' | 'n'>[];
}

function scoreBatch(task: Task, tokenizer: Tokenizer, problems: TaskInstance[], r: BatchSampleResult, n: number): Group[] {
  const groups: Group[] = problems.map(() => ({ samples: [], views: [] }));
  for (const s of r.sequences) {
    const completion = tokenizer.decode(s.tokens);
    const v = verifySampled(task, problems[s.prompt], completion);
    const lp = meanLogprob(s.logprobs);
    groups[s.prompt].samples.push({ answer: v.answer, meanLogprob: lp, correct: v.correct });
    groups[s.prompt].views.push({ problem: problems[s.prompt].prompt, completion, answer: v.answer, correct: v.correct, meanLogprob: lp });
  }
  for (const g of groups) if (g.samples.length !== n) throw new Error(`sweep: expected ${n} samples per problem, got ${g.samples.length}`);
  return groups;
}

function interval(correct: boolean[]): Pick<SweepPoint, 'accuracy' | 'low' | 'high' | 'correct' | 'total'> {
  const a = accuracy(correct);
  return { accuracy: a.estimate, low: a.low, high: a.high, correct: a.correct, total: a.total };
}

function passCurve(groups: Group[], n: number): { k: number; passAtK: number }[] {
  return passAtKCurve(groups.map((g) => ({ n, c: g.samples.filter((s) => s.correct).length })), defaultKs(n));
}
