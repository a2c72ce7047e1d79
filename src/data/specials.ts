/**
 * What every Spark Lab tokenizer shares: the 256 byte tokens (ids 0..255, the UTF-8 bytes of the text) and the
 * special tokens right after them at fixed ids, so `<|endoftext|>`, `<think>` and `</think>` have the same id in the
 * byte tokenizer and in every trained BPE (whose merged tokens start at {@link FIRST_MERGE_ID}).
 *
 * Specials are single tokens: `encode` turns the literal text `<think>` into the one id {@link THINK_ID} (unless told
 * not to), and `decode` turns that id back into the text `<think>`. The test-time-reasoning feature relies on this:
 * it can prompt with `<think>`, stop sampling at `</think>`, and mask or weight the tokens between them by id.
 */

export const BYTE_TOKEN_COUNT = 256;

/** Special tokens in id order; id = BYTE_TOKEN_COUNT + index. Appending is compatible; reordering is not. */
export const SPECIAL_TOKENS = ['<|endoftext|>', '<think>', '</think>'] as const;
export type SpecialToken = (typeof SPECIAL_TOKENS)[number];

export const END_OF_TEXT_ID = 256;
export const THINK_ID = 257;
export const END_THINK_ID = 258;
/** The first id a BPE merge can take. */
export const FIRST_MERGE_ID = BYTE_TOKEN_COUNT + SPECIAL_TOKENS.length;

/** Id of a special token by its text. */
export function specialTokenId(token: SpecialToken): number {
  return BYTE_TOKEN_COUNT + SPECIAL_TOKENS.indexOf(token);
}

export function isSpecialId(id: number): boolean {
  return id >= BYTE_TOKEN_COUNT && id < FIRST_MERGE_ID;
}

const textEncoder = new TextEncoder();

/** UTF-8 bytes of a string; lone surrogates become U+FFFD (EF BF BD), as in every UTF-8 encoder. */
export function utf8Encode(text: string): Uint8Array {
  return textEncoder.encode(text);
}

/** Decodes UTF-8, replacing each invalid sequence with U+FFFD; never throws. */
export function utf8Decode(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(bytes);
}

/** UTF-8 bytes of each special token, indexed like SPECIAL_TOKENS. */
export const SPECIAL_TOKEN_BYTES: readonly Uint8Array[] = SPECIAL_TOKENS.map((t) => utf8Encode(t));

const SPECIAL_PATTERN = new RegExp(SPECIAL_TOKENS.map((t) => t.replace(/[|<>/]/g, (c) => '\\' + c)).join('|'), 'g');

/**
 * Splits text into ordinary pieces and special tokens, in order. With `specials` false the whole text is one
 * ordinary piece. Calls `onText` for each non-empty ordinary piece and `onSpecial` with each special id.
 */
export function splitOnSpecials(
  text: string,
  specials: boolean,
  onText: (piece: string) => void,
  onSpecial: (id: number) => void,
): void {
  if (!specials || text.indexOf('<') < 0) {
    if (text.length > 0) onText(text);
    return;
  }
  const pattern = new RegExp(SPECIAL_PATTERN); // own lastIndex: safe if a callback splits text too
  let last = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    if (m.index > last) onText(text.slice(last, m.index));
    onSpecial(BYTE_TOKEN_COUNT + SPECIAL_TOKENS.indexOf(m[0] as SpecialToken));
    last = m.index + m[0].length;
  }
  if (last < text.length) onText(text.slice(last));
}

/** A growable Uint32 buffer, so encoders do not build large JS arrays. */
export class IdBuffer {
  private data = new Uint32Array(1024);
  length = 0;

  push(id: number): void {
    if (this.length === this.data.length) this.grow(this.length + 1);
    this.data[this.length++] = id;
  }

  pushAll(ids: ArrayLike<number>): void {
    if (this.length + ids.length > this.data.length) this.grow(this.length + ids.length);
    for (let i = 0; i < ids.length; i++) this.data[this.length++] = ids[i];
  }

  /** The ids pushed so far, as an exactly sized copy. */
  toArray(): Uint32Array {
    return this.data.slice(0, this.length);
  }

  private grow(min: number): void {
    const next = new Uint32Array(Math.max(min, this.data.length * 2));
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }
}

/** Checks a serialised tokenizer's `specials` field against SPECIAL_TOKENS (a saved model's ids depend on it). */
export function checkSerialisedSpecials(specials: unknown, where: string): void {
  const expected = JSON.stringify(SPECIAL_TOKENS);
  if (!Array.isArray(specials) || JSON.stringify(specials) !== expected) {
    throw new TypeError(
      `${where}: specials must be ${expected} (the special tokens this version assigns ids ` +
        `${BYTE_TOKEN_COUNT}..${FIRST_MERGE_ID - 1}), got ${JSON.stringify(specials) ?? 'nothing'}`,
    );
  }
}
