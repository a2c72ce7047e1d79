/**
 * Tokenizers: text ⇄ token ids. Two kinds share one id layout (see specials.ts):
 *   0..255   the UTF-8 bytes of the text
 *   256..258 special tokens `<|endoftext|>`, `<think>`, `</think>` (single tokens, same ids in every tokenizer)
 *   259..    BPE merges (bpe.ts)
 * Every tokenizer serialises to a plain JSON object with a `kind` field (saved with checkpoints) and
 * {@link tokenizerFromJSON} rebuilds it, rejecting malformed objects with a message naming the field.
 */
import { BpeTokenizer } from './bpe';
import { trainBpe, type BpeTrainPhase } from './bpe-train';
import {
  BYTE_TOKEN_COUNT,
  FIRST_MERGE_ID,
  IdBuffer,
  SPECIAL_TOKENS,
  SPECIAL_TOKEN_BYTES,
  checkSerialisedSpecials,
  splitOnSpecials,
  utf8Decode,
  utf8Encode,
} from './specials';
import type { ByteTokenizerJSON, EncodeOptions, Tokenizer } from './tokenizer-types';

export type { BpeTokenizerJSON, ByteTokenizerJSON, EncodeOptions, Tokenizer, TokenizerJSON } from './tokenizer-types';
// What a caller of buildTokenizer needs to tell the user that a big text's merges came from a sample.
export { BPE_TRAINING_MAX_CHARS, bpeTrainingChars, bpeTrainingNotices, type BpeTrainPhase } from './bpe-train';
export {
  BYTE_TOKEN_COUNT,
  END_OF_TEXT_ID,
  END_THINK_ID,
  FIRST_MERGE_ID,
  SPECIAL_TOKENS,
  THINK_ID,
  isSpecialId,
  specialTokenId,
  type SpecialToken,
} from './specials';

/** One token per UTF-8 byte, plus the special tokens: vocabSize 259. */
export class ByteTokenizer implements Tokenizer {
  readonly kind = 'byte' as const;
  readonly vocabSize = FIRST_MERGE_ID;

  encode(text: string, options?: EncodeOptions): Uint32Array {
    const out = new IdBuffer();
    splitOnSpecials(
      text,
      options?.specials ?? true,
      (piece) => out.pushAll(utf8Encode(piece)),
      (id) => out.push(id),
    );
    return out.toArray();
  }

  decode(ids: ArrayLike<number>): string {
    const bytes = new IdBuffer();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id < BYTE_TOKEN_COUNT && id >= 0 && Number.isInteger(id)) bytes.push(id);
      else bytes.pushAll(this.tokenBytes(id));
    }
    return utf8Decode(Uint8Array.from(bytes.toArray()));
  }

  tokenBytes(id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RangeError(`token id ${id} is outside the byte vocabulary (0..${this.vocabSize - 1})`);
    }
    return id < BYTE_TOKEN_COUNT ? Uint8Array.of(id) : SPECIAL_TOKEN_BYTES[id - BYTE_TOKEN_COUNT];
  }

  toJSON(): ByteTokenizerJSON {
    return { kind: 'byte', version: 1, specials: [...SPECIAL_TOKENS] };
  }
}

/** Rebuilds a tokenizer from its `toJSON()` object (e.g. read from a checkpoint); throws TypeError naming what is wrong. */
export function tokenizerFromJSON(obj: unknown): Tokenizer {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new TypeError(`tokenizer JSON: expected an object with a 'kind' field, got ${obj === null ? 'null' : Array.isArray(obj) ? 'an array' : typeof obj}`);
  }
  const o = obj as Record<string, unknown>;
  switch (o.kind) {
    case 'byte':
      if (o.version !== 1) throw new TypeError(`byte tokenizer JSON: unsupported version ${JSON.stringify(o.version)} (this build reads version 1)`);
      checkSerialisedSpecials(o.specials, 'byte tokenizer JSON');
      return new ByteTokenizer();
    case 'bpe':
      return BpeTokenizer.fromJSON(o);
    default:
      throw new TypeError(`tokenizer JSON: unknown kind ${JSON.stringify(o.kind) ?? 'undefined'}; expected 'byte' or 'bpe'`);
  }
}

/** What a run config says about its tokenizer. */
export type TokenizerSpec = { kind: 'byte' } | { kind: 'bpe'; vocabSize: number };

/**
 * The tokenizer a run asks for: the byte tokenizer, or a BPE trained on `text` (see trainBpe for `onProgress`; its
 * merges come from at most BPE_TRAINING_MAX_CHARS of the text, see bpeTrainingChars).
 */
export function buildTokenizer(
  spec: TokenizerSpec,
  text: string,
  onProgress?: (done: number, total: number, phase: BpeTrainPhase) => void,
): Tokenizer {
  if (spec.kind === 'byte') return new ByteTokenizer();
  if (spec.kind === 'bpe') return trainBpe(text, { vocabSize: spec.vocabSize, onProgress });
  throw new TypeError(`tokenizer kind ${JSON.stringify((spec as { kind: unknown }).kind)} is unknown; use 'byte' or 'bpe'`);
}

/**
 * Turns a stream of sampled ids into text as it grows, holding back a multi-byte character until all of its bytes
 * have arrived (so the UI never flashes U+FFFD mid-character).
 */
export class TokenStreamDecoder {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  constructor(private readonly tokenizer: Tokenizer) {}

  /** Text completed by this id (possibly empty). */
  push(id: number): string {
    return this.decoder.decode(this.tokenizer.tokenBytes(id), { stream: true });
  }

  /** Text still held back (an incomplete character becomes U+FFFD); the decoder can then be reused. */
  flush(): string {
    return this.decoder.decode();
  }
}
