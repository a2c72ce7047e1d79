/** Seeded random numbers for tests and references (mulberry32 + Box-Muller). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n normal(0, scale) values as float32 (the values the GPU will see). */
export function randn(n: number, seed: number, scale = 1): Float32Array<ArrayBuffer> {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

/** n uniform values in [lo, hi). */
export function randu(n: number, seed: number, lo = 0, hi = 1): Float32Array<ArrayBuffer> {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** n integers in [0, hi). */
export function randint(n: number, seed: number, hi: number): Uint32Array<ArrayBuffer> {
  const r = rng(seed);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * hi);
  return out;
}

/** A fresh seed per call, so every run of a test sees new inputs; printed on failure. */
export function freshSeed(): number {
  return (Math.random() * 2 ** 31) >>> 0;
}
