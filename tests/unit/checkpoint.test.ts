import { describe, expect, it } from 'vitest';
import {
  type Checkpoint, CheckpointError, type CheckpointErrorCode, checkpointBlob, checkpointChecksum, checkpointFileName,
  decodeCheckpoint, encodeCheckpoint, readCheckpointFile,
} from '../../src/train/checkpoint';
import { decodeSafetensors, encodeSafetensors, MAX_HEADER_BYTES, MAX_JSON_DEPTH, type TensorInput } from '../../src/train/safetensors';
import { BpeTokenizer } from '../../src/data/bpe';
import { FIRST_MERGE_ID, SPECIAL_TOKENS, tokenizerFromJSON } from '../../src/data/tokenizer';
import { bitsOf, rawSafetensors, sameCheckpoint, sampleCheckpoint, SPECIAL_BITS } from '../util/checkpoint-fixtures';

function codeOf(fn: () => unknown): CheckpointErrorCode {
  try {
    fn();
  } catch (e) {
    if (e instanceof CheckpointError) return e.code;
    throw e;
  }
  throw new Error('expected a CheckpointError, nothing was thrown');
}

function errorOf(fn: () => unknown): CheckpointError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return e as CheckpointError;
  }
  throw new Error('expected a CheckpointError, nothing was thrown');
}

async function asyncErrorOf(p: Promise<unknown>): Promise<CheckpointError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return e as CheckpointError;
  }
  throw new Error('expected a CheckpointError, nothing was thrown');
}

/**
 * Re-writes an encoded checkpoint after `edit` changes its metadata or tensors, with a fresh valid checksum,
 * so the tests reach the checks that come after the checksum.
 */
function rewrite(bytes: Uint8Array, edit: (meta: Record<string, string>, tensors: Map<string, TensorInput>) => void): Uint8Array {
  const file = decodeSafetensors(bytes);
  const meta = { ...file.metadata! };
  const tensors = new Map<string, TensorInput>(
    [...file.tensors].map(([n, t]) => [n, { dtype: t.dtype, shape: t.shape, data: new Uint8Array(t.bytes) }]),
  );
  edit(meta, tensors);
  const table = [...tensors].map(([name, t]) => ({
    name, dtype: t.dtype!, shape: t.shape, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  }));
  meta.checksum = checkpointChecksum(meta, table);
  return encodeSafetensors(tensors, meta);
}
const bytesAs = (dtype: 'F32' | 'F16', shape: number[], data: Uint8Array): TensorInput => ({ dtype, shape, data });

describe('checkpoint round trip', () => {
  it('restores parameters, optimizer state and metadata bit for bit', () => {
    const original = sampleCheckpoint();
    const back = decodeCheckpoint(encodeCheckpoint(original));
    expect(sameCheckpoint(back, original)).toBe(true);
    expect(bitsOf(back.params.get('h.0.attn.qkv')!.data)).toEqual(SPECIAL_BITS);
    expect([...back.params.keys()]).toEqual([...original.params.keys()]);
    expect(back.config).toEqual(original.config);
    expect(back.rng).toEqual(original.rng);
    expect(back.tokenizer).toEqual(original.tokenizer);
    expect(back.step).toBe(42);
    expect(back.createdAt).toBe('2025-01-02T03:04:05.000Z');
    expect(back.params.get('empty')!.shape).toEqual([0, 3]);
    expect(back.params.get('scalar')!.shape).toEqual([]);
  });

  it('round-trips a checkpoint without optimizer state, and stamps createdAt when not given', () => {
    const original = sampleCheckpoint(3, false);
    const { createdAt: _unused, ...rest } = original;
    const back = decodeCheckpoint(encodeCheckpoint(rest));
    expect(back.optimizer).toBeNull();
    expect(Math.abs(Date.parse(back.createdAt) - Date.now())).toBeLessThan(60_000);
    expect(sameCheckpoint(back, { ...original, createdAt: back.createdAt })).toBe(true);
  });

  it('is a plain safetensors file that other tools can read', () => {
    const file = decodeSafetensors(encodeCheckpoint(sampleCheckpoint()));
    expect(file.metadata!.format).toBe('spark-lab-checkpoint');
    expect(file.metadata!.version).toBe('1');
    expect(JSON.parse(file.metadata!.config)).toEqual(sampleCheckpoint().config);
    expect(file.metadata!.checksum).toMatch(/^crc32:[0-9a-f]{8}$/);
    expect([...file.tensors.keys()]).toContain('optim.m.wte');
    expect([...file.tensors.keys()]).toContain('optim.v.h.0.ln1.g');
    expect(file.tensors.get('wte')!.dtype).toBe('F32');
  });

  it('is deterministic', () => {
    expect(encodeCheckpoint(sampleCheckpoint())).toEqual(encodeCheckpoint(sampleCheckpoint()));
  });
});

describe('checkpoint refusals', () => {
  const good = encodeCheckpoint(sampleCheckpoint());

  it('foreign: a valid safetensors file from another tool', () => {
    const plain = encodeSafetensors([['weight', { shape: [2], data: new Float32Array(2) }]]);
    const e = errorOf(() => decodeCheckpoint(plain));
    expect(e.code).toBe('foreign');
    expect(e.message).toMatch(/not a Spark Lab checkpoint.*no __metadata__.format.*"weight"/);
    const pt = encodeSafetensors([['w', { shape: [1], data: new Float32Array(1) }]], { format: 'pt' });
    expect(errorOf(() => decodeCheckpoint(pt)).message).toMatch(/format "pt"/);
  });

  it('version', () => {
    const e = errorOf(() => decodeCheckpoint(rewrite(good, (m) => (m.version = '2'))));
    expect(e.code).toBe('version');
    expect(e.message).toMatch(/version "2"/);
  });

  it('missing-metadata names the key', () => {
    for (const key of ['config', 'step', 'rng', 'tokenizer', 'createdAt', 'checksum']) {
      const file = decodeSafetensors(good);
      const meta = { ...file.metadata! };
      delete meta[key];
      const bytes = encodeSafetensors([...file.tensors].map(([n, t]) => [n, bytesAs('F32', t.shape, t.bytes)]), meta);
      const e = errorOf(() => decodeCheckpoint(bytes));
      expect(e.code).toBe('missing-metadata');
      expect(e.message).toContain(`"${key}"`);
    }
  });

  it('bad-metadata: unknown keys, a bad step or date, non-JSON values', () => {
    expect(codeOf(() => decodeCheckpoint(rewrite(good, (m) => (m.extra = 'x'))))).toBe('bad-metadata');
    for (const step of ['-1', '1.5', '01', '', ' 3', '1e3', '99999999999999999']) {
      const e = errorOf(() => decodeCheckpoint(rewrite(good, (m) => (m.step = step))));
      expect(e.code, step).toBe('bad-metadata');
    }
    expect(codeOf(() => decodeCheckpoint(rewrite(good, (m) => (m.createdAt = 'yesterday'))))).toBe('bad-metadata');
    const e = errorOf(() => decodeCheckpoint(rewrite(good, (m) => (m.config = '{"model":')))) ;
    expect(e.code).toBe('bad-metadata');
    expect(e.message).toMatch(/"config" is not valid JSON/);
  });

  it('checksum: one flipped bit in tensor data or metadata', () => {
    const data = good.slice();
    data[data.length - 3] ^= 0x10;
    const e = errorOf(() => decodeCheckpoint(data));
    expect(e.code).toBe('checksum');
    expect(e.message).toMatch(/corrupted/);
    expect(codeOf(() => decodeCheckpoint(rewrite(good, () => undefined).map((b, i, a) => (i === a.length - 1 ? b ^ 1 : b))))).toBe('checksum');
    const file = decodeSafetensors(good);
    const meta = { ...file.metadata!, step: '43' };
    const stale = encodeSafetensors([...file.tensors].map(([n, t]) => [n, bytesAs('F32', t.shape, t.bytes)]), meta);
    expect(codeOf(() => decodeCheckpoint(stale))).toBe('checksum');
  });

  it('dtype: parameters must be F32', () => {
    const e = errorOf(() => decodeCheckpoint(rewrite(good, (_m, t) => t.set('half', bytesAs('F16', [2], new Uint8Array(4))))));
    expect(e.code).toBe('dtype');
    expect(e.message).toMatch(/"half" is F16/);
  });

  it('optimizer-mismatch: missing, misshapen or orphan moments', () => {
    const missing = errorOf(() => decodeCheckpoint(rewrite(good, (_m, t) => t.delete('optim.v.wte'))));
    expect(missing.code).toBe('optimizer-mismatch');
    expect(missing.message).toMatch(/no v for parameter "wte"/);
    const shape = errorOf(() => decodeCheckpoint(rewrite(good, (_m, t) => (t.get('optim.m.wte')!.shape = [4, 5]))));
    expect(shape.message).toMatch(/optimizer m of "wte" has shape \[4,5\], the parameter has \[5,4\]/);
    const orphan = errorOf(() => decodeCheckpoint(rewrite(good, (_m, t) => t.set('optim.m.ghost', bytesAs('F32', [1], new Uint8Array(4))))));
    expect(orphan.message).toMatch(/"ghost" belongs to no parameter/);
    const unknown = errorOf(() => decodeCheckpoint(rewrite(good, (_m, t) => t.set('optim.x.wte', bytesAs('F32', [1], new Uint8Array(4))))));
    expect(unknown.code).toBe('optimizer-mismatch');
    const extraParam = errorOf(() => decodeCheckpoint(rewrite(good, (_m, t) => t.set('new', bytesAs('F32', [1], new Uint8Array(4))))));
    expect(extraParam.message).toMatch(/no m for parameter "new"/);
  });

  it('config-mismatch: the caller refuses the stored config, with its reason', () => {
    const e = errorOf(() =>
      decodeCheckpoint(good, {
        expectConfig: (c) => {
          const width = (c as { model: { nEmbd: number } }).model.nEmbd;
          if (width !== 128) throw new Error(`model.nEmbd is ${width}, this run has 128`);
        },
      }),
    );
    expect(e.code).toBe('config-mismatch');
    expect(e.message).toMatch(/model.nEmbd is 4, this run has 128/);
    const own = new CheckpointError('version', 'x');
    expect(errorOf(() => decodeCheckpoint(good, { expectConfig: () => { throw own; } }))).toBe(own);
    expect(decodeCheckpoint(good, { expectConfig: () => undefined }).step).toBe(42);
  });

  it('config-mismatch comes before any tensor is converted (a config too big to load costs no copies)', () => {
    const halfAndBig = rewrite(good, (_m, t) => t.set('half', bytesAs('F16', [2], new Uint8Array(4))));
    expect(codeOf(() => decodeCheckpoint(halfAndBig))).toBe('dtype');
    expect(codeOf(() => decodeCheckpoint(halfAndBig, { expectConfig: () => { throw new Error('too big'); } }))).toBe('config-mismatch');
  });

  it('refuses what it cannot write', () => {
    const c = sampleCheckpoint();
    expect(codeOf(() => encodeCheckpoint({ ...c, step: -1 }))).toBe('bad-input');
    expect(codeOf(() => encodeCheckpoint({ ...c, step: 1.5 }))).toBe('bad-input');
    expect(codeOf(() => encodeCheckpoint({ ...c, createdAt: 'soon' }))).toBe('bad-input');
    expect(codeOf(() => encodeCheckpoint({ ...c, config: { big: 1n } }))).toBe('bad-input');
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(errorOf(() => encodeCheckpoint({ ...c, rng: loop })).message).toMatch(/rng is not JSON-serialisable/);
    expect(codeOf(() => encodeCheckpoint({ ...c, tokenizer: undefined }))).toBe('bad-input');
    expect(codeOf(() => encodeCheckpoint({ ...c, params: new Map([['optim.x', { shape: [1], data: new Float32Array(1) }]]) }))).toBe('bad-input');
    expect(codeOf(() => encodeCheckpoint({ ...c, params: new Map([['a', { shape: [2], data: new Float32Array(1) }]]), optimizer: null }))).toBe('shape');
    expect(codeOf(() => encodeCheckpoint({ ...c, params: new Map([['a', { shape: [1], data: new Float64Array(1) as unknown as Float32Array }]]), optimizer: null }))).toBe('dtype');
    const m = new Map(c.optimizer!.m);
    m.delete('wte');
    expect(codeOf(() => encodeCheckpoint({ ...c, optimizer: { m, v: c.optimizer!.v } }))).toBe('optimizer-mismatch');
  });
});

describe('checkpoint files for download and upload', () => {
  it('names the file after the run', () => {
    const c = sampleCheckpoint();
    expect(checkpointFileName(c.config, 42)).toBe('spark-lab-tiny-stories-L1-d4-step000042.safetensors');
    expect(checkpointFileName({ name: 'My Run / v2!' }, 1234567)).toBe('spark-lab-my-run-v2-step1234567.safetensors');
    expect(checkpointFileName(null, NaN)).toBe('spark-lab-step0.safetensors');
  });

  it('reads a Blob back into the same checkpoint', async () => {
    const c = sampleCheckpoint();
    const blob = checkpointBlob(encodeCheckpoint(c));
    expect(blob.type).toBe('application/octet-stream');
    const back: Checkpoint = await readCheckpointFile(blob);
    expect(sameCheckpoint(back, c)).toBe(true);
    const shared = new Uint8Array(new SharedArrayBuffer(blob.size));
    shared.set(encodeCheckpoint(c));
    expect(sameCheckpoint(decodeCheckpoint(shared), c)).toBe(true);
  });

  it('checks size caps before reading the whole file', async () => {
    const bytes = encodeCheckpoint(sampleCheckpoint());
    expect((await asyncErrorOf(readCheckpointFile(new Blob([bytes]), { maxBytes: 100 }))).code).toBe('too-large');
    let wholeReads = 0;
    const huge = bytes.slice();
    new DataView(huge.buffer).setBigUint64(0, 2n ** 50n, true);
    const spy = new Blob([huge]);
    const arrayBuffer = spy.arrayBuffer.bind(spy);
    spy.arrayBuffer = () => (wholeReads++, arrayBuffer());
    expect((await asyncErrorOf(readCheckpointFile(spy))).code).toBe('header-too-large');
    expect(wholeReads).toBe(0);
    expect((await asyncErrorOf(readCheckpointFile(new Blob([bytes.subarray(0, 5)])))).code).toBe('truncated');
    expect((await asyncErrorOf(readCheckpointFile(new Blob([bytes.subarray(0, 100)])))).code).toBe('truncated');
  });

  it('turns a read failure into read-failed', async () => {
    const broken = {
      size: 64,
      slice: () => broken,
      arrayBuffer: () => Promise.reject(new DOMException('file changed on disk', 'NotReadableError')),
    } as unknown as Blob;
    const e = await asyncErrorOf(readCheckpointFile(broken));
    expect(e.code).toBe('read-failed');
    expect(e.message).toMatch(/file changed on disk/);
  });
});

/**
 * A valid 65,536-token merge table whose ids are mostly 5 digits, so its JSON is near the largest one there can be:
 * 256 two-byte tokens, 10,000 three-byte ones (a byte and a two-byte token), then pairs of ids 10000..10514.
 */
function largestBpeMerges(): number[] {
  const merges: number[] = [];
  for (let b = 0; b < 256; b++) merges.push(b, b);
  for (let j = 0; j < 10_000; j++) merges.push(j % 256, FIRST_MERGE_ID + Math.floor(j / 256));
  for (let j = 0; FIRST_MERGE_ID + merges.length / 2 < 65_536; j++) merges.push(10_000 + (j % 515), 10_000 + Math.floor(j / 515));
  return merges;
}

describe('checkpoint header limits', () => {
  it('refuses a header over the cap from the 8-byte prefix, without reading the file', async () => {
    const over = rawSafetensors({}, 0, { headerLength: BigInt(MAX_HEADER_BYTES + 8) });
    const file = new Blob([over as Uint8Array<ArrayBuffer>, new Uint8Array(MAX_HEADER_BYTES + 8)]);
    let wholeReads = 0;
    const arrayBuffer = file.arrayBuffer.bind(file);
    file.arrayBuffer = () => (wholeReads++, arrayBuffer());
    const e = await asyncErrorOf(readCheckpointFile(file));
    expect(e.code).toBe('header-too-large');
    expect(e.message).toMatch(new RegExp(`header length ${MAX_HEADER_BYTES + 8} bytes exceeds the ${MAX_HEADER_BYTES}-byte cap`));
    expect(wholeReads).toBe(0);
    // The reported attack: a 95 MB header (of nested '['), refused from its prefix alone.
    const prefix = rawSafetensors('{"a":[', 0, { headerLength: 95_000_000n }).slice(0, 9);
    const fake = {
      size: 8 + 95_000_000,
      slice: (start: number, end: number) => new Blob([prefix.slice(start, end) as Uint8Array<ArrayBuffer>]),
      arrayBuffer: () => Promise.reject(new Error('read the whole file')),
    } as unknown as Blob;
    expect((await asyncErrorOf(readCheckpointFile(fake))).code).toBe('header-too-large');
    // Exactly at the cap is allowed (a header padded with spaces).
    const atCap = rawSafetensors(`{}${' '.repeat(MAX_HEADER_BYTES - 2)}`);
    expect(decodeSafetensors(atCap).tensors.size).toBe(0);
  });

  it('refuses a deeply nested header below the cap quickly, before parsing it', () => {
    const levels = (MAX_HEADER_BYTES - 64) >> 1;
    const deep = rawSafetensors(`{"a":${'['.repeat(levels)}${']'.repeat(levels)}}`);
    const t0 = performance.now();
    const e = errorOf(() => decodeCheckpoint(deep));
    expect(performance.now() - t0).toBeLessThan(1000); // parsing 95 MB of '[' took ~27 s and ~5 GB
    expect(e.code).toBe('too-deep');
    expect(e.message).toMatch(new RegExp(`the header JSON nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep`));
    // Strings are skipped: brackets inside them do not count.
    const metadata = { x: `say "${'['.repeat(10_000)}`, y: 'ends in \\', z: `${'['.repeat(10_000)}` }; // escapes do not end a string
    expect(decodeSafetensors(rawSafetensors({ __metadata__: metadata })).metadata).toEqual(metadata);
  });

  it.each(['config', 'rng', 'tokenizer'])('refuses deep nesting in the metadata JSON "%s", naming it', (field) => {
    const bytes = rewrite(encodeCheckpoint(sampleCheckpoint()), (meta) => {
      meta[field] = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    });
    const e = errorOf(() => decodeCheckpoint(bytes));
    expect(e.code).toBe('too-deep');
    expect(e.message).toMatch(new RegExp(`checkpoint metadata "${field}" nests arrays or objects more than ${MAX_JSON_DEPTH} levels`));
    const shallow = rewrite(encodeCheckpoint(sampleCheckpoint()), (meta) => {
      meta[field] = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH);
    });
    expect(() => decodeCheckpoint(shallow)).not.toThrow();
  });

  it('round-trips a checkpoint holding a 65,536-token BPE tokenizer well under the header cap', () => {
    const merges = largestBpeMerges();
    const tokenizer = BpeTokenizer.fromJSON({
      kind: 'bpe', version: 1, pretokenizer: 'spark-v1', specials: [...SPECIAL_TOKENS], vocabSize: 65_536, merges,
    });
    expect(tokenizer.vocabSize).toBe(65_536);
    const json = tokenizer.toJSON();
    expect(JSON.stringify(json.merges).length).toBeGreaterThan(700_000); // near the 783,324-byte worst case
    const bytes = encodeCheckpoint({ ...sampleCheckpoint(), tokenizer: json });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    // The largest model's tensor table adds about 0.3 MB more: still a third of the cap.
    expect(headerLength + 300_000).toBeLessThan(MAX_HEADER_BYTES / 3);
    const back = decodeCheckpoint(bytes);
    const text = JSON.stringify(json); // compared as text: toEqual on 130k-element arrays is slow
    expect(JSON.stringify(back.tokenizer)).toBe(text);
    expect(JSON.stringify(tokenizerFromJSON(back.tokenizer).toJSON())).toBe(text);
  });
});
