/**
 * Budget forcing (s1, Muennighoff et al. 2025) at the token level: a pure state machine a decode loop consults once
 * per step per sequence. It never touches the GPU; the loop asks `action(seq)`, samples or forces accordingly, and
 * reports the token with `push(seq, id)`, writing the id `push` returns.
 *
 *   cap     after B generated thinking tokens, force `</think>` (then optionally a fixed answer prefix)
 *   extend  when the model ends thinking before M thinking tokens (or before `forceExtensions` suppressions), drop
 *           its `</think>` and force a continuation such as the ids of "Wait" instead, one token per step
 *           ('replace', as s1 does); or ban `</think>` from sampling until M is reached ('ban')
 *   answer  after `</think>`, at most A answer tokens, then force end of text
 *   stop    at end of text (sampled or forced), in any phase
 *
 * Counting: thinking tokens are the generated tokens between `<think>` and `</think>`, forced continuations
 * included; answer tokens are those after `</think>`, the end of text excluded.
 */
import { END_OF_TEXT_ID, END_THINK_ID, THINK_ID } from '../data/specials';

/** What the decode loop does for a sequence at this step. */
export type BudgetAction =
  /** Sample normally; never emit `ban` when it is given (mask its logit). */
  | { kind: 'free'; ban?: number }
  /** Emit exactly this id; its log-probability is not the model's choice. */
  | { kind: 'force'; id: number }
  /** The sequence is finished; generate nothing more for it. */
  | { kind: 'stop' };

/** Before `<think>` (prompt without one), inside thinking, after `</think>`, finished. */
export type BudgetPhase = 'before' | 'thinking' | 'answer' | 'done';

export interface BudgetOptions {
  /** B: the most thinking tokens; then `</think>` is forced. Default Infinity. */
  maxThinkingTokens?: number;
  /** M: the fewest thinking tokens; an earlier `</think>` is suppressed. Default 0. */
  minThinkingTokens?: number;
  /** Suppress the model's first n attempts to end thinking whatever its length (s1's "Wait" n times). Default 0. */
  forceExtensions?: number;
  /** 'replace' (default): swap an early `</think>` for the continuation. 'ban': mask `</think>` until M is reached. */
  extendBy?: 'replace' | 'ban';
  /** Token ids forced in place of a suppressed `</think>` (e.g. the tokenizer's ids of "Wait"). */
  continuation?: readonly number[];
  /** Token ids forced right after a `</think>` forced by the cap (e.g. a task's answer lead-in). Default none. */
  afterForcedEnd?: readonly number[];
  /** A: the most answer tokens after `</think>`; then end of text is forced. Default Infinity. */
  maxAnswerTokens?: number;
  thinkId?: number;
  endThinkId?: number;
  endOfTextId?: number;
}

/** Where one sequence stands. */
export interface BudgetSequenceState {
  phase: BudgetPhase;
  thinkingTokens: number;
  answerTokens: number;
  /** Times an early `</think>` was replaced by the continuation. */
  extensions: number;
  /** Whether the cap ended thinking. */
  capped: boolean;
  /** Tokens written that the model did not choose (forced or replaced). */
  forcedTokens: number;
  /** Ids still to be forced (rest of a continuation or of the answer lead-in). */
  pending: number[];
}

type Source = 'stop' | 'cap-thinking' | 'cap-answer' | 'pending' | 'free';

export class BudgetForcer {
  private readonly B: number;
  private readonly M: number;
  private readonly extensionsWanted: number;
  private readonly mode: 'replace' | 'ban';
  private readonly continuation: readonly number[];
  private readonly afterForcedEnd: readonly number[];
  private readonly A: number;
  private readonly think: number;
  private readonly endThink: number;
  private readonly eot: number;
  private readonly states: BudgetSequenceState[];

  /** One sequence per prompt; each starts in the phase its prompt leaves it in (after `<think>`: thinking). */
  constructor(prompts: readonly ArrayLike<number>[], options: BudgetOptions = {}) {
    const count = (name: string, v: number | undefined, dflt: number): number => {
      const x = v ?? dflt;
      if (!(x === Infinity || (Number.isInteger(x) && x >= 0))) throw new RangeError(`budget: ${name} must be a non-negative integer or Infinity, got ${x}`);
      return x;
    };
    this.B = count('maxThinkingTokens', options.maxThinkingTokens, Infinity);
    this.M = count('minThinkingTokens', options.minThinkingTokens, 0);
    this.extensionsWanted = count('forceExtensions', options.forceExtensions, 0);
    this.A = count('maxAnswerTokens', options.maxAnswerTokens, Infinity);
    if (this.M === Infinity) throw new RangeError('budget: minThinkingTokens must be finite (thinking would never end)');
    if (this.M > this.B) {
      throw new RangeError(`budget: minThinkingTokens ${this.M} exceeds maxThinkingTokens ${this.B}; the cap would end thinking before the minimum`);
    }
    this.mode = options.extendBy ?? 'replace';
    if (this.mode !== 'replace' && this.mode !== 'ban') throw new RangeError(`budget: extendBy must be 'replace' or 'ban', got ${JSON.stringify(this.mode)}`);
    this.think = options.thinkId ?? THINK_ID;
    this.endThink = options.endThinkId ?? END_THINK_ID;
    this.eot = options.endOfTextId ?? END_OF_TEXT_ID;
    const specials = [this.think, this.endThink, this.eot];
    const ids = (name: string, list: readonly number[] | undefined): readonly number[] => {
      for (const id of list ?? []) {
        if (!Number.isInteger(id) || id < 0) throw new RangeError(`budget: ${name} holds ${id}, not a token id`);
        if (specials.includes(id)) throw new RangeError(`budget: ${name} must not hold <think>, </think> or end of text (id ${id})`);
      }
      return [...(list ?? [])];
    };
    this.continuation = ids('continuation', options.continuation);
    this.afterForcedEnd = ids('afterForcedEnd', options.afterForcedEnd);
    if (this.mode === 'replace' && (this.M > 0 || this.extensionsWanted > 0) && this.continuation.length === 0) {
      throw new RangeError("budget: extending thinking by 'replace' needs a continuation, e.g. the token ids of 'Wait'");
    }
    if (this.mode === 'ban' && this.extensionsWanted > 0) {
      throw new RangeError("budget: forceExtensions counts replaced ends of thinking; use extendBy 'replace' with it");
    }
    this.states = prompts.map((p) => ({
      phase: phaseAfterPrompt(p, this.think, this.endThink),
      thinkingTokens: 0,
      answerTokens: 0,
      extensions: 0,
      capped: false,
      forcedTokens: 0,
      pending: [],
    }));
  }

  get size(): number {
    return this.states.length;
  }

  /** What to do for sequence `seq` at this step. */
  action(seq: number): BudgetAction {
    return this.decide(this.at(seq)).action;
  }

  actions(): BudgetAction[] {
    return this.states.map((s) => this.decide(s).action);
  }

  /**
   * Records the token the loop produced for `seq`: the forced id after a 'force', else what the sampler drew.
   * Returns the id to write into the sequence: the same, except when the model ended thinking too early, where it
   * is the first continuation token (treat it as forced: its log-probability is not the model's).
   */
  push(seq: number, id: number): number {
    const s = this.at(seq);
    const { action, source } = this.decide(s);
    if (action.kind === 'stop') throw new RangeError(`budget: sequence ${seq} is finished (end of text); push nothing more for it`);
    if (action.kind === 'force' && id !== action.id) throw new RangeError(`budget: sequence ${seq} had to take forced id ${action.id}, got ${id}`);
    if (action.kind === 'free' && action.ban === id) throw new RangeError(`budget: sequence ${seq} sampled banned id ${id}; mask it in the sampler`);
    if (source === 'cap-thinking') {
      s.capped = true;
      s.pending = [...this.afterForcedEnd];
    } else if (source === 'cap-answer') {
      s.pending = [];
    } else if (source === 'pending') {
      s.pending.shift();
    }
    if (action.kind === 'force') s.forcedTokens++;
    if (source === 'free' && s.phase === 'thinking' && id === this.endThink && this.mustExtend(s)) {
      // Suppressed: the continuation goes where the model wanted to stop.
      s.extensions++;
      s.forcedTokens++;
      s.pending = this.continuation.slice(1);
      s.thinkingTokens++;
      return this.continuation[0];
    }
    this.advance(s, id);
    return id;
  }

  /** push for every sequence; `ids[i]` is ignored for finished sequences. */
  pushAll(ids: ArrayLike<number>): number[] {
    if (ids.length !== this.states.length) throw new RangeError(`budget: pushAll needs ${this.states.length} ids, got ${ids.length}`);
    return this.states.map((s, i) => (s.phase === 'done' ? ids[i] : this.push(i, ids[i])));
  }

  state(seq: number): BudgetSequenceState {
    const s = this.at(seq);
    return { ...s, pending: [...s.pending] };
  }

  done(seq: number): boolean {
    return this.at(seq).phase === 'done';
  }

  allDone(): boolean {
    return this.states.every((s) => s.phase === 'done');
  }

  private at(seq: number): BudgetSequenceState {
    const s = this.states[seq];
    if (!s) throw new RangeError(`budget: no sequence ${seq} (there are ${this.states.length})`);
    return s;
  }

  private mustExtend(s: BudgetSequenceState): boolean {
    return s.thinkingTokens < this.M || s.extensions < this.extensionsWanted;
  }

  private decide(s: BudgetSequenceState): { action: BudgetAction; source: Source } {
    if (s.phase === 'done') return { action: { kind: 'stop' }, source: 'stop' };
    // The caps come first: they cut a pending continuation or lead-in short.
    if (s.phase === 'thinking' && s.thinkingTokens >= this.B) return { action: { kind: 'force', id: this.endThink }, source: 'cap-thinking' };
    if (s.phase === 'answer' && s.answerTokens >= this.A) return { action: { kind: 'force', id: this.eot }, source: 'cap-answer' };
    if (s.pending.length > 0) return { action: { kind: 'force', id: s.pending[0] }, source: 'pending' };
    if (s.phase === 'thinking' && this.mode === 'ban' && s.thinkingTokens < this.M) {
      return { action: { kind: 'free', ban: this.endThink }, source: 'free' };
    }
    return { action: { kind: 'free' }, source: 'free' };
  }

  private advance(s: BudgetSequenceState, id: number): void {
    if (id === this.eot) {
      s.phase = 'done';
      s.pending = [];
    } else if (s.phase === 'before') {
      if (id === this.think) s.phase = 'thinking';
    } else if (s.phase === 'thinking') {
      if (id === this.endThink) s.phase = 'answer';
      else s.thinkingTokens++;
    } else if (s.phase === 'answer') {
      s.answerTokens++;
    }
  }
}

/** The phase a prompt leaves a sequence in: its last `<think>` or `</think>` decides (end-of-text tokens in it do not). */
export function phaseAfterPrompt(prompt: ArrayLike<number>, thinkId = THINK_ID, endThinkId = END_THINK_ID): BudgetPhase {
  for (let i = prompt.length - 1; i >= 0; i--) {
    if (prompt[i] === thinkId) return 'thinking';
    if (prompt[i] === endThinkId) return 'answer';
  }
  return 'before';
}
