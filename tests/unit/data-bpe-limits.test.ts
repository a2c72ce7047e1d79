/** BPE against hostile merge tables and oversized training texts: caps checked before anything is allocated. */
import { describe, expect, it } from 'vitest';
import { BpeTokenizer, MAX_BPE_TABLE_BYTES, MAX_BPE_TOKEN_BYTES, MAX_BPE_VOCAB_SIZE, MAX_CHUNK_BYTES } from '../../src/data/bpe';
import { BPE_TRAINING_MAX_CHARS, bpeTrainingChars, bpeTrainingNotices, trainBpe, type BpeTrainPhase } from '../../src/data/bpe-train';
import { generateSimpleStories } from '../../src/data/corpora';
import { FIRST_MERGE_ID, SPECIAL_TOKENS, tokenizerFromJSON } from '../../src/data/tokenizer';

const json = (merges: number[]) => ({
  kind: 'bpe', version: 1, pretokenizer: 'spark-v1', specials: [...SPECIAL_TOKENS], vocabSize: FIRST_MERGE_ID + merges.length / 2, merges,
});
const tokenLengths = (tok: BpeTokenizer) => Array.from({ length: tok.vocabSize }, (_, id) => tok.tokenBytes(id).length);

describe('BPE merge tables from files', () => {
  it('refuses a doubling bomb (30 merges, a few hundred bytes of JSON) at the first token over the cap', () => {
    const merges = [97, 97];
    for (let i = 1; i < 30; i++) merges.push(FIRST_MERGE_ID + i - 1, FIRST_MERGE_ID + i - 1); // token i is 2^(i+1) bytes
    const text = JSON.stringify(json(merges));
    expect(text.length).toBeLessThan(400);
    const t0 = performance.now();
    // 2^9 = 512 > 256: merge 8 is the first too long.
    expect(() => tokenizerFromJSON(JSON.parse(text))).toThrow(/BPE tokenizer JSON: merge 8 makes a token of 512 bytes, over the 256-byte cap on a token/);
    expect(() => new BpeTokenizer(merges)).toThrow(/merge 8 makes a token of 512 bytes/);
    expect(performance.now() - t0).toBeLessThan(1000); // the unguarded build asked for gigabytes
  });

  it('loads a token of exactly the cap, and refuses one byte more', () => {
    const merges = [97, 97];
    for (let i = 1; i < 7; i++) merges.push(FIRST_MERGE_ID + i - 1, FIRST_MERGE_ID + i - 1); // up to 128 bytes
    const at128 = FIRST_MERGE_ID + 6;
    expect(tokenizerFromJSON(json([...merges, at128, at128])).tokenBytes(FIRST_MERGE_ID + 7).length).toBe(MAX_BPE_TOKEN_BYTES);
    expect(() => tokenizerFromJSON(json([...merges, at128, at128, FIRST_MERGE_ID + 7, 98]))).toThrow(/merge 8 makes a token of 257 bytes/);
  });

  it('refuses a merge table whose tokens together pass the table cap, naming the merge', () => {
    const merges: number[] = [];
    const longest: number[] = []; // one 128-byte token per byte value
    for (let b = 0; b < 256; b++) {
      let id = b;
      for (let n = 0; n < 7; n++) {
        merges.push(id, id);
        id = FIRST_MERGE_ID + merges.length / 2 - 1;
      }
      longest.push(id);
    }
    const before = 256 + SPECIAL_TOKENS.join('').length + 256 * 254; // bytes, specials, 2+4+...+128 per byte value
    const over = Math.floor((MAX_BPE_TABLE_BYTES - before) / 256); // the first 256-byte token past the cap
    for (let i = 0; i <= over; i++) merges.push(longest[i >> 8], longest[i & 255]);
    const index = 256 * 7 + over;
    expect(() => tokenizerFromJSON(json(merges))).toThrow(new RegExp(`merge ${index} brings the tokens to ${before + 256 * (over + 1)} bytes, over the ${MAX_BPE_TABLE_BYTES}-byte cap on a merge table`));
    expect(() => tokenizerFromJSON(json(merges.slice(0, -2)))).not.toThrow();
  });

  it('refuses more merges than the largest vocabulary before checking each one', () => {
    const merges = new Array<number>(2 * (MAX_BPE_VOCAB_SIZE - FIRST_MERGE_ID + 1)).fill(-1);
    expect(() => tokenizerFromJSON(json(merges))).toThrow(/65278 merges make a vocabulary of 65537, over the largest, 65536/);
  });
});

describe('BPE training stays inside the caps', () => {
  it('a pre-split chunk, and so a trained token, fits the token cap', () => {
    expect(MAX_CHUNK_BYTES).toBeLessThanOrEqual(MAX_BPE_TOKEN_BYTES);
    const text = `${'中'.repeat(64)}\n`.repeat(40); // 64 three-byte letters: the longest chunk there is
    const tok = trainBpe(text, { vocabSize: 400 });
    expect(Math.max(...tokenLengths(tok))).toBe(MAX_CHUNK_BYTES);
    expect(tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON()))).vocabSize).toBe(tok.vocabSize);
  });

  it('never merges past maxTokenBytes or maxTableBytes, and the result loads again', () => {
    const text = `${'中'.repeat(64)}\n`.repeat(40);
    const short = trainBpe(text, { vocabSize: 400, maxTokenBytes: 48 });
    expect(Math.max(...tokenLengths(short))).toBe(48);
    expect(short.decode(short.encode(text))).toBe(text);
    const stories = generateSimpleStories({ seed: 3, targetBytes: 20_000 });
    const base = tokenLengths(trainBpe(stories, { vocabSize: FIRST_MERGE_ID })).reduce((a, b) => a + b, 0);
    const small = trainBpe(stories, { vocabSize: 400, maxTableBytes: base + 50 });
    const total = tokenLengths(small).reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(base + 50);
    expect(small.vocabSize).toBeGreaterThan(FIRST_MERGE_ID);
    expect(small.vocabSize).toBeLessThan(400);
    expect(tokenizerFromJSON(small.toJSON()).vocabSize).toBe(small.vocabSize);
    expect(() => trainBpe(stories, { vocabSize: 400, maxTokenBytes: MAX_BPE_TOKEN_BYTES + 1 })).toThrow(/maxTokenBytes 257 must be an integer from 2 to 256/);
    expect(() => trainBpe(stories, { vocabSize: 400, maxTableBytes: 1.5 })).toThrow(RangeError);
  });

  it('learns from an evenly spread sample of a text over BPE_TRAINING_MAX_CHARS, reporting both phases', () => {
    // The first 8 MiB say only "ab", the rest only "cd": a sample of the start alone would never merge " cd".
    const length = 3 * BPE_TRAINING_MAX_CHARS;
    const text = ' ab'.repeat(BPE_TRAINING_MAX_CHARS / 3) + ' cd'.repeat((length - BPE_TRAINING_MAX_CHARS) / 3 + 1);
    expect(bpeTrainingChars(text.length)).toBe(BPE_TRAINING_MAX_CHARS);
    expect(bpeTrainingChars(1000)).toBe(1000);
    const calls: [number, number, BpeTrainPhase][] = [];
    const tok = trainBpe(text, { vocabSize: FIRST_MERGE_ID + 4, onProgress: (done, total, phase) => calls.push([done, total, phase]) });
    expect(tok.encode(' ab').length).toBe(1);
    expect(tok.encode(' cd').length).toBe(1);
    const counting = calls.filter((c) => c[2] === 'counting');
    expect(counting[0]).toEqual([0, BPE_TRAINING_MAX_CHARS, 'counting']);
    expect(counting.at(-1)).toEqual([BPE_TRAINING_MAX_CHARS, BPE_TRAINING_MAX_CHARS, 'counting']);
    expect(counting.length).toBeGreaterThan(100); // per slice, not just at the ends
    expect(calls.findIndex((c) => c[2] === 'merging')).toBe(counting.length); // counting first, then merging
    expect(calls.at(-1)).toEqual([tok.mergeCount, 4, 'merging']);
  });
});

describe('what a trained BPE tells the user', () => {
  it('says when it learned from a sample, and when the vocabulary came out smaller than asked', () => {
    expect(bpeTrainingNotices(BPE_TRAINING_MAX_CHARS, 512, 512)).toEqual([]);
    const both = bpeTrainingNotices(50_000_000, 1024, 700);
    expect(both).toHaveLength(2);
    expect(both[0]).toMatch(/^The BPE tokenizer learned its merges from an even sample of 8\.4 million of the text's 50\.0 million characters/);
    expect(both[1]).toMatch(/^The BPE vocabulary has 700 tokens, not the 1024 asked for/);
    expect(bpeTrainingNotices(BPE_TRAINING_MAX_CHARS + 1, 512, 512)).toHaveLength(1);
  });
});
