import { describe, expect, it } from 'vitest';
import {
  Batcher,
  bitsPerByte,
  countEvalBatches,
  documentStarts,
  evalWindowStarts,
  evalBatches,
  makeDataset,
  splitTokens,
  unigramEntropy,
} from '../../src/data/batches';
import { Rng, validateRngState } from '../../src/lib/rng';
import { ByteTokenizer } from '../../src/data/tokenizer';

const range = (n: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => i);

describe('Rng', () => {
  it('is deterministic per seed, different across seeds', () => {
    const a = new Rng(1);
    const b = new Rng(1);
    const c = new Rng(2);
    const xs = Array.from({ length: 10 }, () => a.nextU32());
    expect(Array.from({ length: 10 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 10 }, () => c.nextU32())).not.toEqual(xs);
    // Fixed values: the stream must never change, or saved runs would not reproduce.
    expect(new Rng(0).nextU32()).toMatchInlineSnapshot(`2999224140`);
  });

  it('implements xoshiro128** (reference outputs for state 1, 2, 3, 4)', () => {
    const r = Rng.fromState({ kind: 'xoshiro128**', s: [1, 2, 3, 4] });
    expect(Array.from({ length: 6 }, () => r.nextU32())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('continues the same sequence after its state is saved as JSON and restored', () => {
    const r = new Rng(123);
    for (let i = 0; i < 37; i++) r.nextU32();
    const saved = JSON.parse(JSON.stringify(r.state()));
    const expected = Array.from({ length: 100 }, () => r.nextFloat());
    const resumed = Rng.fromState(saved);
    expect(Array.from({ length: 100 }, () => resumed.nextFloat())).toEqual(expected);
    const c = resumed.clone();
    expect(c.nextU32()).toBe(resumed.nextU32());
  });

  it('rejects malformed states', () => {
    expect(() => validateRngState(null)).toThrow(/expected an object/);
    expect(() => validateRngState({ kind: 'mt', s: [1, 2, 3, 4] })).toThrow(/kind must be/);
    expect(() => validateRngState({ kind: 'xoshiro128**', s: [1, 2, 3] })).toThrow(/array of 4/);
    expect(() => validateRngState({ kind: 'xoshiro128**', s: [1, 2, 3, -4] })).toThrow(/unsigned 32-bit/);
    expect(() => validateRngState({ kind: 'xoshiro128**', s: [0, 0, 0, 0] })).toThrow(/all-zero/);
    expect(() => new Rng(NaN)).toThrow(/finite/);
  });

  it('draws uniform floats in [0, 1) and unbiased integers in [0, n)', () => {
    const r = new Rng(5);
    const counts = new Array(7).fill(0);
    let sum = 0;
    let lo = 1;
    let hi = 0;
    const n = 70_000;
    for (let i = 0; i < n; i++) {
      const f = r.nextFloat();
      lo = Math.min(lo, f);
      hi = Math.max(hi, f);
      sum += f;
      counts[r.nextInt(7)]++;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.01);
    for (const c of counts) expect(Math.abs(c - n / 7)).toBeLessThan(5 * Math.sqrt(n / 7));
    expect(() => r.nextInt(0)).toThrow(/integer in \[1, 2\^32\]/);
    expect(r.shuffle([1, 2, 3, 4, 5]).sort()).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('splitTokens and makeDataset', () => {
  it('puts the last fraction, contiguous, into validation', () => {
    const { train, validation } = splitTokens(range(1000), 0.1);
    expect(train.length).toBe(900);
    expect(validation.length).toBe(100);
    expect(train[899]).toBe(899);
    expect(validation[0]).toBe(900);
    expect(splitTokens(range(10), 0.25).validation.length).toBe(2); // rounded down
    expect(splitTokens(range(10), 0).validation.length).toBe(0);
    expect(() => splitTokens(range(10), 1)).toThrow(/\[0, 1\)/);
    expect(() => splitTokens(range(10), NaN)).toThrow(/validationFraction/);
  });

  it('tokenises once and splits', () => {
    const text = 'abcdefghij'.repeat(10);
    const d = makeDataset(text, new ByteTokenizer(), 0.2);
    expect(d.tokens.length).toBe(100);
    expect(d.train.length).toBe(80);
    expect(d.validation.length).toBe(20);
    expect(d.vocabSize).toBe(259);
    expect(d.textBytes).toBe(100);
  });
});

describe('Batcher', () => {
  const tokens = range(10_000);

  it('gives (B, T) inputs with targets shifted by one, from windows inside the data', () => {
    const batcher = new Batcher(tokens, { batchSize: 4, seqLen: 16, seed: 1 });
    const { inputs, targets } = batcher.next();
    expect(inputs.length).toBe(64);
    expect(targets.length).toBe(64);
    for (let b = 0; b < 4; b++) {
      for (let t = 0; t < 16; t++) {
        expect(targets[b * 16 + t]).toBe(inputs[b * 16 + t] + 1);
        if (t > 0) expect(inputs[b * 16 + t]).toBe(inputs[b * 16 + t - 1] + 1);
      }
    }
    expect(batcher.step).toBe(1);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const draw = (seed: number) => {
      const b = new Batcher(tokens, { batchSize: 2, seqLen: 8, seed });
      return [b.next(), b.next()].map((x) => Array.from(x.inputs));
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('resumes from a saved state exactly', () => {
    const a = new Batcher(tokens, { batchSize: 3, seqLen: 5, seed: 99 });
    for (let i = 0; i < 10; i++) a.next();
    const saved = JSON.parse(JSON.stringify(a.state()));
    const expected = Array.from({ length: 5 }, () => Array.from(a.next().inputs));
    const b = new Batcher(tokens, { batchSize: 3, seqLen: 5, seed: 12345 });
    b.restore(saved);
    expect(b.step).toBe(10);
    expect(Array.from({ length: 5 }, () => Array.from(b.next().inputs))).toEqual(expected);
    expect(() => b.restore({ rng: saved.rng, step: -1 })).toThrow(/step/);
  });

  it('reaches both ends of the data and reuses output arrays', () => {
    const small = range(10);
    const b = new Batcher(small, { batchSize: 1, seqLen: 9, seed: 3 }); // exactly one window fits
    const out = { inputs: new Uint32Array(9), targets: new Uint32Array(9) };
    expect(b.next(out)).toBe(out);
    expect(Array.from(out.targets)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const seen = new Set<number>();
    const c = new Batcher(range(20), { batchSize: 8, seqLen: 4, seed: 4 });
    for (let i = 0; i < 50; i++) for (let k = 0; k < 8; k++) seen.add(c.next().inputs[k * 4]);
    expect(Math.min(...seen)).toBe(0);
    expect(Math.max(...seen)).toBe(15);
    expect(() => b.next({ inputs: new Uint32Array(3), targets: new Uint32Array(9) })).toThrow(/B\*T = 9/);
  });

  it('explains data too short for a window and bad shapes', () => {
    expect(() => new Batcher(range(8), { batchSize: 1, seqLen: 8, seed: 1 })).toThrow(/8 tokens, fewer than one window of seqLen \+ 1 = 9/);
    expect(() => new Batcher(tokens, { batchSize: 0, seqLen: 8, seed: 1 })).toThrow(/batchSize must be a positive integer/);
  });
});

describe('Batcher with document starts', () => {
  // documents of random lengths 1..12, each after a separator 0; other ids are 1..99
  const SEP = 0;
  const makeDocs = (seed: number, count: number) => {
    const rng = new Rng(seed);
    const out: number[] = [];
    for (let d = 0; d < count; d++) {
      out.push(SEP);
      for (let k = 1 + rng.nextInt(12); k > 0; k--) out.push(1 + rng.nextInt(99));
    }
    return Uint32Array.from(out);
  };

  it('starts every window at a separator, reaches every start that fits, and none past it', () => {
    const tokens = makeDocs(3, 60);
    const T = 10;
    const expected = Array.from(tokens.keys()).filter((p) => tokens[p] === SEP && p + T + 1 <= tokens.length);
    expect(Array.from(documentStarts(tokens, SEP, T))).toEqual(expected);
    const b = new Batcher(tokens, { batchSize: 4, seqLen: T, seed: 5, startAt: SEP });
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const { inputs, targets } = b.next();
      for (let r = 0; r < 4; r++) {
        expect(inputs[r * T]).toBe(SEP);
        // the window is a contiguous slice: find it by its start among the allowed ones
        const start = expected.find((p) => tokens.subarray(p, p + T).every((v, t) => v === inputs[r * T + t]) && tokens.subarray(p + 1, p + T + 1).every((v, t) => v === targets[r * T + t]));
        expect(start).toBeDefined();
        seen.add(start!);
      }
    }
    expect(seen.size).toBe(expected.length);
  });

  it('is deterministic, resumes from a saved state, and differs from random windows', () => {
    const tokens = makeDocs(4, 200);
    const a = new Batcher(tokens, { batchSize: 3, seqLen: 8, seed: 9, startAt: SEP });
    for (let i = 0; i < 7; i++) a.next();
    const saved = JSON.parse(JSON.stringify(a.state()));
    const expected = Array.from({ length: 4 }, () => Array.from(a.next().inputs));
    const b = new Batcher(tokens, { batchSize: 3, seqLen: 8, seed: 1, startAt: SEP });
    b.restore(saved);
    expect(Array.from({ length: 4 }, () => Array.from(b.next().inputs))).toEqual(expected);
    const random = new Batcher(tokens, { batchSize: 64, seqLen: 8, seed: 9 }).next().inputs;
    expect(Array.from({ length: 64 }, (_, r) => random[r * 8]).some((v) => v !== SEP)).toBe(true);
  });

  it('evaluation windows: k·T without separators; with them, successive document starts whose targets never overlap', () => {
    expect(Array.from(evalWindowStarts(range(25), 8))).toEqual([0, 8, 16]);
    const tokens = makeDocs(6, 80);
    const T = 10;
    const starts = Array.from(evalWindowStarts(tokens, T, SEP));
    const all = Array.from(documentStarts(tokens, SEP, T));
    expect(starts.length).toBeGreaterThan(10);
    expect(starts[0]).toBe(all[0]);
    for (let k = 1; k < starts.length; k++) {
      expect(tokens[starts[k]]).toBe(SEP);
      expect(starts[k]).toBeGreaterThanOrEqual(starts[k - 1] + T);
      // greedy: no document start is skipped between the end of one window and the start of the next
      expect(all.filter((p) => p >= starts[k - 1] + T && p < starts[k])).toEqual([]);
    }
    expect(all.filter((p) => p >= starts.at(-1)! + T)).toEqual([]);
  });

  it('explains a corpus with no separator that leaves a full window', () => {
    expect(() => new Batcher(range(50), { batchSize: 1, seqLen: 8, seed: 1, startAt: 1000 })).toThrow(/no document start \(token 1000\).*50 tokens.*seqLen \+ 1 = 9.*windows 'random'/);
    // a separator too close to the end to leave a window does not count
    const late = Uint32Array.from([5, 6, 7, 8, 9, 10, 11, 0, 1, 2]);
    expect(() => new Batcher(late, { batchSize: 1, seqLen: 4, seed: 1, startAt: 0 })).toThrow(/no document start/);
    expect(Array.from(documentStarts(late, 0, 2))).toEqual([7]);
  });
});

describe('evalBatches', () => {
  it('walks the split in order, non-overlapping targets, full batches only', () => {
    const tokens = range(100);
    expect(countEvalBatches(100, 2, 10)).toBe(4); // 9 windows → 4 batches of 2
    const batches = [...evalBatches(tokens, 2, 10)];
    expect(batches.length).toBe(4);
    expect(Array.from(batches[0].inputs)).toEqual([...range(10), ...range(20).slice(10)]);
    expect(batches[3].targets[19]).toBe(80);
    const targets = batches.flatMap((b) => Array.from(b.targets));
    expect(new Set(targets).size).toBe(targets.length);
    expect([...evalBatches(tokens, 2, 10, 1)].length).toBe(1);
  });

  it('explains a validation split too small for one batch', () => {
    expect(() => [...evalBatches(range(20), 4, 10)]).toThrow(/20 tokens, too few for one evaluation batch of 4 × \(10 \+ 1\)/);
  });
});

describe('unigramEntropy', () => {
  it('is log k for a uniform distribution over k symbols', () => {
    expect(unigramEntropy(Uint32Array.from({ length: 4000 }, (_, i) => i % 4), 10)).toBeCloseTo(Math.log(4), 12);
    expect(unigramEntropy(new Uint32Array(100).fill(3), 5)).toBe(0);
  });

  it('matches -Σ p log p on a skewed distribution', () => {
    const tokens = [...new Array(50).fill(0), ...new Array(25).fill(1), ...new Array(25).fill(2)];
    const expected = -(0.5 * Math.log(0.5) + 2 * 0.25 * Math.log(0.25));
    expect(unigramEntropy(tokens, 3)).toBeCloseTo(expected, 12);
  });

  it('rejects bad input', () => {
    expect(() => unigramEntropy([], 3)).toThrow(/no tokens/);
    expect(() => unigramEntropy([0, 3], 3)).toThrow(/token 3 at index 1 is outside \[0, 3\)/);
  });

  it('converts nats per token to bits per byte', () => {
    expect(bitsPerByte(Math.LN2, 100, 100)).toBeCloseTo(1, 12);
    expect(bitsPerByte(Math.LN2 * 2, 50, 100)).toBeCloseTo(1, 12);
  });
});
