import type { Rng } from '../../src/lib/rng';
import { SPECIAL_TOKENS } from '../../src/data/tokenizer';

/** What a string becomes after a UTF-8 round trip: lone surrogates turn into U+FFFD. */
export const wellFormed = (s: string): string => new TextDecoder().decode(new TextEncoder().encode(s));

/** Random strings mixing ASCII, Latin, CJK, emoji, combining marks, whitespace, specials and lone surrogates. */
export function randomUnicode(rng: Rng, maxLen: number): string {
  const pools = [
    () => String.fromCharCode(32 + rng.nextInt(95)),
    () => String.fromCodePoint(0xa0 + rng.nextInt(0x250)),
    () => String.fromCodePoint(0x4e00 + rng.nextInt(0x5000)),
    () => String.fromCodePoint(0x1f300 + rng.nextInt(0x300)),
    () => String.fromCodePoint(0x300 + rng.nextInt(0x70)),
    () => rng.pick([' ', '  ', '\n', '\t', '\r\n', '\u3000']),
    () => rng.pick<string>(SPECIAL_TOKENS),
    () => String.fromCharCode(0xd800 + rng.nextInt(0x800)), // lone surrogate
    () => rng.pick(["'s", "'ll", '123456', '--', '...']),
  ];
  const n = rng.nextInt(maxLen + 1);
  let s = '';
  for (let i = 0; i < n; i++) s += rng.pick(pools)();
  return s;
}
