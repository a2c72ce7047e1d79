/**
 * The types every tokenizer shares, in a module of their own so that tokenizer.ts (which builds tokenizers) and
 * bpe.ts (one kind of tokenizer) both import them and neither imports the other's types.
 */

export interface EncodeOptions {
  /**
   * Whether the literal texts of special tokens (`<think>` ...) become their single special ids. Default true.
   * Set false to encode them as ordinary bytes, e.g. for untrusted text that must not inject control tokens.
   */
  specials?: boolean;
}

export interface Tokenizer {
  readonly kind: 'byte' | 'bpe';
  /** Number of distinct ids; every id is in [0, vocabSize). */
  readonly vocabSize: number;
  encode(text: string, options?: EncodeOptions): Uint32Array;
  /** Text of the ids; invalid UTF-8 (e.g. a cut multi-byte character) becomes U+FFFD, never an exception. */
  decode(ids: ArrayLike<number>): string;
  /** The bytes one id stands for (a special token's are its UTF-8 text). Throws RangeError outside the vocabulary. */
  tokenBytes(id: number): Uint8Array;
  toJSON(): TokenizerJSON;
}

export interface ByteTokenizerJSON {
  kind: 'byte';
  version: 1;
  specials: string[];
}

/** Serialised BPE tokenizer, stored in checkpoints. */
export interface BpeTokenizerJSON {
  kind: 'bpe';
  version: 1;
  pretokenizer: string;
  specials: string[];
  vocabSize: number;
  /** Flat pairs: merge i joins ids merges[2i] and merges[2i+1] into id 259 + i. */
  merges: number[];
}

export type TokenizerJSON = ByteTokenizerJSON | BpeTokenizerJSON;
