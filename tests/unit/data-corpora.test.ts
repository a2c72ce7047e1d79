import { describe, expect, it } from 'vitest';
import {
  BUILTIN_CORPORA,
  MOBY_DICK,
  findCorpus,
  generateSimpleStories,
  simpleStoriesCorpus,
  userTextCorpus,
  validateUserText,
} from '../../src/data/corpora';
import { formatBytes } from '../../src/lib/format';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('built-in corpora', () => {
  it('lists corpora with metadata, the default first', () => {
    expect(BUILTIN_CORPORA.map((c) => c.id)).toEqual(['simple-stories', 'moby-dick', 'reasoning']);
    for (const c of BUILTIN_CORPORA) {
      expect(c.title.length).toBeGreaterThan(0);
      expect(c.description.length).toBeGreaterThan(20);
      expect(c.licence.length).toBeGreaterThan(10);
      expect(findCorpus(c.id)).toBe(c);
    }
    expect(findCorpus('nope')).toBeUndefined();
    expect(MOBY_DICK.licence).toMatch(/public domain/i);
    expect(MOBY_DICK.licence).toMatch(/Apache-2\.0/);
  });

  it('loads Moby Dick from the bundled package', async () => {
    const text = await MOBY_DICK.load();
    expect(text).toContain('Call me Ishmael');
    expect(text.startsWith('CHAPTER 1. Loomings.')).toBe(true);
    expect(text).toContain('the great shroud of the sea rolled on');
    expect(text.length).toBeGreaterThan(1_100_000);
    expect(text).toMatch(/\n\nCall me Ishmael\. Some years ago—never mind how long precisely—having little or no money/);
    expect(text).not.toMatch(/[^\n]\n[^\n]/); // paragraphs on one line each
  });

  it('loads simple stories of about the size asked', async () => {
    const text = await simpleStoriesCorpus({ seed: 3, targetBytes: 20_000 }).load();
    expect(text.length).toBeGreaterThanOrEqual(20_000);
    expect(text.length).toBeLessThan(22_000);
    expect(simpleStoriesCorpus({ seed: 3, targetBytes: 20_000 }).id).toBe('simple-stories-seed3-20000b');
  });
});

describe('generateSimpleStories', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const a = generateSimpleStories({ seed: 42, targetBytes: 50_000 });
    expect(generateSimpleStories({ seed: 42, targetBytes: 50_000 })).toBe(a);
    expect(generateSimpleStories({ seed: 43, targetBytes: 50_000 })).not.toBe(a);
    // A fixed sample guards against accidental changes to the grammar (which would change every stored run).
    expect(a.slice(0, 60)).toMatchInlineSnapshot(`"Mia was a shy bird who lived in a small town. Mia wanted to "`);
  });

  it('writes stories: sentences, names, a separator between stories, a varied but small vocabulary', () => {
    const text = generateSimpleStories({ seed: 1, targetBytes: 200_000 });
    const stories = text.split('\n\n').filter((s) => s.length > 0);
    expect(stories.length).toBeGreaterThan(200);
    for (const s of stories.slice(0, 50)) expect(s).toMatch(/^[A-Z].*[.!"]$/);
    const words = new Set(text.toLowerCase().match(/[a-z']+/g));
    expect(words.size).toBeGreaterThan(150);
    expect(words.size).toBeLessThan(600);
    expect(new Set(stories).size).toBeGreaterThan(stories.length * 0.9);
  });

  it('can end each story with <|endoftext|>', () => {
    const text = generateSimpleStories({ seed: 1, targetBytes: 5000, separator: '<|endoftext|>' });
    expect(text.endsWith('<|endoftext|>')).toBe(true);
    expect(text).not.toContain('\n');
  });

  it('rejects sizes out of range', () => {
    expect(() => generateSimpleStories({ targetBytes: 10 })).toThrow(/from 1024/);
    expect(() => generateSimpleStories({ targetBytes: 1e9 })).toThrow(/16 MiB/);
  });

  it('generates 1 MB quickly', () => {
    const t0 = performance.now();
    generateSimpleStories({ seed: 2, targetBytes: 1 << 20 });
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});

describe('validateUserText', () => {
  it('accepts UTF-8 text, removing a BOM and CRLF line endings', () => {
    const body = 'It was the best of times.\r\nIt was the worst of times. Ünïcödé 😀\r\n'.repeat(500);
    const r = validateUserText('tale.txt', new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(body)]));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.text).toBe(body.replace(/\r\n/g, '\n'));
    expect(r.warnings.join(' ')).toMatch(/line endings/);
    expect(userTextCorpus(r.name, r.text).id).toBe('user:tale.txt');
  });

  it('warns about a tiny file but accepts it', () => {
    const r = validateUserText('poem.txt', utf8('Roses are red.\n'));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.warnings.join(' ')).toMatch(/poem\.txt is only 15 bytes; a model will memorise it/);
  });

  it('rejects an empty or whitespace-only file', () => {
    const r = validateUserText('empty.txt', new Uint8Array(0));
    expect(r).toMatchObject({ ok: false, problem: 'empty' });
    if (!r.ok) expect(r.message).toMatch(/^empty\.txt is empty\./);
    expect(validateUserText('blank.txt', utf8(' \n\t\n'))).toMatchObject({ ok: false, problem: 'empty' });
  });

  it('rejects a file over the limit, saying the sizes', () => {
    const r = validateUserText('big.txt', new Uint8Array(3000).fill(97), { maxBytes: 2048 });
    expect(r).toMatchObject({ ok: false, problem: 'too-large' });
    if (!r.ok) expect(r.message).toMatch(/big\.txt is 2\.9 KiB, more than the 2\.0 KiB limit\. Use a smaller excerpt/);
  });

  it('rejects binary files (NUL bytes, control characters) and says what to do', () => {
    const pdf = new Uint8Array([...utf8('%PDF-1.7\n'), 0, 1, 2, 3, ...utf8('stream')]);
    const r = validateUserText('paper.pdf', pdf);
    expect(r).toMatchObject({ ok: false, problem: 'binary' });
    if (!r.ok) expect(r.message).toMatch(/paper\.pdf contains NUL bytes \(the first at byte 9\).*save it as plain text/);
    const controls = new Uint8Array(1000).map((_, i) => (i % 10 === 0 ? 7 : 97));
    expect(validateUserText('odd.bin', controls)).toMatchObject({ ok: false, problem: 'binary' });
  });

  it('rejects UTF-16 and non-UTF-8 text, accepts a few stray bytes with a warning', () => {
    expect(validateUserText('w.txt', new Uint8Array([0xff, 0xfe, 0x41, 0x00]))).toMatchObject({ ok: false, problem: 'utf16' });
    const latin1 = new Uint8Array(2000).map((_, i) => (i % 20 === 0 ? 0xe9 : 0x61)); // 5% 'é' in Latin-1
    const r = validateUserText('latin.txt', latin1);
    expect(r).toMatchObject({ ok: false, problem: 'not-utf8' });
    if (!r.ok) expect(r.message).toMatch(/latin\.txt is not UTF-8 text \(5\.0% .*Latin-1.*Save it again as UTF-8/);
    const stray = new Uint8Array(20_000).fill(0x61);
    stray[100] = 0xff;
    const ok = validateUserText('stray.txt', stray);
    expect(ok.ok).toBe(true);
    if (ok.ok) {
      expect(ok.text[100]).toBe('\ufffd');
      expect(ok.warnings.join(' ')).toMatch(/1 bytes of stray\.txt were not valid UTF-8/);
    }
  });

  it('counts overlong, surrogate and truncated sequences as invalid', () => {
    for (const bad of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf5, 0x80, 0x80, 0x80]]) {
      const bytes = new Uint8Array([...bad, ...new Uint8Array(50).fill(0x61)]);
      expect(validateUserText('x.txt', bytes)).toMatchObject({ ok: false, problem: 'not-utf8' });
    }
  });

  it('formats sizes', () => {
    expect(formatBytes(12)).toBe('12 bytes');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(50 * 1024 * 1024)).toBe('50.0 MiB');
    expect(formatBytes(1.85 * 2 ** 30)).toBe('1.85 GiB');
    expect(formatBytes(NaN)).toBe('–');
  });
});
