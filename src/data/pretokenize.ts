/**
 * The pre-split that BPE training and encoding share: merges never cross a chunk boundary. Changing it changes
 * every trained tokenizer's segmentation, so it is versioned (PRETOKENIZER_VERSION, stored in tokenizer JSON).
 */

/** Longer chunks are cut into pieces of this many UTF-16 units, bounding the cost of encoding one chunk. */
export const MAX_CHUNK_UNITS = 64;
export const PRETOKENIZER_VERSION = 'spark-v1';

// English contractions; letters with combining marks and an optional leading space; up to 3 digits; other symbols;
// whitespace (a run keeps its last space for the next word unless the run ends the text).
const CHUNK_PATTERN = /'(?:[sdmt]|ll|ve|re)| ?[\p{L}\p{M}]+| ?\p{N}{1,3}| ?[^\s\p{L}\p{M}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Calls `onChunk` with the pre-split chunks of `text`, in order; their concatenation is `text`. */
export function pretokenize(text: string, onChunk: (chunk: string) => void): void {
  const pattern = new RegExp(CHUNK_PATTERN); // own lastIndex: safe if onChunk pretokenizes too
  let last = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    if (m.index > last) emitBounded(text.slice(last, m.index), onChunk); // never happens; kept so nothing is lost
    emitBounded(m[0], onChunk);
    last = m.index + m[0].length;
  }
  if (last < text.length) emitBounded(text.slice(last), onChunk);
}

function emitBounded(chunk: string, onChunk: (chunk: string) => void): void {
  if (chunk.length <= MAX_CHUNK_UNITS) {
    onChunk(chunk);
    return;
  }
  let start = 0;
  while (start < chunk.length) {
    let end = Math.min(start + MAX_CHUNK_UNITS, chunk.length);
    const c = chunk.charCodeAt(end - 1);
    if (end < chunk.length && c >= 0xd800 && c <= 0xdbff) end -= 1; // keep a surrogate pair together
    onChunk(chunk.slice(start, end));
    start = end;
  }
}
