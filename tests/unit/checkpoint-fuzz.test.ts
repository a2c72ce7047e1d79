// Mutation fuzz: every damaged variant of a valid checkpoint must decode to exactly the original content
// or be refused with a CheckpointError; any other exception, or different content, fails. Seeded, so a
// failure names a mutation that reproduces.
import { describe, expect, it } from 'vitest';
import { CheckpointError, type CheckpointErrorCode, decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint';
import { MAX_HEADER_BYTES } from '../../src/train/safetensors';
import { sameCheckpoint, sampleCheckpoint, splitFile } from '../util/checkpoint-fixtures';
import { rng } from '../util/random';

const original = sampleCheckpoint(11);
const good = encodeCheckpoint(original);
const { header, headerLength, data } = splitFile(good);
const dataStart = 8 + headerLength;

type Outcome = 'same' | CheckpointErrorCode;

function attempt(bytes: Uint8Array, label: string): Outcome {
  let decoded;
  try {
    decoded = decodeCheckpoint(bytes);
  } catch (e) {
    if (e instanceof CheckpointError) {
      if (!e.message) throw new Error(`${label}: CheckpointError ${e.code} without a message`);
      return e.code;
    }
    throw new Error(`${label}: threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}, not a CheckpointError`);
  }
  if (!sameCheckpoint(decoded, original)) throw new Error(`${label}: decoded to different content`);
  return 'same';
}

/** A file with the given header text (re-measured and re-padded) and data. */
function withHeader(text: string, body: Uint8Array = data, pad = 8): Uint8Array {
  const json = new TextEncoder().encode(text);
  const length = Math.ceil(json.length / pad) * pad;
  const out = new Uint8Array(8 + length + body.length).fill(0x20, 8, 8 + length);
  new DataView(out.buffer).setBigUint64(0, BigInt(length), true);
  out.set(json, 8);
  out.set(body, 8 + length);
  return out;
}

function withLengthField(value: bigint): Uint8Array {
  const out = good.slice();
  new DataView(out.buffer).setBigUint64(0, value, true);
  return out;
}

const flipBit = (pos: number, bit: number) => {
  const out = good.slice();
  out[pos] ^= 1 << bit;
  return out;
};

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
};

/** Random edits of the parsed header that keep it valid JSON, each one plausible damage or tampering. */
function headerEdits(seed: number, count: number): [string, string][] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const parsed = JSON.parse(header) as Record<string, Record<string, unknown>>;
  const metaKeys = Object.keys(parsed.__metadata__);
  // later edits see earlier ones: a deleted tensor or metadata is gone for them too
  const pickName = (h: Record<string, unknown>) => pick(Object.keys(h).filter((k) => k !== '__metadata__'));
  const meta = (h: Record<string, Record<string, unknown>>) => (h.__metadata__ ??= {});
  const edits: ((h: Record<string, Record<string, unknown>>) => string)[] = [
    (h) => { const n = pickName(h); const s = h[n].shape as number[]; if (s.length) s[Math.floor(r() * s.length)] += pick([-1, 1, 2]); else s.push(2); return `shape of ${n}`; },
    (h) => { const n = pickName(h); (h[n].shape as number[]).push(1); return `shape of ${n} gains a 1`; },
    (h) => { const n = pickName(h); (h[n].shape as number[]).reverse(); return `shape of ${n} reversed`; },
    (h) => { const n = pickName(h); const o = h[n].data_offsets as number[]; o[Math.floor(r() * 2)] += pick([-4, 4, 1, -8]); return `offsets of ${n}`; },
    (h) => { const a = pickName(h); const b = pickName(h); [h[a].data_offsets, h[b].data_offsets] = [h[b].data_offsets, h[a].data_offsets]; return `offsets of ${a}, ${b} swapped`; },
    (h) => { const n = pickName(h); h[n].dtype = pick(['I32', 'U32', 'F16', 'BF16', 'F64', 'X', 'f32', 'U8']); return `dtype of ${n}`; },
    (h) => { const n = pickName(h); h[`${n}_renamed`] = h[n]; delete h[n]; return `rename ${n}`; },
    (h) => { const n = pickName(h); delete h[n]; return `delete ${n}`; },
    (h) => { const n = pickName(h); h[`copy.${n}`] = { ...h[n] }; return `duplicate ${n}`; },
    (h) => { const k = pick(metaKeys); delete meta(h)[k]; return `delete metadata ${k}`; },
    (h) => { meta(h)[pick(['extra', 'note', 'format2'])] = 'x'; return 'add metadata'; },
    (h) => { const k = pick(metaKeys); meta(h)[k] = String(meta(h)[k]).replace(/[0-9]/, (d) => String((+d + 1) % 10)); return `digit in ${k}`; },
    (h) => { const k = pick(metaKeys); meta(h)[k] = pick(['', '{}', 'null', '1', '"x"', '[]']); return `replace ${k}`; },
    (h) => { const k = pick(metaKeys); meta(h)[k] = 3 as unknown as string; return `non-string ${k}`; },
    (h) => { meta(h).config = JSON.stringify({ ...JSON.parse(String(meta(h).config)), seed: 8 }); return 'config seed'; },
    (h) => { meta(h).step = String(Number(meta(h).step) + 1); return 'step + 1'; },
    (h) => { meta(h).format = 'safetensors'; return 'format'; },
    (h) => { meta(h).version = '2'; return 'version'; },
    (h) => { delete h.__metadata__; return 'no metadata'; },
    (h) => { const n = pickName(h); h[n].extra = 1; return `extra field in ${n}`; },
    (h) => { const n = pickName(h); h[n].shape = pick([null, '4', [-1], [1.5], [2 ** 53]]) as unknown as number[]; return `bad shape ${n}`; },
  ];
  const out: [string, string][] = [];
  for (let i = 0; i < count; i++) {
    const h = JSON.parse(header) as Record<string, Record<string, unknown>>;
    const steps = 1 + Math.floor(r() * 2);
    const labels = [];
    for (let s = 0; s < steps; s++) labels.push(pick(edits)(h));
    out.push([labels.join(' + '), JSON.stringify(h)]);
  }
  return out;
}

describe('checkpoint mutation fuzz', () => {
  const tally = new Map<Outcome, number>();
  const run = (bytes: Uint8Array, label: string): Outcome => {
    const outcome = attempt(bytes, label);
    tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
    return outcome;
  };

  it('refuses every bit flip of the header-length field', () => {
    for (let bit = 0; bit < 64; bit++) expect(run(flipBit(bit >> 3, bit & 7), `length bit ${bit}`)).not.toBe('same');
  });

  it('header length set to huge, off-by-one and boundary values', () => {
    const n = BigInt(headerLength);
    const values = [0n, 1n, 2n, n - 1n, n + 1n, n - 8n, n + 8n, BigInt(good.length - 8), BigInt(good.length - 7),
      BigInt(MAX_HEADER_BYTES), BigInt(MAX_HEADER_BYTES + 1), 2n ** 31n, 2n ** 32n, 2n ** 32n + n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];
    for (const v of values) expect(run(withLengthField(v), `length ${v}`)).not.toBe('same');
  });

  it('bit flips in the header are refused or harmless', () => {
    const r = rng(101);
    for (let i = 0; i < 16 * 8; i++) run(flipBit(8 + (i >> 3), i & 7), `header start bit ${i}`);
    for (let i = 0; i < 16 * 8; i++) run(flipBit(dataStart - 16 + (i >> 3), i & 7), `header end bit ${i}`);
    for (let i = 0; i < 400; i++) {
      const pos = 8 + Math.floor(r() * headerLength);
      run(flipBit(pos, Math.floor(r() * 8)), `header byte ${pos}`);
    }
  });

  it('every bit flip in tensor data is caught by the checksum', () => {
    const r = rng(202);
    const positions = [0, 1, data.length - 1, data.length - 2];
    for (let i = 0; i < 300; i++) positions.push(Math.floor(r() * data.length));
    for (const p of positions) {
      for (const bit of [0, Math.floor(r() * 8), 7]) expect(run(flipBit(dataStart + p, bit), `data byte ${p} bit ${bit}`)).toBe('checksum');
    }
    // a burst of damage in the data
    for (let i = 0; i < 50; i++) {
      const out = good.slice();
      const at = dataStart + Math.floor(r() * (data.length - 8));
      for (let k = 0; k < 1 + Math.floor(r() * 8); k++) out[at + k] = Math.floor(r() * 256);
      if (out.some((b, j) => b !== good[j])) expect(run(out, `data burst at ${at}`)).toBe('checksum');
    }
  });

  it('refuses truncation at every interesting boundary', () => {
    const cuts = new Set<number>();
    for (let i = 0; i <= 17; i++) cuts.add(i);
    for (const d of [-9, -8, -1, 0, 1]) cuts.add(dataStart + d);
    for (let p = 0; p < data.length; p += 4) cuts.add(dataStart + p);
    for (let i = 1; i <= 8; i++) cuts.add(good.length - i);
    for (const c of cuts) {
      if (c >= good.length) continue;
      expect(run(good.slice(0, c), `truncated to ${c}`)).not.toBe('same');
    }
  });

  it('refuses appended junk and extended lengths', () => {
    const r = rng(303);
    for (const n of [1, 2, 3, 4, 7, 8, 9, 16, 100]) {
      expect(run(concat(good, new Uint8Array(n)), `+${n} zero bytes`)).toBe('trailing-data');
      expect(run(concat(good, Uint8Array.from({ length: n }, () => Math.floor(r() * 256))), `+${n} random bytes`)).toBe('trailing-data');
    }
    expect(run(concat(good, good), 'file twice')).toBe('trailing-data');
    // the header length grows over bytes that are then part of the JSON text
    const grown = concat(good.subarray(0, dataStart), new TextEncoder().encode('        '), data);
    new DataView(grown.buffer).setBigUint64(0, BigInt(headerLength + 8), true);
    expect(run(grown, 'header padded by 8 more spaces')).toBe('same');
    const junk = concat(good.subarray(0, dataStart), new TextEncoder().encode('  x     '), data);
    new DataView(junk.buffer).setBigUint64(0, BigInt(headerLength + 8), true);
    expect(run(junk, 'junk in header padding')).toBe('bad-json');
  });

  it('random header JSON edits are refused or change nothing', () => {
    for (const [label, text] of headerEdits(404, 400)) run(withHeader(text), label);
    // semantics-preserving rewrites decode to the same content
    const h = JSON.parse(header) as Record<string, unknown>;
    const reversed = Object.fromEntries(Object.entries(h).reverse());
    expect(run(withHeader(JSON.stringify(reversed)), 'keys reordered')).toBe('same');
    expect(run(withHeader(JSON.stringify(h, null, 2)), 'pretty-printed')).toBe('same');
    expect(run(withHeader(header.trimEnd(), data, 1), 'unpadded')).toBe('same');
    // duplicate key by text surgery: JSON.parse would keep the last one silently
    const first = header.indexOf('"wte"');
    const end = header.indexOf('}', first) + 1;
    expect(run(withHeader(`{${header.slice(first, end)},${header.slice(1)}`), 'duplicate wte')).toBe('duplicate');
  });

  it('random byte overwrites anywhere and random files are refused', () => {
    const r = rng(505);
    for (let i = 0; i < 200; i++) {
      const out = good.slice();
      const at = Math.floor(r() * out.length);
      const n = 1 + Math.floor(r() * 8);
      for (let k = 0; k < n && at + k < out.length; k++) out[at + k] = Math.floor(r() * 256);
      run(out, `overwrite ${n} at ${at}`);
    }
    for (let i = 0; i < 30; i++) {
      const n = Math.floor(r() * 200);
      const junk = Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
      if (i % 3 === 0 && n > 9) junk[8] = 0x7b;
      expect(run(junk, `random file ${i}`)).not.toBe('same');
    }
  });

  it('covered hundreds of mutations with many kinds of refusal', () => {
    const total = [...tally.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(2000);
    for (const code of ['checksum', 'truncated', 'header-too-large', 'bad-json', 'trailing-data', 'bad-offsets', 'duplicate', 'foreign']) {
      expect(tally.get(code as Outcome) ?? 0, code).toBeGreaterThan(0);
    }
    console.log(`[checkpoint fuzz] ${total} mutations:`, Object.fromEntries([...tally].sort((a, b) => b[1] - a[1])));
  });
});
