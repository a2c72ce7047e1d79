import { describe, expect, it } from 'vitest';
import {
  CheckpointError, type CheckpointErrorCode, crc32, decodeSafetensors, encodeSafetensors, halfToFloat, MAX_JSON_DEPTH, tensorValues, toFloat32,
} from '../../src/train/safetensors';
import { bitsOf, fromBits, rawSafetensors, SPECIAL_BITS } from '../util/checkpoint-fixtures';

/** Decoding must throw a CheckpointError with this code and a message matching `message`. */
function refuses(bytes: Uint8Array, code: CheckpointErrorCode, message?: RegExp, opts?: { maxHeaderBytes?: number }) {
  let thrown: unknown;
  try {
    decodeSafetensors(bytes, opts);
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a CheckpointError').toBeInstanceOf(CheckpointError);
  const err = thrown as CheckpointError;
  expect(err.code, err.message).toBe(code);
  if (message) expect(err.message).toMatch(message);
}

const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

describe('safetensors encode/decode', () => {
  it('round-trips every dtype bit for bit, with metadata, header padded to 8 bytes', () => {
    const tensors = new Map([
      ['f32', { shape: [4, 4], data: fromBits(SPECIAL_BITS) }],
      ['f64', { shape: [2], data: new Float64Array([-0, 1e-310]) }],
      ['i32', { shape: [3], data: new Int32Array([-1, 2 ** 31 - 1, -(2 ** 31)]) }],
      ['u32', { shape: [1, 2], data: new Uint32Array([0, 2 ** 32 - 1]) }],
      ['u8', { shape: [3], data: new Uint8Array([0, 7, 255]) }],
      ['i64', { shape: [2], data: new BigInt64Array([-(2n ** 63n), 5n]) }],
      ['u64', { shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) }],
      ['f16', { dtype: 'F16' as const, shape: [2], data: new Uint16Array([0x3c00, 0xc000]) }],
      ['zero', { shape: [0, 5], data: new Float32Array(0) }],
    ]);
    const bytes = encodeSafetensors(tensors, { note: 'héllo', empty: '' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const file = decodeSafetensors(bytes);
    expect({ ...file.metadata }).toEqual({ note: 'héllo', empty: '' });
    expect([...file.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      const got = file.tensors.get(name)!;
      expect(got.shape).toEqual(t.shape);
      expect(Array.from(tensorValues(got) as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
    }
    expect(bitsOf(toFloat32(file.tensors.get('f32')!))).toEqual(SPECIAL_BITS);
  });

  it('reads tensors at unaligned offsets and a header that is not padded', () => {
    const data = new Uint8Array(9);
    data[0] = 42;
    new DataView(data.buffer).setFloat32(1, -1.5, true);
    new DataView(data.buffer).setFloat32(5, 3.25, true);
    const bytes = rawSafetensors({ b: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, a: f32([2], 1, 9) }, data, { pad: false });
    const file = decodeSafetensors(bytes);
    expect(Array.from(toFloat32(file.tensors.get('a')!))).toEqual([-1.5, 3.25]);
    expect([...file.tensors.keys()]).toEqual(['b', 'a']); // data order
  });

  it('converts F16 and BF16 exactly', () => {
    const halves = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x8000];
    expect(halves.map(halfToFloat)).toEqual([1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, Infinity, -Infinity, -0]);
    expect(halfToFloat(0x7e00)).toBeNaN();
    const raw = new Uint8Array(new Uint16Array([0x3f80, 0xc040]).buffer);
    const file = decodeSafetensors(rawSafetensors({ b: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } }, raw));
    expect(Array.from(toFloat32(file.tensors.get('b')!))).toEqual([1, -3]);
    const ints = decodeSafetensors(rawSafetensors({ i: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } }, 4));
    expect(() => toFloat32(ints.tensors.get('i')!, 'i')).toThrow(CheckpointError);
  });

  it('accepts an empty file table, with or without metadata', () => {
    expect(decodeSafetensors(rawSafetensors({})).tensors.size).toBe(0);
    expect(decodeSafetensors(rawSafetensors({ __metadata__: {} })).metadata).toEqual({});
    expect(decodeSafetensors(encodeSafetensors([])).metadata).toBeNull();
  });

  it('keeps a tensor named __proto__ as an ordinary name', () => {
    const bytes = encodeSafetensors([['__proto__', { shape: [1], data: new Float32Array([2]) }]]);
    expect([...decodeSafetensors(bytes).tensors.keys()]).toEqual(['__proto__']);
  });

  it('computes the standard CRC-32 and chains it', () => {
    const enc = new TextEncoder();
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(enc.encode('6789'), crc32(enc.encode('12345')))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    // the 8-bytes-at-a-time path agrees with the bytewise tail path at every split
    const bytes = Uint8Array.from({ length: 41 }, (_, i) => (i * 151 + 7) & 0xff);
    const bytewise = bytes.reduce((c, b) => crc32(Uint8Array.of(b), c), 0);
    for (let cut = 0; cut <= bytes.length; cut++) expect(crc32(bytes.subarray(cut), crc32(bytes.subarray(0, cut)))).toBe(bytewise);
  });

  it('refuses bad input when encoding', () => {
    const bad = (fn: () => unknown, code: CheckpointErrorCode) => {
      try {
        fn();
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(CheckpointError);
        expect((e as CheckpointError).code).toBe(code);
      }
    };
    bad(() => encodeSafetensors([['a', { shape: [3], data: new Float32Array(2) }]]), 'shape');
    bad(() => encodeSafetensors([['a', { shape: [-2], data: new Float32Array(2) }]]), 'shape');
    bad(() => encodeSafetensors([['a', { shape: [2], data: new Uint16Array(2) }]]), 'dtype');
    bad(() => encodeSafetensors([['a', { dtype: 'F16', shape: [2], data: new Float32Array(2) }]]), 'dtype');
    bad(() => encodeSafetensors([['__metadata__', { shape: [1], data: new Float32Array(1) }]]), 'bad-input');
    bad(() => encodeSafetensors([['a', { shape: [1], data: new Float32Array(1) }], ['a', { shape: [1], data: new Float32Array(1) }]]), 'duplicate');
    bad(() => encodeSafetensors([], { n: 3 as unknown as string }), 'bad-metadata');
  });
});

describe('safetensors refuses malformed files with a typed error naming the problem', () => {
  const ok = { a: f32([2], 0, 8) };

  it('truncated', () => {
    refuses(new Uint8Array(0), 'truncated', /0 bytes/);
    refuses(new Uint8Array(7), 'truncated');
    refuses(rawSafetensors(ok, 8).subarray(0, 20), 'truncated', /header says/);
  });

  it('not-safetensors', () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
    refuses(png, 'not-safetensors', /not a safetensors file/);
    refuses(rawSafetensors('[1,2]'), 'not-safetensors');
    refuses(rawSafetensors(' {}'), 'not-safetensors');
  });

  it('header-too-large, without allocating the declared size', () => {
    refuses(rawSafetensors(ok, 8, { headerLength: 2n ** 64n - 1n }), 'header-too-large', /cap/);
    refuses(rawSafetensors(ok, 8, { headerLength: 2n ** 40n }), 'header-too-large');
    refuses(rawSafetensors(ok, 8, { headerLength: 100n * 2n ** 20n + 1n }), 'header-too-large');
    refuses(rawSafetensors(ok, 8), 'header-too-large', /16-byte cap/, { maxHeaderBytes: 16 });
  });

  it('bad-json', () => {
    refuses(rawSafetensors('{"a":'), 'bad-json', /not valid UTF-8 JSON/);
    refuses(rawSafetensors('{} }'), 'bad-json');
    refuses(rawSafetensors('{"a":1}x'), 'bad-json');
    refuses(rawSafetensors('{"a":1}\0'), 'bad-json');
    const badUtf8 = rawSafetensors('{"a\xff":1}');
    badUtf8.set([0xc3, 0x28], 11);
    refuses(badUtf8, 'bad-json');
    refuses(rawSafetensors({}, 0, { headerLength: 1n }), 'bad-json');
    refuses(rawSafetensors({}, 0, { headerLength: 0n }), 'bad-json');
  });

  it('bad-header', () => {
    refuses(rawSafetensors({ a: 5 }), 'bad-header', /"a": entry must be an object/);
    refuses(rawSafetensors({ a: { ...f32([2], 0, 8), extra: 1 } }, 8), 'bad-header', /unexpected field "extra"/);
    refuses(rawSafetensors({ '': f32([2], 0, 8) }, 8), 'bad-header', /empty name/);
  });

  it('dtype', () => {
    refuses(rawSafetensors({ a: { dtype: 'F8', shape: [2], data_offsets: [0, 2] } }, 2), 'dtype', /"a": unknown dtype "F8"/);
    refuses(rawSafetensors({ a: { dtype: 'f32', shape: [2], data_offsets: [0, 8] } }, 8), 'dtype');
    refuses(rawSafetensors({ a: { dtype: 4, shape: [2], data_offsets: [0, 8] } }, 8), 'dtype');
    refuses(rawSafetensors({ a: { dtype: 'toString', shape: [2], data_offsets: [0, 8] } }, 8), 'dtype');
  });

  it('shape', () => {
    refuses(rawSafetensors({ w: f32([-1], 0, 0) }), 'shape', /"w": shape \[-1\]/);
    refuses(rawSafetensors({ w: f32([1.5], 0, 0) }), 'shape');
    refuses(rawSafetensors({ w: { dtype: 'F32', shape: '2', data_offsets: [0, 8] } }, 8), 'shape');
    refuses(rawSafetensors({ w: f32([2, null as unknown as number], 0, 8) }, 8), 'shape');
    refuses(rawSafetensors({ w: f32([2 ** 40, 2 ** 40], 0, 8) }, 8), 'shape', /too many elements/);
    refuses(rawSafetensors({ w: f32([1e300], 0, 8) }, 8), 'shape');
  });

  it('bad-offsets', () => {
    refuses(rawSafetensors({ a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 8), 'bad-offsets', /"a": data_offsets must be two/);
    refuses(rawSafetensors({ a: f32([2], 8, 0) }, 8), 'bad-offsets');
    refuses(rawSafetensors({ a: f32([2], 0, 16) }, 8), 'bad-offsets', /outside the 8-byte data section/);
    refuses(rawSafetensors({ a: f32([3], 0, 8) }, 8), 'bad-offsets', /needs 12 bytes but data_offsets span 8/);
    refuses(rawSafetensors({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12), 'bad-offsets', /gap before "b"/);
    refuses(rawSafetensors({ a: f32([1], 4, 8) }, 8), 'bad-offsets');
    refuses(rawSafetensors({ a: f32([1], -4, 0) }, 8), 'bad-offsets');
    refuses(rawSafetensors({ a: f32([1], 0, 2 ** 60) }, 8), 'bad-offsets');
  });

  it('overlap', () => {
    refuses(rawSafetensors({ a: f32([2], 0, 8), b: f32([1], 4, 8) }, 8), 'overlap', /"b" \[4, 8\] overlaps/);
    refuses(rawSafetensors({ a: f32([2], 0, 8), b: f32([2], 0, 8) }, 8), 'overlap');
  });

  it('trailing-data', () => {
    const bytes = rawSafetensors(ok, 9);
    refuses(bytes, 'trailing-data', /1 bytes after the last tensor/);
    refuses(rawSafetensors({}, 3), 'trailing-data');
  });

  it('duplicate names, in the table and in the metadata', () => {
    const entry = JSON.stringify(f32([2], 0, 8));
    refuses(rawSafetensors(`{"a":${entry},"a":${entry}}`, 8), 'duplicate', /repeats the key "a"/);
    refuses(rawSafetensors(`{"\\u0061":${entry},"a":${entry}}`, 8), 'duplicate');
    refuses(rawSafetensors(`{"__metadata__":{"k":"1","k":"2"},"a":${entry}}`, 8), 'duplicate', /"k"/);
    // the same text as a value is not a key
    expect(decodeSafetensors(rawSafetensors(`{"__metadata__":{"x":"a","y":"a"},"a":${entry}}`, 8)).tensors.size).toBe(1);
  });

  it('bad-metadata', () => {
    refuses(rawSafetensors({ __metadata__: { step: 3 } }), 'bad-metadata', /__metadata__.step must be a string/);
    refuses(rawSafetensors({ __metadata__: ['a'] }), 'bad-metadata');
    refuses(rawSafetensors({ __metadata__: null }), 'bad-metadata');
  });

  it('survives hostile nesting and huge names with short messages', () => {
    // Nesting past MAX_JSON_DEPTH is refused before parsing; within it, by the field it lands in.
    for (const [levels, code] of [[200_000, 'too-deep'], [MAX_JSON_DEPTH - 2, null]] as const) {
      const deep = '['.repeat(levels) + ']'.repeat(levels);
      refuses(rawSafetensors(`{"a":{"dtype":"F32","shape":${deep},"data_offsets":[0,0]}}`), code ?? 'shape');
      refuses(rawSafetensors(`{"a":{"dtype":${deep},"shape":[],"data_offsets":[0,4]}}`), code ?? 'dtype');
      refuses(rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":${deep}}}`, 4), code ?? 'bad-offsets');
      refuses(rawSafetensors(`{"__metadata__":${deep}}`), code ?? 'bad-metadata');
    }
    const long = 'x'.repeat(1_000_000);
    let message = '';
    try {
      decodeSafetensors(rawSafetensors({ [long]: { dtype: 'F32', shape: [1], data_offsets: [0, 8] } }, 8));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.length).toBeLessThan(300);
  });

  it('bad-input', () => {
    refuses([1, 2, 3] as unknown as Uint8Array, 'bad-input');
  });
});
