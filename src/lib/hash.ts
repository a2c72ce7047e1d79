/**
 * 32-bit string and integer hashes shared by the data code (the held-out split, deduplication): FNV-1a over UTF-16
 * code units, then murmur3's finaliser so every output bit depends on every input bit. Not cryptographic.
 */

/** murmur3's 32-bit finaliser: a bijection on u32 that mixes every bit into every other. */
export function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit FNV-1a of the string's UTF-16 code units, finalised by fmix32. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return fmix32(h);
}
