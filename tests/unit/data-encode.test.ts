import { describe, expect, it } from 'vitest';
import { encodeInPieces, makeDataset } from '../../src/data/batches';
import { generateSimpleStories } from '../../src/data/corpora';
import { buildTokenizer, ByteTokenizer, SPECIAL_TOKENS, type Tokenizer } from '../../src/data/tokenizer';

/** Text that stresses every rule of the pre-split near a cut: runs of spaces, tabs, CRLF, digits, contractions, marks, emoji, specials. */
function awkwardText(n: number): string {
  const parts = [
    'the', ' ', '  ', '\n', '\n\n', '\t', '\r\n', ' \n ', "don't", "'ll", '12345', '6', '--', '...', 'é', 'e\u0301',
    '\u{1F600}', '\u4e2d\u6587', '\u3000', ...SPECIAL_TOKENS, 'a', 'b', ' x', 'y ', '\u00a0',
  ];
  let seed = 7;
  let s = '';
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    s += parts[seed % parts.length];
  }
  return s;
}

const bpe = (text: string): Tokenizer => buildTokenizer({ kind: 'bpe', vocabSize: 400 }, text);

describe('encodeInPieces', () => {
  const text = awkwardText(1500) + generateSimpleStories({ targetBytes: 2000 });
  const tokenizers: [string, Tokenizer][] = [['byte', new ByteTokenizer()], ['bpe', bpe(text)]];

  it.each(tokenizers)('gives the same tokens as one encode call, for any piece size (%s)', (_, tok) => {
    const whole = tok.encode(text);
    for (const piece of [1, 3, 8, 64, 1000]) {
      expect(encodeInPieces(tok, text, undefined, piece), `pieces of ${piece}`).toEqual(whole);
    }
  });

  it('reports progress from 0 to the text length, rising, once per piece', () => {
    const calls: [number, number][] = [];
    encodeInPieces(new ByteTokenizer(), text, (done, total) => calls.push([done, total]), 500);
    expect(calls[0]).toEqual([0, text.length]);
    expect(calls.at(-1)).toEqual([text.length, text.length]);
    for (let i = 1; i < calls.length; i++) expect(calls[i][0]).toBeGreaterThan(calls[i - 1][0]);
    expect(calls.length).toBeGreaterThan(text.length / 600);
    expect(calls.length).toBeLessThan(text.length / 500 + 3);
  });

  it('a text with no safe cut is one piece; an empty text reports 0 of 0', () => {
    const calls: number[] = [];
    const solid = 'x'.repeat(100);
    expect(encodeInPieces(new ByteTokenizer(), solid, (d) => calls.push(d), 10)).toEqual(new ByteTokenizer().encode(solid));
    expect(calls).toEqual([0, 100]);
    const none: [number, number][] = [];
    expect(encodeInPieces(new ByteTokenizer(), '', (d, t) => none.push([d, t]))).toEqual(new Uint32Array(0));
    expect(none).toEqual([[0, 0]]);
  });

  it('makeDataset passes its progress through', () => {
    const seen: number[] = [];
    const d = makeDataset(text, new ByteTokenizer(), 0.1, (done) => seen.push(done));
    expect(seen.at(-1)).toBe(text.length);
    expect(d.tokens).toEqual(new ByteTokenizer().encode(text));
  });
});
