/**
 * float64 reference for shaders/sample.wgsl: the same counter-based random numbers (u32 math), the same
 * filter definitions on the same order-preserving f32 keys, and the probabilities in float64.
 */

export interface SampleSettingsRef {
  temperature: number;
  topK?: number;
  topP?: number;
  seed: number;
}

/**
 * Why the float32 kernel may legitimately pick another token than this float64 reference:
 * 'draw': u * total lies within AMBIGUITY * total of a CDF boundary (the tokens in `alternatives` are accepted);
 * 'top-p': p * mass lies within AMBIGUITY * mass of a top-p boundary (the kept set itself may differ).
 */
export type Ambiguity = 'none' | 'draw' | 'top-p';
export const AMBIGUITY = 1e-5;

export interface SampleRefResult {
  token: number;
  /** log softmax(z / T)[token], unfiltered; T = 1 for greedy. */
  logprob: number;
  /** Number of tokens the filters kept. */
  kept: number;
  ambiguity: Ambiguity;
  /** For 'draw': the other tokens whose CDF interval lies within AMBIGUITY * total of u * total. */
  alternatives?: number[];
}

/** pcg3d of Jarzynski & Olano, "Hash Functions for GPU Rendering" (JCGT 2020), in u32 arithmetic. */
export function pcg3d(x: number, y: number, z: number): [number, number, number] {
  x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
  y = (Math.imul(y, 1664525) + 1013904223) >>> 0;
  z = (Math.imul(z, 1664525) + 1013904223) >>> 0;
  x = (x + Math.imul(y, z)) >>> 0;
  y = (y + Math.imul(z, x)) >>> 0;
  z = (z + Math.imul(x, y)) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  y = (y ^ (y >>> 16)) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  x = (x + Math.imul(y, z)) >>> 0;
  y = (y + Math.imul(z, x)) >>> 0;
  z = (z + Math.imul(x, y)) >>> 0;
  return [x, y, z];
}

/** The draw's uniform in [0, 1): 24 bits, exact in float32 and float64. */
export function uniform01(seed: number, row: number, step: number): number {
  const h = pcg3d(...pcg3d(seed >>> 0, row >>> 0, step >>> 0));
  return (h[0] >>> 8) / 16777216;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** Order-preserving u32 key of a float32 value (key(a) >= key(b) iff a >= b; -0 sorts below +0). */
export function f32Key(z: number): number {
  f32[0] = z;
  const b = u32[0];
  return (b & 0x80000000 ? ~b : b | 0x80000000) >>> 0;
}

interface Filter {
  /** Kept: key >= tau. */
  tau: number;
  topPAmbiguous: boolean;
}

/** top-k then top-p as thresholds on the f32 keys; e[j] = exp((z_j - max) / T). */
function filterThreshold(keys: number[], e: number[], s: SampleSettingsRef): Filter {
  const V = keys.length;
  let tau = 0;
  const k = s.topK ?? 0;
  if (k > 0 && k < V) tau = [...keys].sort((a, b) => b - a)[k - 1];
  const p = s.topP ?? 1;
  if (!(p < 1)) return { tau, topPAmbiguous: false };
  // Distinct kept key levels, highest first, with the mass of everything at or above each (one sort).
  const order = keys.flatMap((key, j) => (key >= tau ? [j] : [])).sort((a, b) => keys[b] - keys[a]);
  const levels: number[] = [];
  const massAtOrAbove: number[] = [];
  let acc = 0;
  order.forEach((j, n) => {
    acc += e[j];
    if (n + 1 === order.length || keys[order[n + 1]] !== keys[j]) {
      levels.push(keys[j]);
      massAtOrAbove.push(acc);
    }
  });
  const kept = acc;
  const target = Math.max(p * kept, 1e-30);
  const i = massAtOrAbove.findIndex((c) => c >= target);
  const near = (c: number | undefined) => c !== undefined && Math.abs(c - target) <= AMBIGUITY * kept;
  return { tau: levels[i], topPAmbiguous: near(massAtOrAbove[i]) || near(massAtOrAbove[i - 1]) };
}

/** One row's draw. `logits` must hold float32 values (the ones the GPU sees). */
export function sampleRowRef(logits: ArrayLike<number>, offset: number, V: number, s: SampleSettingsRef, row: number, step: number): SampleRefResult {
  const z = Array.from({ length: V }, (_, j) => logits[offset + j]);
  let arg = 0;
  for (let j = 1; j < V; j++) if (z[j] > z[arg]) arg = j;
  const m = z[arg];
  const greedy = !(s.temperature > 0);
  const T = greedy ? 1 : s.temperature;
  const e = z.map((x) => Math.exp((x - m) / T));
  const logS = Math.log(e.reduce((a, b) => a + b, 0));
  if (greedy) return { token: arg, logprob: -logS, kept: 1, ambiguity: 'none' };

  const keys = z.map(f32Key);
  const { tau, topPAmbiguous } = filterThreshold(keys, e, s);
  const keptIdx = z.flatMap((_, j) => (keys[j] >= tau ? [j] : []));
  const total = keptIdx.reduce((acc, j) => acc + e[j], 0);
  const target = uniform01(s.seed, row, step) * total;
  const slack = AMBIGUITY * total;
  let token = keptIdx[keptIdx.length - 1];
  const alternatives: number[] = [];
  let cum = 0;
  for (const j of keptIdx) {
    const next = cum + e[j];
    const hit = target < next && target >= cum;
    if (hit) token = j;
    else if (next > target - slack && cum <= target + slack) alternatives.push(j);
    cum = next;
  }
  const result: SampleRefResult = { token, logprob: (z[token] - m) / T - logS, kept: keptIdx.length, ambiguity: topPAmbiguous ? 'top-p' : 'none' };
  if (!topPAmbiguous && alternatives.length) {
    result.ambiguity = 'draw';
    result.alternatives = alternatives;
  }
  return result;
}

/** Every row of logits (S, V); `settings` is one entry for all rows or one per row. */
export function sampleRef(logits: ArrayLike<number>, S: number, V: number, settings: SampleSettingsRef | SampleSettingsRef[], step: number): SampleRefResult[] {
  return Array.from({ length: S }, (_, r) => sampleRowRef(logits, r * V, V, Array.isArray(settings) ? settings[r] : settings, r, step));
}

/** The filtered, renormalised distribution a row draws from (temperature > 0), for statistical tests. */
export function filteredProbsRef(logits: ArrayLike<number>, V: number, s: SampleSettingsRef): Float64Array {
  const z = Array.from({ length: V }, (_, j) => logits[j]);
  const m = Math.max(...z);
  const e = z.map((x) => Math.exp((x - m) / s.temperature));
  const keys = z.map(f32Key);
  const { tau } = filterThreshold(keys, e, s);
  const kept = e.map((x, j) => (keys[j] >= tau ? x : 0));
  const total = kept.reduce((a, b) => a + b, 0);
  return Float64Array.from(kept, (x) => x / total);
}

/** Pearson chi-square of observed counts against expected probabilities (bins with p = 0 must be empty). */
export function chiSquare(counts: ArrayLike<number>, probs: ArrayLike<number>, n: number): number {
  let x2 = 0;
  for (let j = 0; j < probs.length; j++) {
    if (probs[j] === 0) {
      if (counts[j] !== 0) return Infinity;
      continue;
    }
    const want = n * probs[j];
    x2 += (counts[j] - want) ** 2 / want;
  }
  return x2;
}

/** Upper bound on chi-square with `dof` degrees of freedom that a true null exceeds with p ~ 1e-6 (Wilson-Hilferty). */
export function chiSquareBound(dof: number): number {
  const z = 4.75; // one-sided normal quantile for 1e-6
  return dof * (1 - 2 / (9 * dof) + z * Math.sqrt(2 / (9 * dof))) ** 3;
}
