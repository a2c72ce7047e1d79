/**
 * Byte-level BPE: the tokenizer (this file) and its training (bpe-train.ts).
 *
 * Vocabulary: ids 0..255 are bytes, 256..258 the special tokens (see specials.ts), then one id per merge in the
 * order learned. `vocabSize` counts all of them, so a 1024 vocabulary has 765 merges.
 *
 * Encoding applies merges by rank inside each pre-split chunk (pretokenize.ts), which reproduces training's
 * segmentation exactly. Round trip is lossless at the UTF-8 level: decode(encode(s)) equals s for every well-formed
 * string (lone surrogates, which UTF-8 cannot represent, come back as U+FFFD, as with any UTF-8 encoder).
 *
 * A merge table from a file is hostile: each merge may join a token with itself, doubling its length, so ~30 merges
 * in a few hundred bytes of JSON would ask for gigabytes. Every token's length is computed as a number first and
 * checked against MAX_BPE_TOKEN_BYTES and MAX_BPE_TABLE_BYTES before any token's bytes are built.
 */
import type { BpeTokenizerJSON, EncodeOptions, Tokenizer } from './tokenizer-types';
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
import { MAX_CHUNK_UNITS, PRETOKENIZER_VERSION, pretokenize } from './pretokenize';

export { MAX_CHUNK_UNITS, PRETOKENIZER_VERSION, pretokenize } from './pretokenize';
export type { BpeTokenizerJSON } from './tokenizer-types';

/** The largest vocabulary: pair keys pack two ids into 32 bits. */
export const MAX_BPE_VOCAB_SIZE = 65536;

/**
 * Longest token, in bytes. Merges never cross a pre-split chunk, and a chunk is at most MAX_CHUNK_UNITS (64) UTF-16
 * units, each at most 3 UTF-8 bytes, so no trained token exceeds 192 bytes; 256 leaves room and is still tiny.
 * (Real vocabularies' tokens are short: a 50k English BPE averages under 10 bytes.)
 */
export const MAX_BPE_TOKEN_BYTES = 256;

/** The most bytes a chunk, and so a trained token, can hold: 3 per UTF-16 unit. */
export const MAX_CHUNK_BYTES = 3 * MAX_CHUNK_UNITS;

/**
 * Largest merge table: the bytes of all tokens together (bytes, specials and merged). 4 MiB lets all 65,536 tokens
 * average 64 bytes, several times what real vocabularies use, and is a small allocation.
 */
export const MAX_BPE_TABLE_BYTES = 4 * 2 ** 20;

const pairKey = (a: number, b: number): number => a * 65536 + b;

/**
 * Byte length of every token of a merge table (ids must be valid: each merge joins earlier ids), computed as numbers
 * before anything is built. Throws TypeError naming the first merge over `maxTokenBytes` or `maxTableBytes`.
 */
export function bpeTokenLengths(
  merges: ArrayLike<number>,
  where = 'BPE merges',
  maxTokenBytes = MAX_BPE_TOKEN_BYTES,
  maxTableBytes = MAX_BPE_TABLE_BYTES,
): Uint32Array {
  const mergeCount = merges.length >> 1;
  const lengths = new Uint32Array(FIRST_MERGE_ID + mergeCount);
  let total = 0;
  for (let id = 0; id < FIRST_MERGE_ID; id++) {
    lengths[id] = id < BYTE_TOKEN_COUNT ? 1 : SPECIAL_TOKEN_BYTES[id - BYTE_TOKEN_COUNT].length;
    total += lengths[id];
  }
  for (let i = 0; i < mergeCount; i++) {
    const n = lengths[merges[2 * i]] + lengths[merges[2 * i + 1]];
    if (n > maxTokenBytes) {
      throw new TypeError(`${where}: merge ${i} makes a token of ${n} bytes, over the ${maxTokenBytes}-byte cap on a token; the tokenizer is corrupt or hostile`);
    }
    total += n;
    if (total > maxTableBytes) {
      throw new TypeError(`${where}: merge ${i} brings the tokens to ${total} bytes, over the ${maxTableBytes}-byte cap on a merge table; the tokenizer is corrupt or hostile`);
    }
    lengths[FIRST_MERGE_ID + i] = n;
  }
  return lengths;
}

/** A trained byte-level BPE tokenizer. Build with {@link trainBpe} or {@link BpeTokenizer.fromJSON}. */
export class BpeTokenizer implements Tokenizer {
  readonly kind = 'bpe' as const;
  readonly vocabSize: number;
  /** Flat merge pairs, in rank order. */
  private readonly merges: Uint32Array;
  /** pairKey → rank (merge index). */
  private readonly ranks = new Map<number, number>();
  private readonly bytesById: Uint8Array[] = [];
  private readonly cache = new Map<string, Uint32Array>();

  /** `merges` as flat pairs of earlier ids (fromJSON checks untrusted input); lengths are checked before building. */
  constructor(merges: ArrayLike<number>) {
    this.merges = Uint32Array.from(merges);
    const mergeCount = this.merges.length / 2;
    this.vocabSize = FIRST_MERGE_ID + mergeCount;
    const lengths = bpeTokenLengths(this.merges); // throws before allocating a hostile table
    let total = 0;
    for (const n of lengths) total += n;
    const arena = new Uint8Array(total);
    let at = 0;
    const take = (n: number) => arena.subarray(at, (at += n));
    for (let i = 0; i < BYTE_TOKEN_COUNT; i++) {
      const byte = take(1);
      byte[0] = i;
      this.bytesById.push(byte);
    }
    for (const bytes of SPECIAL_TOKEN_BYTES) {
      const copy = take(bytes.length);
      copy.set(bytes);
      this.bytesById.push(copy);
    }
    for (let i = 0; i < mergeCount; i++) {
      const a = this.merges[2 * i];
      const b = this.merges[2 * i + 1];
      this.ranks.set(pairKey(a, b), i);
      const left = this.bytesById[a];
      const joined = take(left.length + this.bytesById[b].length);
      joined.set(left);
      joined.set(this.bytesById[b], left.length);
      this.bytesById.push(joined);
    }
  }

  /** Rebuilds a tokenizer from {@link BpeTokenizer.toJSON}'s output, checking every field. */
  static fromJSON(obj: unknown): BpeTokenizer {
    const where = 'BPE tokenizer JSON';
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new TypeError(`${where}: expected an object`);
    const o = obj as Record<string, unknown>;
    if (o.kind !== 'bpe') throw new TypeError(`${where}: kind must be 'bpe', got ${JSON.stringify(o.kind)}`);
    if (o.version !== 1) throw new TypeError(`${where}: unsupported version ${JSON.stringify(o.version)} (this build reads version 1)`);
    if (o.pretokenizer !== PRETOKENIZER_VERSION) {
      throw new TypeError(`${where}: pretokenizer ${JSON.stringify(o.pretokenizer)} is not '${PRETOKENIZER_VERSION}', the one this build implements`);
    }
    checkSerialisedSpecials(o.specials, where);
    const merges = o.merges;
    if (!Array.isArray(merges) || merges.length % 2 !== 0) {
      throw new TypeError(`${where}: merges must be an array of id pairs (even length), got ${Array.isArray(merges) ? `length ${merges.length}` : typeof merges}`);
    }
    const expectedSize = FIRST_MERGE_ID + merges.length / 2;
    if (expectedSize > MAX_BPE_VOCAB_SIZE) {
      throw new TypeError(`${where}: ${merges.length / 2} merges make a vocabulary of ${expectedSize}, over the largest, ${MAX_BPE_VOCAB_SIZE}`);
    }
    const seen = new Set<number>();
    for (let i = 0; i < merges.length; i += 2) {
      const idLimit = FIRST_MERGE_ID + i / 2; // a merge may only use ids that exist before it
      for (const id of [merges[i], merges[i + 1]] as unknown[]) {
        if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= idLimit) {
          throw new TypeError(`${where}: merge ${i / 2} uses ${JSON.stringify(id)}; ids must be integers below ${idLimit}`);
        }
        if (id >= BYTE_TOKEN_COUNT && id < FIRST_MERGE_ID) throw new TypeError(`${where}: merge ${i / 2} uses special token id ${id}`);
      }
      const k = pairKey(merges[i] as number, merges[i + 1] as number);
      if (seen.has(k)) throw new TypeError(`${where}: merge ${i / 2} repeats the pair (${merges[i]}, ${merges[i + 1]})`);
      seen.add(k);
    }
    if (o.vocabSize !== expectedSize) {
      throw new TypeError(`${where}: vocabSize ${JSON.stringify(o.vocabSize)} does not match ${merges.length / 2} merges (expected ${expectedSize})`);
    }
    bpeTokenLengths(merges as number[], where); // token and table sizes, as numbers, before any bytes are built
    return new BpeTokenizer(merges as number[]);
  }

  toJSON(): BpeTokenizerJSON {
    return {
      kind: 'bpe',
      version: 1,
      pretokenizer: PRETOKENIZER_VERSION,
      specials: [...SPECIAL_TOKENS],
      vocabSize: this.vocabSize,
      merges: Array.from(this.merges),
    };
  }

  /** Number of merges learned (vocabSize − 259). */
  get mergeCount(): number {
    return this.merges.length / 2;
  }

  encode(text: string, options?: EncodeOptions): Uint32Array {
    const out = new IdBuffer();
    splitOnSpecials(
      text,
      options?.specials ?? true,
      (piece) => pretokenize(piece, (chunk) => out.pushAll(this.encodeChunk(chunk))),
      (id) => out.push(id),
    );
    return out.toArray();
  }

  decode(ids: ArrayLike<number>): string {
    return utf8Decode(this.decodeBytes(ids));
  }

  /** The bytes a sequence of ids stands for (specials as their UTF-8 text). */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    let total = 0;
    for (let i = 0; i < ids.length; i++) total += this.tokenBytes(ids[i]).length;
    const out = new Uint8Array(total);
    let at = 0;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.bytesById[ids[i]];
      out.set(bytes, at);
      at += bytes.length;
    }
    return out;
  }

  tokenBytes(id: number): Uint8Array {
    const bytes = Number.isInteger(id) ? this.bytesById[id] : undefined;
    if (bytes === undefined) throw new RangeError(`token id ${id} is outside this BPE vocabulary (0..${this.vocabSize - 1})`);
    return bytes;
  }

  private encodeChunk(chunk: string): Uint32Array {
    const cached = this.cache.get(chunk);
    if (cached !== undefined) return cached;
    let symbols: number[];
    let ascii = true;
    for (let i = 0; i < chunk.length && ascii; i++) ascii = chunk.charCodeAt(i) < 0x80;
    if (ascii) {
      symbols = new Array<number>(chunk.length);
      for (let i = 0; i < chunk.length; i++) symbols[i] = chunk.charCodeAt(i);
    } else symbols = Array.from(utf8Encode(chunk));
    // Repeatedly merge every occurrence of the lowest-ranked adjacent pair, as training did.
    while (symbols.length > 1) {
      let bestRank = -1;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const r = this.ranks.get(pairKey(symbols[i], symbols[i + 1]));
        if (r !== undefined && (bestRank < 0 || r < bestRank)) bestRank = r;
      }
      if (bestRank < 0) break;
      const a = this.merges[2 * bestRank];
      const b = this.merges[2 * bestRank + 1];
      const newId = FIRST_MERGE_ID + bestRank;
      const next: number[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
          next.push(newId);
          i++;
        } else next.push(symbols[i]);
      }
      symbols = next;
    }
    const ids = Uint32Array.from(symbols);
    if (this.cache.size >= 200_000) this.cache.clear(); // bound memory on huge, varied texts
    this.cache.set(chunk, ids);
    return ids;
  }
}
