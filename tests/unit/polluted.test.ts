/**
 * The polluted corpus generator (src/data/curation/polluted.ts): its ground truth, and MinHash dedup scored against
 * it (precision and recall above stated floors).
 */
import { describe, expect, it } from 'vitest';
import { dedup, splitDocuments } from '../../src/data/curation/minhash';
import { pollute, scoreDedup } from '../../src/data/curation/polluted';
import { generateSimpleStories } from '../../src/data/stories';

const clean = splitDocuments(generateSimpleStories({ seed: 4, targetBytes: 120_000, separator: '<|endoftext|>' }));

describe('polluted corpus', () => {
  it('adds each kind at its rate, keeps the clean documents and labels every copy with its source group', () => {
    const docs = pollute(clean, { exactDuplicates: 0.2, nearDuplicates: 0.3, boilerplate: 0.1, noise: 0.05, seed: 2 });
    const n = (k: string) => docs.filter((d) => d.kind === k).length;
    expect(n('clean')).toBe(clean.length);
    expect(n('exact-duplicate')).toBe(Math.round(0.2 * clean.length));
    expect(n('near-duplicate')).toBe(Math.round(0.3 * clean.length));
    expect(n('boilerplate')).toBe(Math.round(0.1 * clean.length));
    expect(n('noise')).toBe(Math.round(0.05 * clean.length));
    const byGroup = new Map(docs.filter((d) => d.kind === 'clean').map((d) => [d.group, d.text]));
    for (const d of docs.filter((x) => x.kind === 'exact-duplicate')) expect(d.text).toBe(byGroup.get(d.group));
    for (const d of docs.filter((x) => x.kind === 'near-duplicate')) expect(byGroup.has(d.group)).toBe(true);
    // seeded: the same corpus twice, a different one for another seed
    expect(pollute(clean, { seed: 2, exactDuplicates: 0.2, nearDuplicates: 0.3, boilerplate: 0.1, noise: 0.05 })).toEqual(docs);
    expect(pollute(clean, { seed: 3 }).map((d) => d.text)).not.toEqual(pollute(clean, { seed: 2 }).map((d) => d.text));
    expect(() => pollute(clean, { noise: -1 })).toThrow(/noise rate must be in \[0, 10\]/);
    expect(() => pollute([], {})).toThrow(/no clean documents/);
  });

  it('scores a dedup: ideal keeps one document per group', () => {
    const docs = [
      { text: 'a', kind: 'clean' as const, group: 'c0' },
      { text: 'a', kind: 'exact-duplicate' as const, group: 'c0' },
      { text: 'b', kind: 'clean' as const, group: 'c1' },
    ];
    expect(scoreDedup(docs, [1])).toMatchObject({ precision: 1, recall: 1, groupsLost: 0 });
    expect(scoreDedup(docs, [2])).toMatchObject({ precision: 0, recall: 0, groupsLost: 1 });
    expect(scoreDedup(docs, [])).toMatchObject({ precision: 1, recall: 0 });
  });

  // Measured on this corpus (seed 7: 291 short stories, 394 documents): word 5-grams, threshold 0.7: precision 1.000,
  // recall 0.776 (copies of a few dozen words lose many 5-grams to each edit); word 3-grams: 1.000 and 1.000.
  it.each([
    ['the defaults (word 5-grams)', {}, 0.95, 0.75],
    ['word 3-grams', { n: 3 }, 0.95, 0.95],
  ] as const)('MinHash dedup finds the copies: %s', (_, options, minPrecision, minRecall) => {
    const docs = pollute(clean, { seed: 7 });
    const r = dedup(docs.map((d) => d.text), options);
    const s = scoreDedup(docs, r.removed.map((x) => x.index));
    const ctx = `precision ${s.precision.toFixed(3)}, recall ${s.recall.toFixed(3)}: ${s.removed} removed of ${s.duplicates} duplicates, ${s.groupsLost} groups lost`;
    expect(s.precision, ctx).toBeGreaterThanOrEqual(minPrecision);
    expect(s.recall, ctx).toBeGreaterThanOrEqual(minRecall);
  });
});
