import { describe, expect, it } from 'vitest';
import { ByteTokenizer, END_OF_TEXT_ID, END_THINK_ID, THINK_ID } from '../../src/data/tokenizer';
import { BudgetForcer, phaseAfterPrompt, type BudgetAction, type BudgetOptions } from '../../src/eval/budget';

const tok = new ByteTokenizer();
const ids = (text: string): number[] => Array.from(tok.encode(text));
const WAIT = ids(' Wait');

/**
 * Runs one sequence against a scripted "model": at each free step it emits the script's next token (or, when that
 * token is banned, the script's `fallback`). Returns the written text and the action kinds taken.
 */
function run(script: string, options: BudgetOptions, prompt = 'Q<think>', fallback = 'x') {
  const forcer = new BudgetForcer([ids(prompt)], options);
  const model = ids(script);
  const written: number[] = [];
  const kinds: string[] = [];
  let next = 0;
  for (let step = 0; step < 500; step++) {
    const a = forcer.action(0);
    kinds.push(a.kind === 'free' && a.ban !== undefined ? 'ban' : a.kind);
    if (a.kind === 'stop') break;
    let id: number;
    if (a.kind === 'force') id = a.id;
    else {
      if (next >= model.length) throw new Error(`script ran out after ${tok.decode(written)}`);
      id = model[next] === a.ban ? ids(fallback)[0] : model[next++];
    }
    written.push(forcer.push(0, id));
  }
  return { text: tok.decode(written), kinds, state: forcer.state(0), forcer };
}

describe('budget forcing: no limits', () => {
  it('passes the model through and stops at end of text', () => {
    const r = run('abc</think>42<|endoftext|>', {});
    expect(r.text).toBe('abc</think>42<|endoftext|>');
    expect(r.kinds.every((k) => k === 'free' || k === 'stop')).toBe(true);
    expect(r.state).toMatchObject({ phase: 'done', thinkingTokens: 3, answerTokens: 2, extensions: 0, capped: false, forcedTokens: 0 });
    expect(r.forcer.action(0)).toEqual({ kind: 'stop' });
    expect(() => r.forcer.push(0, 65)).toThrow(/sequence 0 is finished/);
  });
});

describe('budget forcing: cap', () => {
  it('forces </think> after B thinking tokens', () => {
    const r = run('abcdefgh</think>7<|endoftext|>', { maxThinkingTokens: 5 }, 'Q<think>');
    // The model never got to end thinking itself; after the forced </think> its script continues from "fgh".
    expect(r.text).toBe('abcde</think>fgh</think>7<|endoftext|>');
    expect(r.kinds[5]).toBe('force');
    expect(r.state).toMatchObject({ thinkingTokens: 5, capped: true, forcedTokens: 1 });
  });

  it('with B = 0 ends thinking at once, and can force an answer lead-in one token per step', () => {
    const r = run('42<|endoftext|>', { maxThinkingTokens: 0, afterForcedEnd: ids('A:') });
    expect(r.text).toBe('</think>A:42<|endoftext|>');
    expect(r.kinds.slice(0, 4)).toEqual(['force', 'force', 'force', 'free']);
    expect(r.state).toMatchObject({ thinkingTokens: 0, answerTokens: 4, forcedTokens: 3 });
  });

  it('a model that ends thinking under the cap is left alone', () => {
    expect(run('ab</think>1<|endoftext|>', { maxThinkingTokens: 5 }).state).toMatchObject({ capped: false, thinkingTokens: 2 });
  });
});

describe('budget forcing: extend', () => {
  it('replaces an early </think> with a multi-token continuation, forced one token per step', () => {
    const r = run('ab</think>cd</think>9<|endoftext|>', { minThinkingTokens: 6, continuation: WAIT });
    expect(r.text).toBe('ab Waitcd</think>9<|endoftext|>');
    // a, b free; </think> sampled and replaced by ' '; 'W','a','i','t' forced; then free again.
    expect(r.kinds.slice(0, 8)).toEqual(['free', 'free', 'free', 'force', 'force', 'force', 'force', 'free']);
    expect(r.state).toMatchObject({ thinkingTokens: 9, extensions: 1, forcedTokens: 5 });
  });

  it('reports the replacement through push, and the pending continuation in the state', () => {
    const f = new BudgetForcer([ids('<think>')], { minThinkingTokens: 3, continuation: WAIT });
    expect(f.push(0, END_THINK_ID)).toBe(WAIT[0]);
    expect(f.state(0).pending).toEqual(WAIT.slice(1));
    expect(f.action(0)).toEqual({ kind: 'force', id: WAIT[1] });
    expect(() => f.push(0, 65)).toThrow(/had to take forced id 87, got 65/);
  });

  it('extends as often as needed to reach M', () => {
    const r = run('a</think>b</think>c</think>d</think>=<|endoftext|>', { minThinkingTokens: 14, continuation: WAIT });
    expect(r.text).toBe('a Waitb Waitc Waitd</think>=<|endoftext|>');
    expect(r.state).toMatchObject({ extensions: 3, thinkingTokens: 19 });
  });

  it('suppresses the first n ends of thinking with forceExtensions (s1 "Wait" n times)', () => {
    const r = run('abcdefgh</think>x</think>y</think>1<|endoftext|>', { forceExtensions: 2, continuation: ids('W') });
    expect(r.text).toBe('abcdefghWxWy</think>1<|endoftext|>');
    expect(r.state.extensions).toBe(2);
  });

  it("with extendBy 'ban' masks </think> until M thinking tokens", () => {
    const r = run('a</think>1<|endoftext|>', { minThinkingTokens: 3, extendBy: 'ban' }, 'Q<think>', 'z');
    // Script: 'a', then </think> is banned so the model says 'z' (twice), then </think> is allowed.
    expect(r.kinds.slice(0, 3)).toEqual(['ban', 'ban', 'ban']);
    expect(r.text).toBe('azz</think>1<|endoftext|>');
    const f = new BudgetForcer([ids('<think>')], { minThinkingTokens: 2, extendBy: 'ban' });
    expect(f.action(0)).toEqual({ kind: 'free', ban: END_THINK_ID });
    expect(() => f.push(0, END_THINK_ID)).toThrow(/sampled banned id 258; mask it in the sampler/);
  });

  it('lets the cap cut a continuation short', () => {
    const r = run('a</think>1<|endoftext|>', { minThinkingTokens: 4, maxThinkingTokens: 4, continuation: WAIT });
    expect(r.text).toBe('a Wa</think>1<|endoftext|>');
    expect(r.state).toMatchObject({ thinkingTokens: 4, capped: true, pending: [] });
  });
});

describe('budget forcing: answer and end of text', () => {
  it('caps the answer after </think> by forcing end of text', () => {
    const r = run('ab</think>123456', { maxAnswerTokens: 3 });
    expect(r.text).toBe('ab</think>123<|endoftext|>');
    expect(r.state).toMatchObject({ answerTokens: 3, phase: 'done', forcedTokens: 1 });
  });

  it('stops when the model ends the text while still thinking', () => {
    const r = run('ab<|endoftext|>', { minThinkingTokens: 10, continuation: WAIT });
    expect(r.text).toBe('ab<|endoftext|>');
    expect(r.state).toMatchObject({ phase: 'done', thinkingTokens: 2, answerTokens: 0 });
  });

  it('starts in the phase the prompt leaves it in', () => {
    expect(phaseAfterPrompt(ids('<|endoftext|>1+2=<think>'))).toBe('thinking');
    expect(phaseAfterPrompt(ids('1+2=<think>3</think>'))).toBe('answer');
    expect(phaseAfterPrompt(ids('<|endoftext|>1+2='))).toBe('before');
    // Without <think> in the prompt, the model's own <think> opens thinking (and the cap applies from there).
    const r = run('<think>abcd</think>3<|endoftext|>', { maxThinkingTokens: 2 }, '1+2=');
    expect(r.text).toBe('<think>ab</think>cd</think>3<|endoftext|>');
    const answering = run('3<|endoftext|>', { maxAnswerTokens: 1 }, '1+2=<think></think>');
    expect(answering.state).toMatchObject({ answerTokens: 1, phase: 'done' });
  });
});

describe('budget forcing: batches and options', () => {
  it('keeps one state per sequence', () => {
    const f = new BudgetForcer([ids('<think>'), ids('<think>'), ids('x')], { maxThinkingTokens: 1, maxAnswerTokens: 1 });
    expect(f.size).toBe(3);
    const seen: BudgetAction[][] = [];
    const scripts = [[65, 49, END_OF_TEXT_ID], [END_OF_TEXT_ID], [THINK_ID, 66, 67, 68]];
    const pos = [0, 0, 0];
    for (let step = 0; step < 10 && !f.allDone(); step++) {
      const acts = f.actions();
      seen.push(acts);
      const drawn = acts.map((a, i) => (a.kind === 'force' ? a.id : a.kind === 'stop' ? -1 : scripts[i][pos[i]++]));
      f.pushAll(drawn);
    }
    expect(f.allDone()).toBe(true);
    expect(seen[0].map((a) => a.kind)).toEqual(['free', 'free', 'free']);
    expect(seen[1].map((a) => a.kind)).toEqual(['force', 'stop', 'free']); // seq 0 capped; seq 1 ended
    expect(f.state(0)).toMatchObject({ capped: true, answerTokens: 1 });
    expect(f.state(2)).toMatchObject({ thinkingTokens: 1, answerTokens: 1 });
    expect(() => f.pushAll([1])).toThrow(/needs 3 ids/);
    expect(() => f.action(3)).toThrow(/no sequence 3/);
  });

  it('rejects contradictory or incomplete options', () => {
    const p = [ids('<think>')];
    expect(() => new BudgetForcer(p, { minThinkingTokens: 9, maxThinkingTokens: 4, continuation: WAIT })).toThrow(/minThinkingTokens 9 exceeds maxThinkingTokens 4/);
    expect(() => new BudgetForcer(p, { minThinkingTokens: 4 })).toThrow(/needs a continuation/);
    expect(() => new BudgetForcer(p, { minThinkingTokens: 4, continuation: [END_THINK_ID] })).toThrow(/must not hold <think>/);
    expect(() => new BudgetForcer(p, { maxThinkingTokens: -1 })).toThrow(/non-negative integer or Infinity/);
    expect(() => new BudgetForcer(p, { forceExtensions: 1, extendBy: 'ban' })).toThrow(/use extendBy 'replace'/);
    expect(() => new BudgetForcer(p, { minThinkingTokens: Infinity, continuation: WAIT })).toThrow(/must be finite/);
    expect(new BudgetForcer(p, { minThinkingTokens: 4, extendBy: 'ban' }).size).toBe(1);
  });
});
