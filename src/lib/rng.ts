/**
 * A small seedable PRNG whose whole state is four 32-bit words, so a checkpoint can store it and a resumed run
 * draws exactly the numbers the uninterrupted run would have drawn.
 *
 * Generator: xoshiro128** (Blackman & Vigna), seeded through splitmix32 so that nearby seeds (1, 2, 3...) give
 * unrelated streams. Pure 32-bit integer arithmetic: identical results in every JS engine.
 */

/** The serialisable state of an {@link Rng}: plain JSON. */
export interface RngState {
  kind: 'xoshiro128**';
  /** Four unsigned 32-bit words, not all zero. */
  s: [number, number, number, number];
}

function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) >>> 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Seed with any finite number; its integer part modulo 2^32 selects the stream (and a second word above 2^32). */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng seed must be a finite number, got ${seed}`);
    const lo = Math.trunc(seed) >>> 0;
    const hi = Math.floor(Math.trunc(Math.abs(seed)) / 4294967296) >>> 0;
    let x = lo ^ Math.imul(hi, 0x27d4eb2d);
    x = splitmix32(x);
    this.s0 = x;
    x = splitmix32(x ^ 0x6a09e667);
    this.s1 = x;
    x = splitmix32(x ^ 0xbb67ae85);
    this.s2 = x;
    x = splitmix32(x ^ 0x3c6ef372);
    this.s3 = x;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A generator that continues exactly from a saved state (see {@link Rng.state}). */
  static fromState(state: unknown): Rng {
    const s = validateRngState(state);
    const r = new Rng(0);
    [r.s0, r.s1, r.s2, r.s3] = s.s;
    return r;
  }

  /** A copy of the current state; restoring it replays the same sequence from here. */
  state(): RngState {
    return { kind: 'xoshiro128**', s: [this.s0, this.s1, this.s2, this.s3] };
  }

  /** An independent generator positioned at the same state. */
  clone(): Rng {
    return Rng.fromState(this.state());
  }

  /** Uniform unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling); n is an integer in [1, 2^32]. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new RangeError(`Rng.nextInt: n must be an integer in [1, 2^32], got ${n}`);
    }
    if (n === 4294967296) return this.nextU32();
    // Reject the top partial block so every residue is equally likely.
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Picks one element of a non-empty array uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Rng.pick: the array is empty');
    return items[this.nextInt(items.length)];
  }

  /** Shuffles an array in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }
}

/** Checks that an unknown value (e.g. parsed from a checkpoint) is a usable {@link RngState}. */
export function validateRngState(state: unknown): RngState {
  const where = 'RNG state';
  if (typeof state !== 'object' || state === null) throw new TypeError(`${where}: expected an object, got ${describe(state)}`);
  const o = state as Record<string, unknown>;
  if (o.kind !== 'xoshiro128**') throw new TypeError(`${where}: kind must be 'xoshiro128**', got ${describe(o.kind)}`);
  const s = o.s;
  if (!Array.isArray(s) || s.length !== 4) throw new TypeError(`${where}: s must be an array of 4 unsigned 32-bit integers`);
  for (const w of s) {
    if (!Number.isInteger(w) || w < 0 || w > 0xffffffff) {
      throw new TypeError(`${where}: s must hold unsigned 32-bit integers, found ${describe(w)}`);
    }
  }
  if (s.every((w) => w === 0)) throw new TypeError(`${where}: all-zero state is invalid for xoshiro128**`);
  return { kind: 'xoshiro128**', s: [s[0], s[1], s[2], s[3]] };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' ? 'an object' : String(v);
}
