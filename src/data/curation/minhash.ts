/**
 * Near-duplicate removal by MinHash and locality-sensitive hashing (issue 16), as pure functions over documents:
 *
 *   1. exact duplicates first: a document equal to an earlier one (hash, then string compare) is removed;
 *   2. shingles: each document's word n-grams (default 5) or character n-grams, hashed to u32;
 *   3. MinHash: k = bands · rows seeded hash functions (default 14 · 8 = 112); signature[i] = min over the shingles
 *      of h_i(shingle); P(signature[i] equal for two documents) = their Jaccard similarity J;
 *   4. LSH: the signature cut into `bands` bands of `rows` values; documents that agree on a whole band share a
 *      bucket and become a candidate pair, with probability 1 − (1 − J^rows)^bands (the S-curve, `sCurve`);
 *   5. each candidate pair verified by the signatures' agreement (the Jaccard estimate) ≥ `threshold`;
 *   6. union–find over the verified pairs; each cluster keeps its first document.
 *
 * The hash family: h_i(x) = fmix32(x ⊕ s_i) with s_i drawn from the seed; fmix32 is a bijection on u32 that mixes
 * every bit, which makes the minima behave as the minima of independent random permutations for our purposes
 * (tests/unit/minhash.test.ts measures the estimator's error and the S-curve against this family).
 */
import { fmix32, hash32 } from '../../lib/hash';
import { Rng } from '../../lib/rng';

export interface MinHashOptions {
  /** Shingle unit: words (split on whitespace) or characters. */
  shingle: 'word' | 'char';
  /** Shingle length in units. */
  n: number;
  bands: number;
  rows: number;
  /** A verified pair's Jaccard estimate must be at least this. */
  threshold: number;
  seed: number;
}

/**
 * Defaults: word 5-grams, 112 hashes in 14 bands of 8, whose S-curve rises through 50% at s = (1/14)^(1/8) ≈ 0.72;
 * the verification threshold sits just below it (0.7), so the bands, not the check, decide what is a duplicate.
 * Short documents (a few dozen words) lose many 5-grams to each edit: word 3-grams find their near-copies better
 * (tests/unit/polluted.test.ts measures both).
 */
export const MINHASH_DEFAULTS: Readonly<MinHashOptions> = { shingle: 'word', n: 5, bands: 14, rows: 8, threshold: 0.7, seed: 1 };

/** Probability that two documents of Jaccard similarity s share at least one LSH band: 1 − (1 − s^rows)^bands. */
export function sCurve(s: number, bands: number, rows: number): number {
  return 1 - Math.pow(1 - Math.pow(s, rows), bands);
}

/** The documents of a text, split at `separator` (default `<|endoftext|>`); empty ones (only whitespace) dropped. */
export function splitDocuments(text: string, separator = '<|endoftext|>'): string[] {
  return text.split(separator).filter((d) => d.trim().length > 0);
}

/** The hashed shingles of a document (a set: repeats count once). A document shorter than n units is one shingle. */
export function shingles(doc: string, shingle: MinHashOptions['shingle'], n: number): Uint32Array {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`minhash: shingle length n must be a positive integer, got ${n}`);
  const out = new Set<number>();
  if (shingle === 'word') {
    const words = doc.split(/\s+/).filter(Boolean);
    if (words.length <= n) out.add(hash32(words.join(' ')));
    else for (let i = 0; i + n <= words.length; i++) out.add(hash32(words.slice(i, i + n).join(' ')));
  } else {
    if (doc.length <= n) out.add(hash32(doc));
    else for (let i = 0; i + n <= doc.length; i++) out.add(hash32(doc.slice(i, i + n)));
  }
  return Uint32Array.from(out);
}

/** The k seeds of the hash family (k = bands · rows), from `seed`. */
export function hashSeeds(k: number, seed: number): Uint32Array {
  const rng = new Rng(seed);
  return Uint32Array.from({ length: k }, () => rng.nextU32());
}

/** signature[i] = min over the shingles of fmix32(shingle ⊕ seeds[i]); an empty set gives all 0xffffffff. */
export function minhashSignature(shingleHashes: Uint32Array, seeds: Uint32Array): Uint32Array {
  const sig = new Uint32Array(seeds.length).fill(0xffffffff);
  for (const x of shingleHashes) {
    for (let i = 0; i < seeds.length; i++) {
      const h = fmix32(x ^ seeds[i]!);
      if (h < sig[i]!) sig[i] = h;
    }
  }
  return sig;
}

/** The fraction of positions where two signatures agree: an unbiased estimate of the sets' Jaccard similarity. */
export function estimateJaccard(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length || a.length === 0) throw new RangeError(`minhash: signatures of ${a.length} and ${b.length} values cannot be compared`);
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

/** Pairs [i, j] (i < j) whose signatures agree on every row of at least one band, each pair once, sorted. */
export function lshCandidates(signatures: readonly Uint32Array[], bands: number, rows: number): [number, number][] {
  const seen = new Set<string>();
  const pairs: [number, number][] = [];
  for (let band = 0; band < bands; band++) {
    const buckets = new Map<string, number[]>();
    for (let d = 0; d < signatures.length; d++) {
      const sig = signatures[d]!;
      if (sig.length < bands * rows) throw new RangeError(`minhash: a signature has ${sig.length} values, fewer than bands · rows = ${bands * rows}`);
      const key = Array.from(sig.subarray(band * rows, (band + 1) * rows)).join(',');
      const list = buckets.get(key);
      if (list) list.push(d);
      else buckets.set(key, [d]);
    }
    for (const list of buckets.values()) {
      for (let x = 0; x < list.length; x++) {
        for (let y = x + 1; y < list.length; y++) {
          const id = `${list[x]},${list[y]}`;
          if (!seen.has(id)) {
            seen.add(id);
            pairs.push([list[x]!, list[y]!]);
          }
        }
      }
    }
  }
  return pairs.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
}

/** Disjoint sets over 0..n−1 with path halving and union by size; a cluster's root is its smallest member. */
export class UnionFind {
  private readonly parent: Int32Array;
  private readonly size: Int32Array;

  constructor(readonly n: number) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
    this.size = new Int32Array(n).fill(1);
  }

  find(x: number): number {
    let p = this.parent;
    while (p[x] !== x) {
      p[x] = p[p[x]!]!;
      x = p[x]!;
    }
    return x;
  }

  union(a: number, b: number): void {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return;
    if (this.size[ra]! < this.size[rb]!) [ra, rb] = [rb, ra];
    this.parent[rb] = ra;
    this.size[ra] += this.size[rb]!;
  }

  /** The clusters of two or more members, each sorted, ordered by their first member. */
  clusters(): number[][] {
    const by = new Map<number, number[]>();
    for (let i = 0; i < this.n; i++) {
      const r = this.find(i);
      const list = by.get(r);
      if (list) list.push(i);
      else by.set(r, [i]);
    }
    return [...by.values()].filter((c) => c.length > 1).sort((a, b) => a[0]! - b[0]!);
  }
}

export interface RemovedDocument {
  index: number;
  /** The document it duplicates (the one kept). */
  keptAs: number;
  kind: 'exact' | 'near';
  /** The Jaccard estimate with the kept document (1 for exact copies). */
  similarity: number;
}

export interface DedupResult {
  /** Indices of the documents kept, in order. */
  kept: number[];
  removed: RemovedDocument[];
  stats: { docsIn: number; docsOut: number; bytesIn: number; bytesOut: number; exactRemoved: number; nearRemoved: number; candidatePairs: number; verifiedPairs: number };
}

function validate(o: MinHashOptions): void {
  for (const k of ['n', 'bands', 'rows'] as const) {
    if (!(Number.isInteger(o[k]) && o[k] >= 1)) throw new RangeError(`minhash: ${k} must be a positive integer, got ${o[k]}`);
  }
  if (!(o.threshold >= 0 && o.threshold <= 1)) throw new RangeError(`minhash: threshold must be in [0, 1], got ${o.threshold}`);
}

const utf8Bytes = (s: string): number => new TextEncoder().encode(s).length;

/**
 * Exact, then near-duplicate removal (see the file's comment). `onProgress(done, total)` hears the signatures
 * being made (the costly part), so a worker can show a bar.
 */
export function dedup(docs: readonly string[], options: Partial<MinHashOptions> = {}, onProgress?: (done: number, total: number) => void): DedupResult {
  const o = { ...MINHASH_DEFAULTS, ...options };
  validate(o);
  const removed: RemovedDocument[] = [];
  const gone = new Uint8Array(docs.length);
  // 1. exact copies: hash, then compare the strings (hash collisions are not duplicates)
  const firstByHash = new Map<number, number[]>();
  docs.forEach((d, i) => {
    const h = hash32(d);
    const earlier = firstByHash.get(h);
    const same = earlier?.find((j) => docs[j] === d);
    if (same !== undefined) {
      gone[i] = 1;
      removed.push({ index: i, keptAs: same, kind: 'exact', similarity: 1 });
    } else if (earlier) earlier.push(i);
    else firstByHash.set(h, [i]);
  });
  // 2–4. signatures of the survivors, LSH candidates among them
  const live = docs.map((_, i) => i).filter((i) => !gone[i]);
  const seeds = hashSeeds(o.bands * o.rows, o.seed);
  const sigs = live.map((i, k) => {
    if (onProgress && k % 256 === 0) onProgress(k, live.length);
    return minhashSignature(shingles(docs[i]!, o.shingle, o.n), seeds);
  });
  onProgress?.(live.length, live.length);
  const candidates = lshCandidates(sigs, o.bands, o.rows);
  // 5–6. verify, cluster, keep the first of each cluster
  const uf = new UnionFind(live.length);
  let verified = 0;
  for (const [a, b] of candidates) {
    if (estimateJaccard(sigs[a]!, sigs[b]!) >= o.threshold) {
      uf.union(a, b);
      verified++;
    }
  }
  for (const cluster of uf.clusters()) {
    const keep = cluster[0]!;
    for (const k of cluster.slice(1)) {
      gone[live[k]!] = 1;
      removed.push({ index: live[k]!, keptAs: live[keep]!, kind: 'near', similarity: estimateJaccard(sigs[k]!, sigs[keep]!) });
    }
  }
  const kept = docs.map((_, i) => i).filter((i) => !gone[i]);
  const bytesIn = docs.reduce((s, d) => s + utf8Bytes(d), 0);
  const bytesOut = kept.reduce((s, i) => s + utf8Bytes(docs[i]!), 0);
  removed.sort((a, b) => a.index - b.index);
  return {
    kept,
    removed,
    stats: {
      docsIn: docs.length, docsOut: kept.length, bytesIn, bytesOut,
      exactRemoved: removed.filter((r) => r.kind === 'exact').length, nearRemoved: removed.filter((r) => r.kind === 'near').length,
      candidatePairs: candidates.length, verifiedPairs: verified,
    },
  };
}
