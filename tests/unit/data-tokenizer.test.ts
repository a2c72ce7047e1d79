import { describe, expect, it } from 'vitest';
import {
  ByteTokenizer,
  END_OF_TEXT_ID,
  END_THINK_ID,
  FIRST_MERGE_ID,
  SPECIAL_TOKENS,
  THINK_ID,
  TokenStreamDecoder,
  BPE_TRAINING_MAX_CHARS,
  bpeTrainingChars,
  buildTokenizer,
  specialTokenId,
  tokenizerFromJSON,
} from '../../src/data/tokenizer';
import { Rng } from '../../src/lib/rng';
import { randomUnicode, wellFormed } from '../util/unicode';

describe('ByteTokenizer', () => {
  const tok = new ByteTokenizer();

  it('has 256 bytes plus the special tokens', () => {
    expect(tok.vocabSize).toBe(259);
    expect(FIRST_MERGE_ID).toBe(259);
    expect([END_OF_TEXT_ID, THINK_ID, END_THINK_ID]).toEqual([256, 257, 258]);
    expect(specialTokenId('<think>')).toBe(THINK_ID);
  });

  it('encodes UTF-8 bytes', () => {
    expect(Array.from(tok.encode('Hé'))).toEqual([72, 0xc3, 0xa9]);
    expect(tok.encode('').length).toBe(0);
  });

  it('encodes specials as single tokens, or as bytes when told not to', () => {
    expect(Array.from(tok.encode('a<think>b</think><|endoftext|>'))).toEqual([97, THINK_ID, 98, END_THINK_ID, END_OF_TEXT_ID]);
    expect(tok.encode('<think>', { specials: false }).length).toBe(7);
    expect(tok.decode([THINK_ID, 104, 105, END_THINK_ID])).toBe('<think>hi</think>');
    expect(tok.decode(tok.encode('<thin>k<think'))).toBe('<thin>k<think');
  });

  it('round-trips random unicode (fuzz)', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 500; i++) {
      const s = randomUnicode(rng, 40);
      const ids = tok.encode(s);
      expect(Math.max(-1, ...ids)).toBeLessThan(tok.vocabSize);
      expect(tok.decode(ids)).toBe(wellFormed(s));
    }
  });

  it('decodes invalid UTF-8 with replacement characters instead of throwing', () => {
    expect(tok.decode([0xff])).toBe('\ufffd');
    expect(tok.decode([0xe2, 0x82])).toBe('\ufffd'); // cut-off 3-byte sequence
    expect(tok.decode([0x61, 0x80, 0x62])).toBe('a\ufffdb');
    expect(tok.decode([0xed, 0xa0, 0x80])).toContain('\ufffd'); // encoded surrogate
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => tok.decode([259])).toThrow(/outside the byte vocabulary/);
    expect(() => tok.decode([-1])).toThrow(RangeError);
  });

  it('streams multi-byte characters whole', () => {
    const dec = new TokenStreamDecoder(tok);
    const ids = tok.encode('a😀<think>é');
    const parts = Array.from(ids, (id) => dec.push(id));
    expect(parts.join('') + dec.flush()).toBe('a😀<think>é');
    expect(parts).not.toContain('\ufffd');
    expect(parts[1]).toBe(''); // first byte of the emoji: held back
  });
});

describe('buildTokenizer', () => {
  it('builds what a run config names', () => {
    expect(buildTokenizer({ kind: 'byte' }, 'ignored').vocabSize).toBe(259);
    const bpe = buildTokenizer({ kind: 'bpe', vocabSize: 270 }, 'the cat sat on the mat. '.repeat(50));
    expect(bpe.kind).toBe('bpe');
    expect(bpe.vocabSize).toBe(270);
    expect(() => buildTokenizer({ kind: 'chars' } as never, '')).toThrow(/tokenizer kind "chars" is unknown/);
  });

  it('passes BPE training progress on, both phases, and says how much text training reads', () => {
    const phases = new Set<string>();
    buildTokenizer({ kind: 'bpe', vocabSize: 270 }, 'the cat sat on the mat. '.repeat(50), (_done, _total, phase) => phases.add(phase));
    expect([...phases]).toEqual(['counting', 'merging']);
    expect(bpeTrainingChars(BPE_TRAINING_MAX_CHARS + 1)).toBe(BPE_TRAINING_MAX_CHARS);
  });
});

describe('tokenizerFromJSON', () => {
  it('round-trips the byte tokenizer through JSON text', () => {
    const json = JSON.parse(JSON.stringify(new ByteTokenizer().toJSON()));
    expect(json.kind).toBe('byte');
    const back = tokenizerFromJSON(json);
    expect(back).toBeInstanceOf(ByteTokenizer);
    expect(back.decode(back.encode('Ishmael'))).toBe('Ishmael');
  });

  it.each([
    [null, /expected an object/],
    [[1, 2], /expected an object/],
    ['byte', /expected an object/],
    [{}, /unknown kind undefined/],
    [{ kind: 'wordpiece' }, /unknown kind "wordpiece"/],
    [{ kind: 'byte', version: 2, specials: [...SPECIAL_TOKENS] }, /unsupported version 2/],
    [{ kind: 'byte', version: 1 }, /specials must be/],
    [{ kind: 'byte', version: 1, specials: ['<think>'] }, /specials must be/],
  ])('rejects %j', (obj, message) => {
    expect(() => tokenizerFromJSON(obj)).toThrow(message);
  });
});
