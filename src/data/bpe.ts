/**
 * Byte-level BPE, trainable in the page on the current corpus.
 *
 * Vocabulary: ids 0..255 are bytes, 256..258 the special tokens (see specials.ts), then one id per merge in the
 * order learned. `vocabSize` counts all of them, so a 1024 vocabulary has 765 merges.
 *
 * Training: the text is pre-split into chunks (words with their leading space, number groups, punctuation runs,
 * whitespace runs; at most MAX_CHUNK_UNITS UTF-16 units each) and merges never cross a chunk boundary. Unique chunks
 * are counted once; pair counts live in a map updated incrementally after each merge (only the words that contain
 * the merged pair are revisited, found through a per-pair index), and the best pair comes from a lazy max-heap.
 * Ties go to the smallest (left id, right id), so training is deterministic. Pairs seen fewer than twice are never
 * merged: on a small corpus the vocabulary can come out smaller than asked (check `vocabSize`).
 *
 * Encoding applies merges by rank inside each chunk, which reproduces training's segmentation exactly. Round trip is
 * lossless at the UTF-8 level: decode(encode(s)) equals s for every well-formed string (lone surrogates, which
 * UTF-8 cannot represent, come back as U+FFFD, as with any UTF-8 encoder).
 */
import type { EncodeOptions, Tokenizer } from './tokenizer';
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
import { PRETOKENIZER_VERSION, pretokenize } from './pretokenize';

export { MAX_CHUNK_UNITS, PRETOKENIZER_VERSION, pretokenize } from './pretokenize';

/** The largest vocabulary: pair keys pack two ids into 32 bits. */
export const MAX_BPE_VOCAB_SIZE = 65536;

export interface BpeTrainOptions {
  /** Total vocabulary: 256 bytes + 3 specials + merges; an integer in [259, 65536]. */
  vocabSize: number;
  /** Called now and then with merges done and merges wanted (e.g. for a progress bar). */
  onProgress?: (mergesDone: number, mergesWanted: number) => void;
}

/** Serialised form, stored in checkpoints. */
export interface BpeTokenizerJSON {
  kind: 'bpe';
  version: 1;
  pretokenizer: string;
  specials: string[];
  vocabSize: number;
  /** Flat pairs: merge i joins ids merges[2i] and merges[2i+1] into id 259 + i. */
  merges: number[];
}

/** Max-heap of (count, pair key): higher count first, then smaller key. Entries go stale; callers re-check. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  private above(i: number, j: number): boolean {
    const ci = this.counts[i];
    const cj = this.counts[j];
    return ci > cj || (ci === cj && this.keys[i] < this.keys[j]);
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i];
    this.counts[i] = this.counts[j];
    this.counts[j] = c;
    const k = this.keys[i];
    this.keys[i] = this.keys[j];
    this.keys[j] = k;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Removes the top; returns [count, key]. */
  pop(): [number, number] {
    const top: [number, number] = [this.counts[0], this.keys[0]];
    const lastCount = this.counts.pop()!;
    const lastKey = this.keys.pop()!;
    const n = this.keys.length;
    if (n > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < n && this.above(l, best)) best = l;
        if (r < n && this.above(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

const pairKey = (a: number, b: number): number => a * 65536 + b;

/** Learns a BPE vocabulary of (at most) `options.vocabSize` tokens from `text`. */
export function trainBpe(text: string, options: BpeTrainOptions): BpeTokenizer {
  const { vocabSize } = options;
  if (!Number.isInteger(vocabSize) || vocabSize < FIRST_MERGE_ID || vocabSize > MAX_BPE_VOCAB_SIZE) {
    throw new RangeError(
      `BPE vocabSize ${vocabSize} is out of range: it counts the ${BYTE_TOKEN_COUNT} byte tokens and ` +
        `${SPECIAL_TOKENS.length} special tokens, so use an integer from ${FIRST_MERGE_ID} to ${MAX_BPE_VOCAB_SIZE}`,
    );
  }
  const mergesWanted = vocabSize - FIRST_MERGE_ID;

  // 1. Unique chunks with their frequencies (special tokens are not trained on).
  const chunkCounts = new Map<string, number>();
  const countChunk = (chunk: string): void => {
    chunkCounts.set(chunk, (chunkCounts.get(chunk) ?? 0) + 1);
  };
  splitOnSpecials(text, true, (piece) => pretokenize(piece, countChunk), () => {});

  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [chunk, count] of chunkCounts) {
    const bytes = utf8Encode(chunk);
    if (bytes.length < 2) continue;
    words.push(Array.from(bytes));
    freqs.push(count);
  }

  // 2. Initial pair counts and the index of words holding each pair.
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  const indexWord = (k: number, w: number): void => {
    const list = pairWords.get(k);
    if (list === undefined) pairWords.set(k, [w]);
    else if (list[list.length - 1] !== w) list.push(w);
  };
  for (let w = 0; w < words.length; w++) {
    const word = words[w];
    const f = freqs[w];
    for (let i = 0; i + 1 < word.length; i++) {
      const k = pairKey(word[i], word[i + 1]);
      pairCounts.set(k, (pairCounts.get(k) ?? 0) + f);
      indexWord(k, w);
    }
  }
  const heap = new PairHeap();
  for (const [k, c] of pairCounts) heap.push(c, k);

  // 3. Merge the most frequent pair, updating only the words that contain it.
  const merges: number[] = [];
  const visited = new Int32Array(words.length).fill(-1);
  const delta = new Map<number, number>();
  const addDelta = (k: number, d: number): void => {
    delta.set(k, (delta.get(k) ?? 0) + d);
  };
  while (merges.length / 2 < mergesWanted && heap.size > 0) {
    const [count, key] = heap.pop();
    if (pairCounts.get(key) !== count) continue; // stale entry
    if (count < 2) break;
    const a = Math.floor(key / 65536);
    const b = key % 65536;
    const mergeIndex = merges.length / 2;
    const newId = FIRST_MERGE_ID + mergeIndex;
    merges.push(a, b);
    delta.clear();
    for (const w of pairWords.get(key) ?? []) {
      if (visited[w] === mergeIndex) continue;
      visited[w] = mergeIndex;
      // Merge in place, updating only the pairs next to each occurrence. Between two adjacent occurrences
      // (... a b a b ...) the old pair (b, a) is removed once and the new pair (c, c) added once.
      const word = words[w];
      const f = freqs[w];
      const n = word.length;
      let j = 0;
      let prevWasMerge = false;
      for (let i = 0; i < n; i++) {
        if (i + 1 < n && word[i] === a && word[i + 1] === b) {
          if (j > 0) {
            const left = word[j - 1];
            if (!prevWasMerge) addDelta(pairKey(left, a), -f);
            addDelta(pairKey(left, newId), f);
            indexWord(pairKey(left, newId), w);
          }
          if (i + 2 < n) {
            const right = word[i + 2];
            addDelta(pairKey(b, right), -f);
            if (!(i + 3 < n && right === a && word[i + 3] === b)) {
              addDelta(pairKey(newId, right), f);
              indexWord(pairKey(newId, right), w);
            }
          }
          word[j++] = newId;
          i++;
          prevWasMerge = true;
        } else {
          word[j++] = word[i];
          prevWasMerge = false;
        }
      }
      word.length = j; // unchanged when the pair left this word in an earlier merge
    }
    for (const [k, d] of delta) {
      if (d === 0) continue;
      const c = (pairCounts.get(k) ?? 0) + d;
      if (c > 0) {
        pairCounts.set(k, c);
        heap.push(c, k);
      } else {
        pairCounts.delete(k);
        pairWords.delete(k);
      }
    }
    pairCounts.delete(key);
    pairWords.delete(key);
    if (options.onProgress && mergeIndex % 64 === 0) options.onProgress(mergeIndex, mergesWanted);
  }
  options.onProgress?.(merges.length / 2, mergesWanted);
  return new BpeTokenizer(merges);
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

  /** `merges` as flat pairs; assumed valid (fromJSON validates untrusted input). */
  constructor(merges: ArrayLike<number>) {
    this.merges = Uint32Array.from(merges);
    const mergeCount = this.merges.length / 2;
    this.vocabSize = FIRST_MERGE_ID + mergeCount;
    for (let i = 0; i < BYTE_TOKEN_COUNT; i++) this.bytesById.push(Uint8Array.of(i));
    for (const bytes of SPECIAL_TOKEN_BYTES) this.bytesById.push(bytes);
    for (let i = 0; i < mergeCount; i++) {
      const a = this.merges[2 * i];
      const b = this.merges[2 * i + 1];
      this.ranks.set(pairKey(a, b), i);
      const left = this.bytesById[a];
      const right = this.bytesById[b];
      const joined = new Uint8Array(left.length + right.length);
      joined.set(left);
      joined.set(right, left.length);
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
    const expectedSize = FIRST_MERGE_ID + merges.length / 2;
    if (o.vocabSize !== expectedSize) {
      throw new TypeError(`${where}: vocabSize ${JSON.stringify(o.vocabSize)} does not match ${merges.length / 2} merges (expected ${expectedSize})`);
    }
    if (expectedSize > MAX_BPE_VOCAB_SIZE) throw new TypeError(`${where}: vocabSize ${expectedSize} exceeds ${MAX_BPE_VOCAB_SIZE}`);
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
