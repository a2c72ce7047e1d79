/**
 * A polluted corpus with its ground truth (issue 16), so curation has something real to remove and can be scored:
 * clean documents mixed, at chosen rates, with exact copies of them, near-copies (a few percent of the words
 * replaced, dropped or doubled), boilerplate pages (a few fixed headers and footers around a short varying line) and
 * random-character noise. Seeded; every document carries its kind and its duplicate group: a clean document and its
 * copies share a group, as do the boilerplate pages of one template, and ideal deduplication keeps exactly one
 * document of each group. Spam text from a licensed corpus (the fifth kind) is not in yet.
 */
import { Rng } from '../../lib/rng';

export type PollutedKind = 'clean' | 'exact-duplicate' | 'near-duplicate' | 'boilerplate' | 'noise';

export interface PollutedDoc {
  text: string;
  kind: PollutedKind;
  /** Documents of one group are copies of one another; ideal dedup keeps one document per group. */
  group: string;
}

export interface PollutionRates {
  /** Each rate is a count relative to the clean documents: 0.2 adds one such document per five clean ones. */
  exactDuplicates: number;
  nearDuplicates: number;
  boilerplate: number;
  noise: number;
  /** Fraction of a near-copy's words edited (replaced, dropped or doubled). */
  editRate: number;
  seed: number;
}

export const POLLUTION_DEFAULTS: Readonly<PollutionRates> = { exactDuplicates: 0.1, nearDuplicates: 0.15, boilerplate: 0.05, noise: 0.05, editRate: 0.03, seed: 1 };

const BOILERPLATE: [string, string][] = [
  ['Home | About | Contact | Subscribe to our newsletter for weekly updates and special offers.', 'Copyright 2026 Example Media. All rights reserved. Privacy policy. Terms of use. Cookie settings.'],
  ['Skip to main content. Menu. Search this site. Sign in or create an account to continue reading.', 'Share this page on social media. Related posts. Leave a comment below. Back to top.'],
  ['Advertisement. Click here to claim your free gift card today, limited time offer, act now.', 'This message was sent to you because you signed up. Unsubscribe at any time. Manage preferences.'],
];
const FILLER = ['today', 'news', 'update', 'page', 'offer', 'post', 'notice', 'item'];

function nearCopy(text: string, rate: number, rng: Rng): string {
  const words = text.split(' ');
  const out: string[] = [];
  for (const w of words) {
    if (rng.nextFloat() >= rate) {
      out.push(w);
      continue;
    }
    const r = rng.nextInt(3);
    if (r === 0) out.push(rng.pick(words)); // replaced by another word of the document
    else if (r === 2) out.push(w, w); // doubled; r === 1: dropped
  }
  return out.join(' ');
}

function noise(rng: Rng): string {
  const n = 80 + rng.nextInt(400);
  // printable ASCII and some Latin-1 and symbols: what a broken encoding or a binary file looks like as text
  return Array.from({ length: n }, () => String.fromCharCode(rng.nextFloat() < 0.8 ? 33 + rng.nextInt(94) : 0xa1 + rng.nextInt(0x5e))).join('');
}

function count(rate: number, clean: number, what: string): number {
  if (!(Number.isFinite(rate) && rate >= 0 && rate <= 10)) throw new RangeError(`polluted corpus: ${what} rate must be in [0, 10], got ${rate}`);
  return Math.round(rate * clean);
}

/** The clean documents with the pollution mixed in at random places, each document with its kind and group. */
export function pollute(clean: readonly string[], rates: Partial<PollutionRates> = {}): PollutedDoc[] {
  const r = { ...POLLUTION_DEFAULTS, ...rates };
  if (clean.length === 0) throw new RangeError('polluted corpus: no clean documents to start from');
  if (!(r.editRate > 0 && r.editRate < 1)) throw new RangeError(`polluted corpus: editRate must be in (0, 1), got ${r.editRate}`);
  const rng = new Rng(r.seed);
  const docs: PollutedDoc[] = clean.map((text, i) => ({ text, kind: 'clean', group: `c${i}` }));
  for (let k = count(r.exactDuplicates, clean.length, 'exactDuplicates'); k > 0; k--) {
    const i = rng.nextInt(clean.length);
    docs.push({ text: clean[i]!, kind: 'exact-duplicate', group: `c${i}` });
  }
  for (let k = count(r.nearDuplicates, clean.length, 'nearDuplicates'); k > 0; k--) {
    const i = rng.nextInt(clean.length);
    docs.push({ text: nearCopy(clean[i]!, r.editRate, rng), kind: 'near-duplicate', group: `c${i}` });
  }
  for (let k = count(r.boilerplate, clean.length, 'boilerplate'); k > 0; k--) {
    const t = rng.nextInt(BOILERPLATE.length);
    const [head, foot] = BOILERPLATE[t]!;
    docs.push({ text: `${head} ${rng.pick(FILLER)} ${rng.nextInt(100)}. ${foot}`, kind: 'boilerplate', group: `b${t}` });
  }
  for (let k = count(r.noise, clean.length, 'noise'), j = 0; k > 0; k--, j++) docs.push({ text: noise(rng), kind: 'noise', group: `n${j}` });
  // Fisher–Yates with the same generator: the polluted documents land anywhere, before or after their sources
  for (let i = docs.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [docs[i], docs[j]] = [docs[j]!, docs[i]!];
  }
  return docs;
}

export interface DedupScore {
  /** Removed documents whose group still has a document kept (right to remove). */
  truePositives: number;
  removed: number;
  /** The removals ideal dedup makes: documents minus groups. */
  duplicates: number;
  precision: number;
  recall: number;
  /** Groups left with no document at all (each such group counts one wrong removal). */
  groupsLost: number;
}

/** Scores a deduplication against the truth: ideal keeps exactly one document per group. */
export function scoreDedup(docs: readonly PollutedDoc[], removed: Iterable<number>): DedupScore {
  const gone = new Set(removed);
  const keptPerGroup = new Map<string, number>();
  const groups = new Set<string>();
  docs.forEach((d, i) => {
    groups.add(d.group);
    if (!gone.has(i)) keptPerGroup.set(d.group, (keptPerGroup.get(d.group) ?? 0) + 1);
  });
  const groupsLost = [...groups].filter((g) => !keptPerGroup.has(g)).length;
  const truePositives = gone.size - groupsLost;
  const duplicates = docs.length - groups.size;
  return {
    truePositives,
    removed: gone.size,
    duplicates,
    precision: gone.size === 0 ? 1 : truePositives / gone.size,
    recall: duplicates === 0 ? 1 : truePositives / duplicates,
    groupsLost,
  };
}
