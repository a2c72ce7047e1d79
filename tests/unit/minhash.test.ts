/**
 * Near-duplicate removal (src/data/curation/minhash.ts): the MinHash estimate's error on pairs of known Jaccard
 * similarity, the LSH candidate rate against the S-curve, union–find clusters, exact-duplicate removal, and dedup
 * of a small corpus with planted near-duplicates.
 */
import { describe, expect, it } from 'vitest';
import {
  dedup, estimateJaccard, hashSeeds, lshCandidates, minhashSignature, sCurve, shingles, splitDocuments, UnionFind,
} from '../../src/data/curation/minhash';
import { Rng } from '../../src/lib/rng';

/** Two sets of u32 with |A ∩ B| / |A ∪ B| = shared / (shared + 2·own) exactly. */
function pairWithJaccard(shared: number, own: number, rng: Rng): [Uint32Array, Uint32Array] {
  const base = Array.from({ length: shared }, () => rng.nextU32());
  const a = [...base, ...Array.from({ length: own }, () => rng.nextU32())];
  const b = [...base, ...Array.from({ length: own }, () => rng.nextU32())];
  return [Uint32Array.from(a), Uint32Array.from(b)];
}

describe('MinHash', () => {
  it('estimates the Jaccard similarity within its expected error (k = 112)', () => {
    const rng = new Rng(5);
    const k = 112;
    for (const [shared, own] of [[100, 0], [80, 10], [50, 25], [20, 40], [0, 50]] as const) {
      const J = shared / (shared + 2 * own);
      const errs: number[] = [];
      for (let trial = 0; trial < 40; trial++) {
        const seeds = hashSeeds(k, 1000 + trial);
        const [a, b] = pairWithJaccard(shared, own, rng);
        errs.push(estimateJaccard(minhashSignature(a, seeds), minhashSignature(b, seeds)) - J);
      }
      const sd = Math.sqrt((J * (1 - J)) / k);
      const mean = errs.reduce((s, e) => s + e, 0) / errs.length;
      const rms = Math.sqrt(errs.reduce((s, e) => s + e * e, 0) / errs.length);
      // unbiased (mean error within 4 standard errors of the mean) and the spread of a binomial proportion
      expect(Math.abs(mean), `J ${J}: mean error ${mean}`).toBeLessThanOrEqual(4 * sd / Math.sqrt(errs.length) + 1e-9);
      expect(rms, `J ${J}: rms error ${rms} vs binomial ${sd}`).toBeLessThanOrEqual(1.5 * sd + 1e-9);
    }
  });

  it('makes candidates at the rate of the S-curve 1 − (1 − s^r)^b', () => {
    const rng = new Rng(9);
    const [bands, rows] = [14, 8];
    const pairs = 300;
    for (const [shared, own] of [[60, 10], [70, 5], [40, 20], [80, 3]] as const) {
      const s = shared / (shared + 2 * own);
      const seeds = hashSeeds(bands * rows, 77);
      let hits = 0;
      for (let i = 0; i < pairs; i++) {
        const [a, b] = pairWithJaccard(shared, own, rng);
        if (lshCandidates([minhashSignature(a, seeds), minhashSignature(b, seeds)], bands, rows).length > 0) hits++;
      }
      const p = sCurve(s, bands, rows);
      const sd = Math.sqrt((p * (1 - p)) / pairs);
      expect(Math.abs(hits / pairs - p), `s ${s.toFixed(3)}: rate ${hits / pairs} vs S-curve ${p.toFixed(3)}`).toBeLessThanOrEqual(4 * sd + 0.02);
    }
    expect(sCurve(0, 14, 8)).toBe(0);
    expect(sCurve(1, 14, 8)).toBe(1);
  });

  it('shingles words and characters; a short document is one shingle', () => {
    expect(shingles('a b c d e f', 'word', 5).length).toBe(2);
    expect(shingles('a b', 'word', 5).length).toBe(1);
    expect(shingles('abcabc', 'char', 3).length).toBe(3); // abc, bca, cab
    expect(() => shingles('x', 'word', 0)).toThrow(/positive integer/);
  });

  it('splits documents at the separator and drops empty ones', () => {
    expect(splitDocuments('one<|endoftext|>two<|endoftext|>  <|endoftext|>')).toEqual(['one', 'two']);
  });
});

describe('union–find', () => {
  it('joins transitively and lists clusters of two or more, first member first', () => {
    const uf = new UnionFind(8);
    uf.union(5, 2);
    uf.union(2, 7);
    uf.union(0, 3);
    uf.union(3, 0);
    expect(uf.clusters()).toEqual([[0, 3], [2, 5, 7]]);
    expect(uf.find(7)).toBe(uf.find(5));
    expect(uf.find(1)).toBe(1);
  });
});

describe('dedup', () => {
  const story = (i: number, rng: Rng) =>
    Array.from({ length: 60 }, () => ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'dog', 'ran', 'far', 'away', 'home', 'red', 'ball', 'sun'][rng.nextInt(15)]).join(' ') + ` story ${i}`;

  it('removes exact copies first, then near-duplicates (a few words changed), and keeps the first of each cluster', () => {
    const rng = new Rng(3);
    const originals = Array.from({ length: 30 }, (_, i) => story(i, rng));
    const edit = (d: string) => {
      const w = d.split(' ');
      w[rng.nextInt(w.length)] = 'zebra'; // one word of 62: Jaccard of 5-grams about 0.85
      return w.join(' ');
    };
    const docs = [...originals, originals[3]!, edit(originals[7]!), edit(originals[12]!), originals[3]!];
    const r = dedup(docs);
    expect(r.removed.filter((x) => x.kind === 'exact').map((x) => [x.index, x.keptAs])).toEqual([[30, 3], [33, 3]]);
    expect(r.removed.filter((x) => x.kind === 'near').map((x) => [x.index, x.keptAs])).toEqual([[31, 7], [32, 12]]);
    expect(r.kept).toEqual(originals.map((_, i) => i));
    expect(r.stats).toMatchObject({ docsIn: 34, docsOut: 30, exactRemoved: 2, nearRemoved: 2 });
    expect(r.stats.bytesOut).toBeLessThan(r.stats.bytesIn);
    // unrelated stories stay apart
    expect(dedup(originals).removed).toEqual([]);
  });

  it('rejects bad options with a message', () => {
    expect(() => dedup(['a'], { bands: 0 })).toThrow(/bands must be a positive integer/);
    expect(() => dedup(['a'], { threshold: 2 })).toThrow(/threshold must be in \[0, 1\]/);
  });
});
