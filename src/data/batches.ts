/**
 * From a token stream to training batches, deterministically.
 *
 * The corpus is tokenised once. The validation split is the contiguous last `validationFraction` of the tokens
 * (not a random sample: neighbouring windows overlap in content, so a random split would leak training text into
 * validation). Training batches are B windows of T+1 tokens at uniformly random starts drawn from a seeded
 * {@link Rng} (or, with `startAt`, at uniformly random document starts: the positions of a separator token, so a
 * window opens the way a sampling prompt does); the batcher's state (the RNG state and a step count) goes into
 * checkpoints, and restoring it makes a resumed run see exactly the batches the uninterrupted run would have seen.
 * Evaluation walks the validation split in order. Layout of every batch: row-major (B, T): `inputs[b*T + t]`, `targets[b*T + t]` is the next token.
 */
import { Rng, validateRngState, type RngState } from '../lib/rng';
import type { Tokenizer } from './tokenizer';
import { ConfigError } from '../model/validate';

export interface TokenSplit {
  train: Uint32Array;
  validation: Uint32Array;
}

/** Splits tokens into train (the first part) and validation (the last `validationFraction`, rounded down). */
export function splitTokens(tokens: Uint32Array, validationFraction: number): TokenSplit {
  if (!(validationFraction >= 0 && validationFraction < 1)) {
    throw new RangeError(`validationFraction ${validationFraction} must be in [0, 1), e.g. 0.1 for the last 10%`);
  }
  const validationCount = Math.floor(tokens.length * validationFraction);
  const cut = tokens.length - validationCount;
  return { train: tokens.subarray(0, cut), validation: tokens.subarray(cut) };
}

export interface Dataset extends TokenSplit {
  vocabSize: number;
  /** All tokens (train then validation). */
  tokens: Uint32Array;
  /** UTF-8 bytes of the text, for bits-per-byte. */
  textBytes: number;
}

/**
 * Tokenises `text` once and splits it (see {@link splitTokens}); `onProgress(unitsDone, unitsTotal)` follows the
 * encoding (see {@link encodeInPieces}).
 */
export function makeDataset(
  text: string,
  tokenizer: Tokenizer,
  validationFraction: number,
  onProgress?: (unitsDone: number, unitsTotal: number) => void,
): Dataset {
  const tokens = encodeInPieces(tokenizer, text, onProgress);
  return {
    ...splitTokens(tokens, validationFraction),
    tokens,
    vocabSize: tokenizer.vocabSize,
    textBytes: new TextEncoder().encode(text).length,
  };
}

/** Text is encoded in pieces of about this many UTF-16 units, so a long corpus reports progress as it goes. */
export const ENCODE_PIECE_UNITS = 1 << 18;

const isSpace = (ch: string | undefined) => ch === undefined || /\s/.test(ch);

/**
 * `tokenizer.encode(text)`, in pieces of about `pieceUnits`, calling `onProgress(unitsDone, text.length)` after each.
 * A piece ends only before a single space or newline with non-space characters on both sides: the pre-split
 * (pretokenize.ts) starts a chunk there in any context, BPE merges never cross a chunk, and no special token's text
 * holds whitespace, so the tokens are the same as one encode call's (tests/unit/data-encode.test.ts).
 */
export function encodeInPieces(
  tokenizer: Tokenizer,
  text: string,
  onProgress?: (unitsDone: number, unitsTotal: number) => void,
  pieceUnits = ENCODE_PIECE_UNITS,
): Uint32Array {
  onProgress?.(0, text.length);
  const parts: Uint32Array[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + pieceUnits);
    while (end < text.length && !((text[end] === ' ' || text[end] === '\n') && !isSpace(text[end - 1]) && !isSpace(text[end + 1]))) end++;
    parts.push(tokenizer.encode(text.slice(start, end)));
    start = end;
    onProgress?.(start, text.length);
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface Batch {
  /** (B, T) input ids. */
  inputs: Uint32Array;
  /** (B, T) target ids: the token after each input. */
  targets: Uint32Array;
}

/** Serialisable batcher position; store it with a checkpoint. */
export interface BatcherState {
  rng: RngState;
  step: number;
}

function checkShape(what: string, batchSize: number, seqLen: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`${what}: batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new RangeError(`${what}: seqLen must be a positive integer, got ${seqLen}`);
}

export interface BatcherOptions {
  batchSize: number;
  seqLen: number;
  seed: number;
  /**
   * Start every window at an occurrence of this token id (a document separator such as `<|endoftext|>`) instead of
   * anywhere. A task corpus trains this way on what sampling sees: the separator at position 0, then the prompt.
   * Documents longer than the window contribute their first seqLen + 1 tokens only.
   */
  startAt?: number;
}

/** Random training windows from a token array. */
export class Batcher {
  readonly batchSize: number;
  readonly seqLen: number;
  /** Batches drawn so far. */
  step = 0;
  private rng: Rng;
  /** With `startAt`: the positions a window may start at (each leaves seqLen + 1 tokens). */
  private readonly starts: Uint32Array | null;

  constructor(
    private readonly tokens: Uint32Array,
    options: BatcherOptions,
  ) {
    checkShape('Batcher', options.batchSize, options.seqLen);
    this.batchSize = options.batchSize;
    this.seqLen = options.seqLen;
    if (tokens.length < this.seqLen + 1) {
      throw new RangeError(
        `the training split has ${tokens.length} tokens, fewer than one window of seqLen + 1 = ${this.seqLen + 1}; ` +
          'use a longer text, a smaller seqLen or a smaller validation fraction',
      );
    }
    this.rng = new Rng(options.seed);
    this.starts = options.startAt === undefined ? null : documentStarts(tokens, options.startAt, this.seqLen);
  }

  /** The next batch; pass `out` to fill existing arrays (each B*T long) instead of allocating. */
  next(out?: Batch): Batch {
    const { batchSize: B, seqLen: T, tokens } = this;
    const batch = out ?? { inputs: new Uint32Array(B * T), targets: new Uint32Array(B * T) };
    if (batch.inputs.length !== B * T || batch.targets.length !== B * T) {
      throw new RangeError(`Batcher.next: out arrays must hold B*T = ${B * T} ids`);
    }
    const anywhere = tokens.length - T; // window [s, s+T] must fit
    for (let b = 0; b < B; b++) {
      const s = this.starts ? this.starts[this.rng.nextInt(this.starts.length)] : this.rng.nextInt(anywhere);
      batch.inputs.set(tokens.subarray(s, s + T), b * T);
      batch.targets.set(tokens.subarray(s + 1, s + T + 1), b * T);
    }
    this.step++;
    return batch;
  }

  state(): BatcherState {
    return { rng: this.rng.state(), step: this.step };
  }

  /** Continues from a saved state: the following batches are the ones that followed when it was saved. */
  restore(state: BatcherState): void {
    const s = validateBatcherState(state);
    this.rng = Rng.fromState(s.rng);
    this.step = s.step;
  }
}

/** A batcher state read from a file, checked (TypeError saying what is wrong) before anything uses it. */
export function validateBatcherState(state: unknown): BatcherState {
  const s = state as Partial<BatcherState> | null;
  if (typeof s !== 'object' || s === null || !Number.isSafeInteger(s.step) || s.step! < 0) {
    throw new TypeError('batcher state: expected { rng, step } with step a non-negative integer');
  }
  return { rng: validateRngState(s.rng), step: s.step! };
}

/** Positions of `id` in `tokens` that leave a window of seqLen + 1 tokens; throws, naming the sizes, if there are none. */
export function documentStarts(tokens: Uint32Array, id: number, seqLen: number): Uint32Array {
  const last = tokens.length - seqLen - 1;
  const out: number[] = [];
  for (let p = 0; p <= last; p++) if (tokens[p] === id) out.push(p);
  if (out.length === 0) {
    throw new RangeError(
      `no document start (token ${id}) in the training split's ${tokens.length} tokens leaves a window of seqLen + 1 = ${seqLen + 1}; ` +
        "the corpus has no separators there: use windows 'random', or a smaller seqLen",
    );
  }
  return Uint32Array.from(out);
}

/** What the trainer will draw from a token split (see {@link checkWindows}). */
export interface WindowNeeds {
  batchSize: number;
  seqLen: number;
  /** Windows start at this token id (data.windows 'documents'). */
  startAt?: number;
  /** Evaluations run (train.evalEvery > 0): the validation split must hold one batch of evaluation windows. */
  evaluate: boolean;
  /** The validation share that made the split (for the suggested fix). */
  validationFraction: number;
}

/**
 * Refuses, before anything is allocated, a split the trainer could not use: a training split without one window of
 * seqLen + 1 tokens (with startAt: without one document start that leaves a window), or, when evaluations run, a
 * validation split without one batch of evaluation windows (else the first evaluation fails mid-run). The
 * ConfigError names the field to change, the numbers and the other ways out.
 */
export function checkWindows(split: TokenSplit, n: WindowNeeds): void {
  const { batchSize: B, seqLen: T, startAt } = n;
  checkShape('checkWindows', B, T);
  const trainCount = split.train.length;
  const valCount = split.validation.length;
  const total = trainCount + valCount;
  const window = `model.contextLength + 1 = ${T + 1} tokens`;
  if (total < T + 1) {
    throw new ConfigError(`the text has ${total} tokens, fewer than one training window of ${window}: use a longer text or a smaller model.contextLength`, 'model.contextLength');
  }
  if (trainCount < T + 1) {
    throw new ConfigError(
      `the training split has ${trainCount} of the text's ${total} tokens (the last ${valCount} are held out by data.validationFraction ${n.validationFraction}), ` +
        `fewer than one window of ${window}: lower data.validationFraction, use a longer text or a smaller model.contextLength`,
      'data.validationFraction',
    );
  }
  if (startAt !== undefined && !hasDocumentStart(split.train, startAt, T)) {
    throw new ConfigError(
      `data.windows is 'documents', but no document start (token ${startAt}, <|endoftext|>) in the training split's ${trainCount} tokens leaves a window of ${window}: ` +
        "use data.windows 'random', a smaller model.contextLength, or a text whose documents are separated by <|endoftext|>",
      'data.windows',
    );
  }
  if (!n.evaluate) return;
  const windows = evalWindowStarts(split.validation, T, startAt).length;
  if (windows >= B) return;
  const what =
    `the validation split (the last ${valCount} of the text's ${total} tokens, data.validationFraction ${n.validationFraction}) holds ${windows} evaluation ` +
    `window${windows === 1 ? '' : 's'} of ${window}${startAt !== undefined ? ' starting at a document start' : ''}, fewer than one batch of train.batchSize ${B}, ` +
    'so the first evaluation would fail';
  const orElse = 'or set train.evalEvery to 0 to train without evaluations';
  const fraction = startAt === undefined ? fractionFor(B * T + 1, total) : null;
  if (fraction !== null && fraction <= 0.5 && total - Math.floor(total * fraction) >= T + 1) {
    throw new ConfigError(`${what}: raise data.validationFraction to ${fraction}${windows ? `, lower train.batchSize to ${windows}` : ''}, ${orElse}`, 'data.validationFraction');
  }
  if (windows >= 1) throw new ConfigError(`${what}: lower train.batchSize to ${windows}, use a longer text, ${orElse}`, 'train.batchSize');
  if (startAt !== undefined) {
    throw new ConfigError(`${what}: raise data.validationFraction so the held-out end of the text holds ${B} documents, use a longer text, ${orElse}`, 'data.validationFraction');
  }
  throw new ConfigError(`${what}: the text is too short to hold both; use a longer text, a smaller model.contextLength, ${orElse}`, 'train.evalEvery');
}

/** The smallest validation fraction (in steps of 0.001) whose split holds `need` of `total` tokens. */
function fractionFor(need: number, total: number): number {
  let f = Math.max(0.001, Math.ceil((need / total) * 1000) / 1000);
  while (Math.floor(total * f) < need) f = Math.round(f * 1000 + 1) / 1000;
  return f;
}

function hasDocumentStart(tokens: Uint32Array, id: number, seqLen: number): boolean {
  for (let p = 0; p + seqLen + 1 <= tokens.length; p++) if (tokens[p] === id) return true;
  return false;
}

/**
 * Starts of the trainer's evaluation windows over `tokens`: k·T for k = 0, 1, … (targets never overlap, so each
 * token is predicted once), or, with `startAt`, the document starts in order, each the first one at or after the end
 * of the window before (windows open as the training windows and sampling prompts do; targets still never overlap).
 * Every window leaves seqLen + 1 tokens.
 */
export function evalWindowStarts(tokens: Uint32Array, seqLen: number, startAt?: number): Uint32Array {
  checkShape('evalWindowStarts', 1, seqLen);
  if (startAt === undefined) return Uint32Array.from({ length: Math.max(0, Math.floor((tokens.length - 1) / seqLen)) }, (_, k) => k * seqLen);
  const out: number[] = [];
  for (let p = 0, next = 0; p + seqLen + 1 <= tokens.length; p++) {
    if (p >= next && tokens[p] === startAt) {
      out.push(p);
      next = p + seqLen;
    }
  }
  return Uint32Array.from(out);
}

/** Number of full evaluation batches over `tokens` (see {@link evalBatches}). */
export function countEvalBatches(tokenCount: number, batchSize: number, seqLen: number): number {
  checkShape('countEvalBatches', batchSize, seqLen);
  const windows = Math.max(0, Math.floor((tokenCount - 1) / seqLen));
  return Math.floor(windows / batchSize);
}

/**
 * Sequential evaluation batches: window k holds tokens [k*T, k*T + T] (windows do not overlap in targets, so every
 * validation token is predicted once), B windows a batch, in order. Only full batches are yielded (fixed shapes for
 * the GPU); the leftover tail is skipped. `maxBatches` caps the count for a cheaper estimate. Throws if not even one
 * batch fits, naming the sizes.
 */
export function* evalBatches(tokens: Uint32Array, batchSize: number, seqLen: number, maxBatches = Infinity): Generator<Batch> {
  const count = Math.min(countEvalBatches(tokens.length, batchSize, seqLen), maxBatches);
  if (count < 1) {
    throw new RangeError(
      `the validation split has ${tokens.length} tokens, too few for one evaluation batch of ${batchSize} × (${seqLen} + 1); ` +
        'raise the validation fraction, use a longer text or a smaller batch/seqLen',
    );
  }
  const T = seqLen;
  for (let k = 0; k < count; k++) {
    const inputs = new Uint32Array(batchSize * T);
    const targets = new Uint32Array(batchSize * T);
    for (let b = 0; b < batchSize; b++) {
      const s = (k * batchSize + b) * T;
      inputs.set(tokens.subarray(s, s + T), b * T);
      targets.set(tokens.subarray(s + 1, s + T + 1), b * T);
    }
    yield { inputs, targets };
  }
}

/**
 * Entropy in nats of the tokens' unigram distribution: the loss of a model that predicts token frequencies and
 * ignores context. A trained model's validation loss should fall well below it.
 */
export function unigramEntropy(tokens: ArrayLike<number>, vocabSize: number): number {
  if (tokens.length === 0) throw new RangeError('unigramEntropy: no tokens');
  const counts = new Float64Array(vocabSize);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!(t >= 0 && t < vocabSize)) throw new RangeError(`unigramEntropy: token ${t} at index ${i} is outside [0, ${vocabSize})`);
    counts[t]++;
  }
  const n = tokens.length;
  let h = 0;
  for (let v = 0; v < vocabSize; v++) {
    if (counts[v] > 0) {
      const p = counts[v] / n;
      h -= p * Math.log(p);
    }
  }
  return h;
}

/** Converts a mean loss per token (nats) into bits per UTF-8 byte, comparable across tokenizers. */
export function bitsPerByte(lossNatsPerToken: number, tokenCount: number, byteCount: number): number {
  return (lossNatsPerToken * tokenCount) / (byteCount * Math.LN2);
}
