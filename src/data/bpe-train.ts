/**
 * BPE training, in the page, on the current corpus (the tokenizer itself is in bpe.ts).
 *
 * The text is pre-split into chunks (words with their leading space, number groups, punctuation runs, whitespace
 * runs; at most MAX_CHUNK_UNITS UTF-16 units each) and merges never cross a chunk boundary. Unique chunks are counted
 * once; pair counts live in a map updated incrementally after each merge (only the words that contain the merged pair
 * are revisited, found through a per-pair index), and the best pair comes from a lazy max-heap. Ties go to the
 * smallest (left id, right id), so training is deterministic. Pairs seen fewer than twice are never merged, nor pairs
 * that would make a token longer than MAX_BPE_TOKEN_BYTES, and merging stops before the table passes
 * MAX_BPE_TABLE_BYTES, so every trained tokenizer loads again: on a small corpus the vocabulary can come out smaller
 * than asked (check `vocabSize`).
 *
 * A big upload is not learned from whole: the merges come from at most BPE_TRAINING_MAX_CHARS of it (an even,
 * deterministic sample of whole chunks, see bpeTrainingChars), and the caller encodes the whole text with them.
 */
import { BpeTokenizer, MAX_BPE_TABLE_BYTES, MAX_BPE_TOKEN_BYTES, MAX_BPE_VOCAB_SIZE, bpeTokenLengths } from './bpe';
import { pretokenize } from './pretokenize';
import { BYTE_TOKEN_COUNT, FIRST_MERGE_ID, SPECIAL_TOKENS, splitOnSpecials, utf8Encode } from './specials';

/**
 * Most text BPE training learns merges from, in UTF-16 units (8 MiB: 8 MB of ASCII). Counting a 50 MB upload whole
 * took over a minute and near 3 GB of heap; an evenly spread 8 MB sample holds the frequent pairs of any corpus big
 * enough to need it (a 1 MB sample already gives a 1024-token vocabulary that compresses Moby Dick below 0.6
 * tokens per byte), and keeps counting's heap a fraction of that.
 */
export const BPE_TRAINING_MAX_CHARS = 8 * 2 ** 20;
/** A sampled text is read in this many evenly spaced slices, so every part of the corpus contributes. */
const SAMPLE_SLICES = 256;

/** How many characters (UTF-16 units) of a text this long BPE training learns from; less than the length means sampled. */
export function bpeTrainingChars(textLength: number): number {
  return Math.min(textLength, BPE_TRAINING_MAX_CHARS);
}

/**
 * What a BPE trained on a text of `textLength` characters did differently from what was asked, in words for the
 * page: it learned from a sample (see bpeTrainingChars), or it found fewer merges than the vocabulary asked for.
 */
export function bpeTrainingNotices(textLength: number, askedVocabSize: number, learnedVocabSize: number): string[] {
  const notices: string[] = [];
  const sampled = bpeTrainingChars(textLength);
  const millions = (n: number) => `${(n / 1e6).toFixed(1)} million`;
  if (sampled < textLength) {
    notices.push(`The BPE tokenizer learned its merges from an even sample of ${millions(sampled)} of the text's ${millions(textLength)} ` +
      'characters, which bounds its training time and memory; the whole text is encoded with them and trained on.');
  }
  if (learnedVocabSize < askedVocabSize) {
    notices.push(`The BPE vocabulary has ${learnedVocabSize} tokens, not the ${askedVocabSize} asked for: the text has no more pairs ` +
      'that occur at least twice. A longer text gives a larger vocabulary.');
  }
  return notices;
}

/** What training is doing: counting the chunks of the text, then learning merges. */
export type BpeTrainPhase = 'counting' | 'merging';

export interface BpeTrainOptions {
  /** Total vocabulary: 256 bytes + 3 specials + merges; an integer in [259, 65536]. */
  vocabSize: number;
  /**
   * Called now and then for a progress bar: while counting with characters counted and characters to count
   * (see bpeTrainingChars), then with merges done and merges wanted.
   */
  onProgress?: (done: number, total: number, phase: BpeTrainPhase) => void;
  /** Longest token in bytes; at most, and by default, MAX_BPE_TOKEN_BYTES. */
  maxTokenBytes?: number;
  /** Most bytes of all tokens together; at most, and by default, MAX_BPE_TABLE_BYTES. */
  maxTableBytes?: number;
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

/** Unique chunks of the text (or of its sample) with their frequencies; special tokens are not trained on. */
function countChunks(text: string, onProgress: BpeTrainOptions['onProgress']): Map<string, number> {
  const counts = new Map<string, number>();
  const total = bpeTrainingChars(text.length);
  let done = 0;
  let chunks = 0;
  onProgress?.(0, total, 'counting');
  const count = (chunk: string): void => {
    counts.set(chunk, (counts.get(chunk) ?? 0) + 1);
    done += chunk.length;
    if (onProgress && (++chunks & 0xffff) === 0) onProgress(done, total, 'counting');
  };
  if (text.length <= BPE_TRAINING_MAX_CHARS) {
    splitOnSpecials(text, true, (piece) => pretokenize(piece, count), () => {});
  } else {
    const sliceChars = BPE_TRAINING_MAX_CHARS / SAMPLE_SLICES;
    const stride = text.length / SAMPLE_SLICES;
    for (let s = 0; s < SAMPLE_SLICES; s++) {
      const start = Math.floor(s * stride);
      // A slice's first and last chunks may be cut words: count only the whole chunks between them.
      let first = true;
      let pending: string | null = null;
      const whole = (chunk: string): void => {
        if (first) first = false;
        else {
          if (pending !== null) count(pending);
          pending = chunk;
        }
      };
      splitOnSpecials(text.slice(start, start + sliceChars), true, (piece) => pretokenize(piece, whole), () => {});
      done = (s + 1) * sliceChars;
      if (s + 1 < SAMPLE_SLICES) onProgress?.(done, total, 'counting');
    }
  }
  onProgress?.(total, total, 'counting');
  return counts;
}

function checkLimit(name: string, value: number | undefined, min: number, max: number): number {
  if (value === undefined) return max;
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`BPE ${name} ${value} must be an integer from ${min} to ${max}`);
  return value;
}

/** Learns a BPE vocabulary of (at most) `options.vocabSize` tokens from `text` (or its sample, see bpeTrainingChars). */
export function trainBpe(text: string, options: BpeTrainOptions): BpeTokenizer {
  const { vocabSize } = options;
  if (!Number.isInteger(vocabSize) || vocabSize < FIRST_MERGE_ID || vocabSize > MAX_BPE_VOCAB_SIZE) {
    throw new RangeError(
      `BPE vocabSize ${vocabSize} is out of range: it counts the ${BYTE_TOKEN_COUNT} byte tokens and ` +
        `${SPECIAL_TOKENS.length} special tokens, so use an integer from ${FIRST_MERGE_ID} to ${MAX_BPE_VOCAB_SIZE}`,
    );
  }
  const maxTokenBytes = checkLimit('maxTokenBytes', options.maxTokenBytes, 2, MAX_BPE_TOKEN_BYTES);
  const maxTableBytes = checkLimit('maxTableBytes', options.maxTableBytes, 0, MAX_BPE_TABLE_BYTES);
  const mergesWanted = vocabSize - FIRST_MERGE_ID;

  // 1. Unique chunks as byte words with their frequencies.
  const chunkCounts = countChunks(text, options.onProgress);
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [chunk, count] of chunkCounts) {
    const bytes = utf8Encode(chunk);
    if (bytes.length < 2) continue;
    words.push(Array.from(bytes));
    freqs.push(count);
  }
  chunkCounts.clear();

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
  const tokenBytes = Array.from(bpeTokenLengths([])); // byte length of every id so far
  let tableBytes = tokenBytes.reduce((sum, n) => sum + n, 0);
  while (merges.length / 2 < mergesWanted && heap.size > 0) {
    const [count, key] = heap.pop();
    if (pairCounts.get(key) !== count) continue; // stale entry
    if (count < 2) break;
    const a = Math.floor(key / 65536);
    const b = key % 65536;
    const joinedBytes = tokenBytes[a] + tokenBytes[b];
    if (joinedBytes > maxTokenBytes) {
      // Never merged: the pair's count can only fall from here, so it is dropped for good.
      pairCounts.delete(key);
      pairWords.delete(key);
      continue;
    }
    if (tableBytes + joinedBytes > maxTableBytes) break;
    tableBytes += joinedBytes;
    tokenBytes.push(joinedBytes);
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
    if (options.onProgress && mergeIndex % 64 === 0) options.onProgress(mergeIndex, mergesWanted, 'merging');
  }
  options.onProgress?.(merges.length / 2, mergesWanted, 'merging');
  return new BpeTokenizer(merges);
}

