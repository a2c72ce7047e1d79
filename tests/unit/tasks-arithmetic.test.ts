import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/lib/rng';
import { ByteTokenizer, END_OF_TEXT_ID, END_THINK_ID, THINK_ID } from '../../src/data/tokenizer';
import {
  ADDITION,
  MULTIPLICATION,
  END_THINK_TEXT,
  THINKING_STYLES,
  checkAdditionThinking,
  finalAnswerText,
  generationPrompt,
  leadingInteger,
  verifySampled,
  type Task,
} from '../../src/data/tasks';

const ARITHMETIC: Task[] = [ADDITION, MULTIPLICATION];
const operands = (prompt: string): [number, number] => {
  const m = /^(\d+)[+*](\d+)=$/.exec(prompt);
  if (!m) throw new Error(`bad prompt ${prompt}`);
  return [Number(m[1]), Number(m[2])];
};
const digits = (n: number): number[] => String(n).split('').reverse().map(Number);

describe.each(ARITHMETIC)('$id', (task) => {
  it('is deterministic per seed and differs between seeds', () => {
    for (const d of task.difficulties) {
      for (const style of THINKING_STYLES) {
        const a = Array.from({ length: 5 }, (_, i) => task.generate(new Rng(100 + i), d, style));
        const b = Array.from({ length: 5 }, (_, i) => task.generate(new Rng(100 + i), d, style));
        expect(b).toEqual(a);
      }
      const texts = new Set(Array.from({ length: 20 }, (_, i) => task.generate(new Rng(i), d).text));
      expect(texts.size).toBeGreaterThan(15);
    }
  });

  it('writes prompt <think> thinking </think> answer <|endoftext|>, the specials as single tokens', () => {
    const tok = new ByteTokenizer();
    const rng = new Rng(5);
    for (const style of THINKING_STYLES) {
      const e = task.generate(rng, 3, style);
      expect(e).toMatchObject({ taskId: task.id, difficulty: 3, style });
      expect(e.text).toBe(`${e.prompt}<think>${e.thinking}</think>${e.answer}<|endoftext|>`);
      expect(e.thinking === '').toBe(style === 'none');
      const ids = Array.from(tok.encode(e.text));
      expect(ids.filter((x) => x === THINK_ID)).toHaveLength(1);
      expect(ids.filter((x) => x === END_THINK_ID)).toHaveLength(1);
      expect(ids.indexOf(END_OF_TEXT_ID)).toBe(ids.length - 1);
      expect(e.prompt.length).toBeLessThan(16);
      expect(generationPrompt(e)).toBe(`<|endoftext|>${e.prompt}<think>`);
    }
  });

  it('verifies its own answers and the whole generated completion', () => {
    const rng = new Rng(11);
    for (let i = 0; i < 200; i++) {
      const e = task.generate(rng, task.difficulties[i % task.difficulties.length], THINKING_STYLES[i % 3]);
      const [a, b] = operands(e.prompt);
      expect(Number(e.answer)).toBe(task.id === 'addition' ? a + b : a * b);
      expect(task.verify(e, e.answer)).toEqual({ correct: true, answer: e.answer });
      expect(task.verify(e.prompt, e.text.slice(e.prompt.length)).correct).toBe(true);
    }
  });

  it('reads the final answer robustly and rejects wrong or malformed ones', () => {
    const e = task.generate(new Rng(3), 2);
    const ans = e.answer;
    const ok = (completion: string) => task.verify(e, completion);
    expect(ok(`<think>whatever</think>${ans}<|endoftext|>`).correct).toBe(true);
    expect(ok(`<think>x</think> ${ans} because`).correct).toBe(true);
    expect(ok(`<think>x</think>=${ans}.`).correct).toBe(true);
    expect(ok(`<think>x</think>00${ans}`)).toEqual({ correct: true, answer: ans }); // normalised
    expect(ok(`<think>1</think>2</think>${ans}`).correct).toBe(true); // the last </think> counts
    expect(ok(`<think>x</think>${ans}<|endoftext|>junk</think>5`).correct).toBe(true); // nothing after end of text counts
    expect(ok(`<think>x</think>${ans}\n${ans}1`).correct).toBe(true);

    const wrong = String(Number(ans) + 1);
    expect(ok(`<think>x</think>${wrong}`)).toMatchObject({ correct: false, answer: wrong, reason: expect.stringMatching(/expected/) });
    expect(ok(`<think>x</think>${ans}0`).correct).toBe(false);
    expect(ok(`<think>${ans}`)).toMatchObject({ correct: false, answer: null, reason: expect.stringMatching(/never ended/) });
    expect(ok(`<think>x</think>`)).toMatchObject({ correct: false, answer: null });
    expect(ok(`<think>x</think>the answer is ${ans}`)).toMatchObject({ correct: false, answer: null });
    expect(ok(`<think>x</think>-${ans}`).correct).toBe(false);
    expect(ok('').correct).toBe(false);
    expect(ok(`<think>x</think>${'9'.repeat(80)}`).correct).toBe(false);
    expect(() => task.verify('not a prompt', ans)).toThrow(/is not of the form/);
    // Sampled after generationPrompt (thinking already open): scratch work cut off before </think> is no answer.
    expect(verifySampled(task, e, `${e.thinking}</think>${ans}<|endoftext|>`).correct).toBe(true);
    expect(verifySampled(task, e, e.thinking.slice(0, 5))).toMatchObject({ correct: false, answer: null });
  });

  it('rejects difficulties it does not offer', () => {
    expect(() => task.generate(new Rng(1), 0)).toThrow(/difficulty 0 is not offered; use one of 1, 2, 3, 4, 5/);
    expect(() => task.generate(new Rng(1), 2.5)).toThrow(RangeError);
  });
});

describe('answer extraction', () => {
  it('reads the text after the last </think>, before end of text or a newline', () => {
    expect(finalAnswerText('<think>a</think> 12 <|endoftext|>x')).toBe('12');
    expect(finalAnswerText('12\nmore')).toBe('12');
    expect(finalAnswerText('<think>never closed')).toBeNull();
    expect(leadingInteger('007x')).toBe('7');
    expect(leadingInteger('x7')).toBeNull();
  });
});

describe('addition', () => {
  it('scales operand length with difficulty', () => {
    const rng = new Rng(2);
    for (const d of ADDITION.difficulties) {
      for (let i = 0; i < 50; i++) {
        const [a, b] = operands(ADDITION.generate(rng, d).prompt);
        expect([String(a).length, String(b).length]).toEqual([d + 1, d + 1]);
      }
      expect(ADDITION.describeDifficulty(d)).toBe(`${d + 1}-digit + ${d + 1}-digit`);
    }
  });

  it('writes the right digits, carries and column sums in the full thinking', () => {
    const rng = new Rng(9);
    for (let i = 0; i < 500; i++) {
      const e = ADDITION.generate(rng, ADDITION.difficulties[i % 5], 'full');
      const [a, b] = operands(e.prompt);
      const cols = e.thinking.split(',').map((c) => {
        const m = /^(\d)\+(\d)\+([01])=(\d+)$/.exec(c);
        expect(m, c).not.toBeNull();
        return m!.slice(1).map(Number);
      });
      let carry = 0;
      let written = '';
      cols.forEach(([x, y, c, s], k) => {
        expect([x, y]).toEqual([digits(a)[k] ?? 0, digits(b)[k] ?? 0]);
        expect(c).toBe(carry);
        expect(s).toBe(x + y + c);
        carry = s >= 10 ? 1 : 0;
        written = String(s % 10) + written;
      });
      expect(cols).toHaveLength(Math.max(String(a).length, String(b).length));
      expect((carry ? '1' : '') + written).toBe(e.answer);
    }
    expect(ADDITION.generate(new Rng(1), 1, 'short').thinking).toMatch(/^\d+(,\d+)*$/);
    expect(ADDITION.verify('999+1=', '<think></think>1000').correct).toBe(true);
  });

  it('abbreviates to the column sums in the short thinking', () => {
    const full = ADDITION.generate(new Rng(4), 3, 'full');
    const short = ADDITION.generate(new Rng(4), 3, 'short');
    expect(short.prompt).toBe(full.prompt); // same problem for the same seed
    expect(short.thinking).toBe(full.thinking.split(',').map((c) => c.split('=')[1]).join(','));
    expect(short.thinking.length).toBeLessThan(full.thinking.length);
  });
});

describe('multiplication', () => {
  it('scales factor lengths with difficulty', () => {
    const shapes = [[2, 1], [3, 1], [2, 2], [3, 2], [3, 3]];
    const rng = new Rng(2);
    for (const d of MULTIPLICATION.difficulties) {
      for (let i = 0; i < 50; i++) {
        const [a, b] = operands(MULTIPLICATION.generate(rng, d).prompt);
        expect([String(a).length, String(b).length]).toEqual(shapes[d - 1]);
        expect(b).toBeGreaterThanOrEqual(2);
      }
    }
  });

  it('writes correct partial products and running sums in the full thinking', () => {
    const rng = new Rng(13);
    for (let i = 0; i < 500; i++) {
      const e = MULTIPLICATION.generate(rng, MULTIPLICATION.difficulties[i % 5], 'full');
      const [a, b] = operands(e.prompt);
      const steps = e.thinking.split(',');
      const nb = String(b).length;
      const partials = steps.slice(0, nb).map((s, k) => {
        const m = /^(\d+)\*(\d+)=(\d+)$/.exec(s);
        expect(m, s).not.toBeNull();
        expect(Number(m![1])).toBe(a);
        expect(m![2]).toBe(String(digits(b)[k]) + '0'.repeat(k));
        expect(Number(m![3])).toBe(a * Number(m![2]));
        return Number(m![3]);
      });
      let sum = partials[0];
      for (const [k, s] of steps.slice(nb).entries()) {
        expect(s).toBe(`${sum}+${partials[k + 1]}=${sum + partials[k + 1]}`);
        sum += partials[k + 1];
      }
      expect(steps).toHaveLength(2 * nb - 1);
      expect(String(sum)).toBe(e.answer);
      const short = MULTIPLICATION.generate(new Rng(i), 4, 'short');
      expect(short.thinking.split('+').reduce((s, p) => s + Number(p), 0)).toBe(Number(short.answer));
    }
  });
});

describe('checkAdditionThinking', () => {
  it('marks a true scratchpad correct in every column', () => {
    for (let i = 0; i < 50; i++) {
      const e = ADDITION.generate(new Rng(300 + i), 1 + (i % 5), 'full');
      const completion = `${e.thinking}${END_THINK_TEXT}${e.answer}`;
      const cols = checkAdditionThinking(e, completion);
      expect(cols).toHaveLength(digits(operands(e.prompt)[0]).length);
      expect(cols.every((c) => c.written && c.operands && c.carry && c.arithmetic && c.correct)).toBe(true);
    }
  });

  it('tells a wrong digit copy, a wrong carry, a wrong sum and a missing column apart', () => {
    // 347+589: columns 7+9+0=16, 4+8+1=13, 3+5+1=9.
    const cols = checkAdditionThinking('347+589=', '7+9+0=16,4+2+1=7,3+5+0=9</think>736');
    expect(cols.map((c) => [c.written, c.operands, c.carry, c.arithmetic, c.correct])).toEqual([
      [true, true, true, true, true],
      [true, false, true, true, false],
      [true, true, false, false, false],
    ]);
    const wrongSum = checkAdditionThinking('347+589=', '7+9+0=15,4+8+1=13,3+5+1=9</think>935');
    expect([wrongSum[0].operands, wrongSum[0].carry, wrongSum[0].arithmetic, wrongSum[0].correct]).toEqual([true, true, false, false]);
    const cut = checkAdditionThinking('347+589=', '7+9+0=16,4+8');
    expect(cut.map((c) => c.written)).toEqual([true, false, false]);
    expect(checkAdditionThinking('347+589=', '16,13,9</think>936').every((c) => !c.written)).toBe(true);
  });
});
