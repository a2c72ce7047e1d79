import { describe, expect, it } from 'vitest';
import { BpeTokenizer, MAX_CHUNK_UNITS, pretokenize } from '../../src/data/bpe';
import { trainBpe } from '../../src/data/bpe-train';
import { MOBY_DICK, generateSimpleStories } from '../../src/data/corpora';
import { Rng } from '../../src/lib/rng';
import { END_OF_TEXT_ID, FIRST_MERGE_ID, THINK_ID, tokenizerFromJSON } from '../../src/data/tokenizer';
import { randomUnicode, wellFormed } from '../util/unicode';

const chunksOf = (s: string): string[] => {
  const out: string[] = [];
  pretokenize(s, (c) => out.push(c));
  return out;
};

/** Reference trainer: recounts every pair before each merge (slow, obviously right). */
function naiveMerges(text: string, vocabSize: number): number[] {
  const counts = new Map<string, number>();
  for (const piece of text.split(/<\|endoftext\|>|<think>|<\/think>/)) {
    for (const c of chunksOf(piece)) counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  const words = [...counts].map(([c, f]) => ({ ids: Array.from(new TextEncoder().encode(c)), f }));
  const merges: number[] = [];
  while (FIRST_MERGE_ID + merges.length / 2 < vocabSize) {
    const pairs = new Map<number, number>();
    for (const { ids, f } of words) for (let i = 0; i + 1 < ids.length; i++) {
      const k = ids[i] * 65536 + ids[i + 1];
      pairs.set(k, (pairs.get(k) ?? 0) + f);
    }
    let best = -1;
    let bestCount = 1;
    for (const [k, c] of pairs) if (c > bestCount || (c === bestCount && c >= 2 && k < best)) [best, bestCount] = [k, c];
    if (best < 0) break;
    const a = Math.floor(best / 65536);
    const b = best % 65536;
    const id = FIRST_MERGE_ID + merges.length / 2;
    merges.push(a, b);
    for (const w of words) {
      const next: number[] = [];
      for (let i = 0; i < w.ids.length; i++) {
        if (i + 1 < w.ids.length && w.ids[i] === a && w.ids[i + 1] === b) (next.push(id), i++);
        else next.push(w.ids[i]);
      }
      w.ids = next;
    }
  }
  return merges;
}

describe('pretokenize', () => {
  it('splits into words with their leading space, numbers, punctuation and whitespace, losing nothing', () => {
    expect(chunksOf("Call me Ishmael. It's 12345 o'clock!\n\n  Yes")).toEqual([
      'Call', ' me', ' Ishmael', '.', ' It', "'s", ' 123', '45', ' o', "'", 'clock', '!', '\n\n ', ' Yes',
    ]);
    const rng = new Rng(3);
    for (let i = 0; i < 300; i++) {
      const s = randomUnicode(rng, 60);
      expect(chunksOf(s).join('')).toBe(s);
    }
  });

  it('cuts very long chunks without splitting surrogate pairs', () => {
    const s = 'x' + '😀'.repeat(100) + ' ' + 'a'.repeat(200);
    const chunks = chunksOf(s);
    expect(chunks.join('')).toBe(s);
    for (const c of chunks) {
      expect(c.length).toBeLessThanOrEqual(MAX_CHUNK_UNITS);
      expect(wellFormed(c)).toBe(c);
    }
  });
});

describe('trainBpe', () => {
  const stories = generateSimpleStories({ seed: 5, targetBytes: 30_000 });

  it('matches a from-scratch recount reference merge for merge', () => {
    const rng = new Rng(11);
    const texts = [
      stories.slice(0, 8000),
      'aaaa aaa aa abab ababab baba <think>aaaa</think> aaaa',
      Array.from({ length: 200 }, () => randomUnicode(rng, 12)).join(' '),
    ];
    for (const text of texts) {
      const tok = trainBpe(text, { vocabSize: 400 });
      expect(tok.toJSON().merges).toEqual(naiveMerges(text, 400));
    }
  });

  it('is deterministic and uses the asked vocabulary size on enough text', () => {
    const a = trainBpe(stories, { vocabSize: 500 });
    const b = trainBpe(stories, { vocabSize: 500 });
    expect(a.vocabSize).toBe(500);
    expect(a.toJSON()).toEqual(b.toJSON());
    expect(Array.from(a.encode(stories.slice(0, 2000)))).toEqual(Array.from(b.encode(stories.slice(0, 2000))));
  });

  it('stops early when no pair repeats, and with vocabSize 259 equals the byte tokenizer', () => {
    expect(trainBpe('abc', { vocabSize: 1000 }).vocabSize).toBe(FIRST_MERGE_ID);
    const bytes = trainBpe(stories, { vocabSize: FIRST_MERGE_ID });
    expect(Array.from(bytes.encode('hi'))).toEqual([104, 105]);
  });

  it('rejects vocabulary sizes it cannot build, saying what is allowed', () => {
    expect(() => trainBpe('x', { vocabSize: 256 })).toThrow(/from 259 to 65536/);
    expect(() => trainBpe('x', { vocabSize: 1e6 })).toThrow(/out of range/);
    expect(() => trainBpe('x', { vocabSize: 300.5 })).toThrow(/out of range/);
  });

  it('reports progress: counting characters, then merges', () => {
    const seen: [number, number, string][] = [];
    trainBpe(stories, { vocabSize: 400, onProgress: (done, total, phase) => seen.push([done, total, phase]) });
    expect(seen[0]).toEqual([0, stories.length, 'counting']);
    expect(seen).toContainEqual([stories.length, stories.length, 'counting']);
    expect(seen).toContainEqual([0, 400 - FIRST_MERGE_ID, 'merging']);
    expect(seen[seen.length - 1]).toEqual([400 - FIRST_MERGE_ID, 400 - FIRST_MERGE_ID, 'merging']);
  });
});

describe('BpeTokenizer', () => {
  const stories = generateSimpleStories({ seed: 9, targetBytes: 50_000 });
  const tok = trainBpe(stories, { vocabSize: 600 });

  it('round-trips any string losslessly at the UTF-8 level (fuzz)', () => {
    const rng = new Rng(21);
    for (let i = 0; i < 500; i++) {
      const s = randomUnicode(rng, 50);
      const ids = tok.encode(s);
      expect(Math.max(-1, ...ids)).toBeLessThan(tok.vocabSize);
      expect(tok.decode(ids)).toBe(wellFormed(s));
    }
    expect(tok.decode(tok.encode(stories))).toBe(stories);
  });

  it('keeps special tokens single and out of merges', () => {
    const ids = tok.encode('Once upon a time<|endoftext|><think>');
    expect(Array.from(ids.slice(-2))).toEqual([END_OF_TEXT_ID, THINK_ID]);
    expect(ids.length).toBeLessThan(10);
    expect(tok.encode('<think>', { specials: false })).not.toContain(THINK_ID);
  });

  it('segments held-out text the same way whether encoded whole or chunk by chunk', () => {
    const text = 'Once upon a time, there was a tiny frog named Pip.';
    const whole = Array.from(tok.encode(text));
    const parts = chunksOf(text).flatMap((c) => Array.from(tok.encode(c)));
    expect(whole).toEqual(parts);
  });

  it('decodes invalid byte sequences without throwing', () => {
    expect(tok.decode([0xf0, 0x9f])).toBe('\ufffd');
    expect(() => tok.decode([tok.vocabSize])).toThrow(/outside this BPE vocabulary/);
  });

  it('round-trips through JSON and rejects malformed JSON with specific messages', () => {
    const json = JSON.parse(JSON.stringify(tok.toJSON()));
    const back = tokenizerFromJSON(json);
    expect(back).toBeInstanceOf(BpeTokenizer);
    expect(back.vocabSize).toBe(600);
    expect(Array.from(back.encode(stories.slice(0, 3000)))).toEqual(Array.from(tok.encode(stories.slice(0, 3000))));

    const bad = (patch: Record<string, unknown>) => ({ ...json, ...patch });
    expect(() => tokenizerFromJSON(bad({ merges: 'x' }))).toThrow(/merges must be an array/);
    expect(() => tokenizerFromJSON(bad({ merges: [1, 2, 3] }))).toThrow(/even length/);
    expect(() => tokenizerFromJSON(bad({ merges: [1, 259], vocabSize: 260 }))).toThrow(/merge 0 uses 259; ids must be integers below 259/);
    expect(() => tokenizerFromJSON(bad({ merges: [1, 257], vocabSize: 260 }))).toThrow(/special token id 257/);
    expect(() => tokenizerFromJSON(bad({ merges: [1, 2, 1, 2], vocabSize: 261 }))).toThrow(/repeats the pair/);
    expect(() => tokenizerFromJSON(bad({ merges: [1, 2.5], vocabSize: 260 }))).toThrow(/merge 0 uses 2.5/);
    expect(() => tokenizerFromJSON(bad({ vocabSize: 601 }))).toThrow(/vocabSize 601 does not match 341 merges \(expected 600\)/);
    expect(() => tokenizerFromJSON(bad({ version: 3 }))).toThrow(/unsupported version 3/);
    expect(() => tokenizerFromJSON(bad({ pretokenizer: 'gpt2' }))).toThrow(/pretokenizer "gpt2"/);
    expect(() => tokenizerFromJSON(bad({ specials: [] }))).toThrow(/specials must be/);
  });

  it('compresses Moby Dick below 0.6 tokens per byte at vocab 1024, training on 1 MB within the time bound', async () => {
    const book = await MOBY_DICK.load();
    const train = book.slice(0, 1 << 20);
    const t0 = performance.now();
    const bpe = trainBpe(train, { vocabSize: 1024 });
    const trainMs = performance.now() - t0;
    const t1 = performance.now();
    const ids = bpe.encode(book);
    const encodeMs = performance.now() - t1;
    const bytes = new TextEncoder().encode(book).length;
    const tokensPerByte = ids.length / bytes;
    console.log(
      `BPE vocab 1024 on ${(train.length / 1e6).toFixed(2)}M chars: train ${trainMs.toFixed(0)} ms, ` +
        `encode ${(bytes / 1e6).toFixed(2)} MB in ${encodeMs.toFixed(0)} ms, ${tokensPerByte.toFixed(3)} tokens/byte`,
    );
    expect(bpe.vocabSize).toBe(1024);
    expect(tokensPerByte).toBeLessThan(0.6);
    expect(bpe.decode(ids)).toBe(book);
    expect(trainMs).toBeLessThan(15_000); // a few seconds on a laptop; generous for loaded CI machines
  }, 60_000);
});
