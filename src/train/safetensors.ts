/**
 * safetensors reader and writer, strict: any file that is not exactly well formed is refused with a
 * CheckpointError naming the field at fault. Layout: u64 little-endian header length N, N bytes of UTF-8
 * JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}` (may be
 * space-padded), then the data bytes, little-endian, row-major; offsets are relative to the data start.
 * Nothing is allocated from a declared size before it is checked against the real byte count.
 */

export type CheckpointErrorCode =
  | 'truncated' | 'header-too-large' | 'too-large' | 'bad-json' | 'bad-header' | 'bad-offsets' | 'overlap'
  | 'trailing-data' | 'dtype' | 'shape' | 'duplicate' | 'not-safetensors' | 'foreign' | 'version'
  | 'missing-metadata' | 'bad-metadata' | 'checksum' | 'optimizer-mismatch' | 'config-mismatch'
  | 'bad-input' | 'read-failed' | 'storage' | 'quota' | 'too-deep'
  | 'missing-tensor' | 'unexpected-tensor' | 'bad-values';

/** Every refusal of a checkpoint or safetensors file, and every storage failure; `code` says which kind. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
  constructor(
    readonly code: CheckpointErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'U64' | 'I32' | 'U32' | 'I16' | 'U16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1,
};

/**
 * Cap on the JSON header. The largest real one is about 1.1 MB: a 65,536-token BPE's 65,277 merges stored as JSON text
 * in __metadata__ (130,554 ids of at most 5 digits and a comma: at most 0.8 MB) plus the tensor table of the largest
 * model the config allows (96 layers, 867 tensors, each with two AdamW moments: 2,601 entries of about 110 bytes,
 * 0.3 MB). 4 MiB leaves a margin of over 3x, and decoding that much, even when hostile, costs milliseconds.
 */
export const MAX_HEADER_BYTES = 4 * 2 ** 20;

/**
 * Deepest nesting of arrays and objects accepted in the header and in the JSON strings of its metadata. Real values
 * are at most 3 levels deep; a header of nested `[` would otherwise cost the parser gigabytes before it is refused.
 */
export const MAX_JSON_DEPTH = 32;

export type TensorArray =
  | Float64Array | Float32Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array
  | BigInt64Array | BigUint64Array;

/** One decoded tensor: its raw little-endian bytes are a view into the file (copy before keeping long). */
export interface TensorEntry {
  dtype: DType;
  shape: number[];
  bytes: Uint8Array;
}

export interface SafetensorsContents {
  metadata: Record<string, string> | null;
  /** In data order (ascending offsets). */
  tensors: Map<string, TensorEntry>;
}

/**
 * A tensor to write; dtype defaults from the array type (Uint16Array must say 'F16', 'BF16' or 'U16').
 * A Uint8Array with a wider dtype is taken as the tensor's raw little-endian bytes.
 */
export interface TensorInput {
  dtype?: DType;
  shape: readonly number[];
  data: TensorArray;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const METADATA_KEY = '__metadata__';

const fail = (code: CheckpointErrorCode, message: string): never => {
  throw new CheckpointError(code, message);
};

/** A short printable form of an untrusted value for an error message (never throws, never huge). */
export function show(v: unknown, max = 60): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    s = undefined;
  }
  s ??= Array.isArray(v) ? '[...]' : typeof v === 'object' && v !== null ? '{...}' : String(v);
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

const isDType = (s: unknown): s is DType => typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Element count of a shape, refusing anything that is not a list of non-negative safe integers. */
export function shapeSize(shape: unknown, what: string): number {
  if (!Array.isArray(shape)) return fail('shape', `${what}: shape must be an array of integers, got ${show(shape)}`);
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      return fail('shape', `${what}: shape ${show(shape)} has ${show(d)}; dims must be non-negative integers`);
    }
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return fail('shape', `${what}: shape ${show(shape)} has too many elements`);
  }
  return n;
}

/** Reads the 8-byte header length; refuses lengths beyond the cap or beyond the file. */
export function readHeaderLength(prefix: Uint8Array, fileBytes: number, maxHeaderBytes = MAX_HEADER_BYTES): number {
  if (fileBytes < 8 || prefix.length < 8) {
    return fail('truncated', `file is ${fileBytes} bytes; a safetensors file starts with an 8-byte header length`);
  }
  if (prefix.length > 8 && prefix[8] !== 0x7b) {
    return fail('not-safetensors', 'not a safetensors file: the JSON header does not start with "{" at byte 8');
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const n = hi * 2 ** 32 + lo; // exact up to 2^53; larger values only need to compare as huge
  if (n > maxHeaderBytes) {
    return fail(
      'header-too-large',
      `header length ${hi ? `${n.toExponential(3)}` : n} bytes exceeds the ${maxHeaderBytes}-byte cap (a real checkpoint's header is ` +
        'at most about a megabyte); the file is corrupt or not a Spark Lab checkpoint',
    );
  }
  if (n < 2) return fail('bad-json', `header length ${n} is too short for a JSON object`);
  if (8 + n > fileBytes) return fail('truncated', `header says ${n} bytes but the file has only ${fileBytes - 8} after the length field`);
  return n;
}

/** Throws 'duplicate' if any JSON object in the (already valid) text repeats a key; JSON.parse keeps the last silently. */
function checkDuplicateKeys(text: string): void {
  const frames: ({ keys: Set<string>; expectKey: boolean } | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      const top = frames[frames.length - 1];
      if (top && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) fail('duplicate', `header repeats the key ${show(key)}`);
        top.keys.add(key);
        top.expectKey = false;
      }
      i = j;
    } else if (c === 0x7b) frames.push({ keys: new Set(), expectKey: true });
    else if (c === 0x5b) frames.push(null);
    else if (c === 0x7d || c === 0x5d) frames.pop();
    else if (c === 0x2c) {
      const top = frames[frames.length - 1];
      if (top) top.expectKey = true;
    }
  }
}

/**
 * Refuses JSON text nested deeper than `maxDepth` ('too-deep'), in one linear scan that skips strings and allocates
 * nothing, so that JSON.parse never sees it. Text that is not JSON passes here and fails to parse.
 */
export function checkJsonDepth(text: string, what: string, maxDepth = MAX_JSON_DEPTH): void {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) {
        fail('too-deep', `${what} nests arrays or objects more than ${maxDepth} levels deep (at character ${i}); real ones are a few levels deep, so the file is corrupt or hostile`);
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
}

function parseHeaderJson(bytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (e) {
    return fail('bad-json', `header is not valid UTF-8 JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  checkJsonDepth(text, 'the header JSON');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return fail('bad-json', `header is not valid UTF-8 JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isPlainObject(parsed)) return fail('bad-header', 'header JSON must be an object of tensor entries');
  checkDuplicateKeys(text);
  return parsed;
}

function parseMetadata(value: unknown): Record<string, string> {
  if (!isPlainObject(value)) return fail('bad-metadata', '__metadata__ must be an object of string values');
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') return fail('bad-metadata', `__metadata__.${k} must be a string, got ${typeof v}`);
    out[k] = v;
  }
  return out;
}

interface Located { name: string; entry: TensorEntry; begin: number; end: number }

function parseEntry(name: string, value: unknown, dataBytes: number): Omit<Located, 'entry'> & { dtype: DType; shape: number[] } {
  const what = `tensor ${show(name)}`;
  if (name === '') fail('bad-header', 'a tensor has an empty name');
  if (!isPlainObject(value)) return fail('bad-header', `${what}: entry must be an object {dtype, shape, data_offsets}`);
  for (const k of Object.keys(value)) {
    if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') fail('bad-header', `${what}: unexpected field ${show(k)}`);
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (!isDType(dtype)) return fail('dtype', `${what}: unknown dtype ${show(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(', ')})`);
  const count = shapeSize(shape, what);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    return fail('bad-offsets', `${what}: data_offsets must be two non-negative integers, got ${show(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataBytes) {
    return fail('bad-offsets', `${what}: data_offsets [${begin}, ${end}] lie outside the ${dataBytes}-byte data section`);
  }
  if (end - begin !== count * DTYPE_BYTES[dtype]) {
    return fail('bad-offsets', `${what}: ${dtype} ${show(shape)} needs ${count * DTYPE_BYTES[dtype]} bytes but data_offsets span ${end - begin}`);
  }
  return { name, begin, end, dtype, shape: (shape as number[]).slice() };
}

/** Parses and fully validates a safetensors file; tensor bytes are views into `bytes`. */
export function decodeSafetensors(bytes: Uint8Array, opts: { maxHeaderBytes?: number } = {}): SafetensorsContents {
  if (!(bytes instanceof Uint8Array)) fail('bad-input', 'decodeSafetensors expects a Uint8Array');
  const headerBytes = readHeaderLength(bytes, bytes.length, opts.maxHeaderBytes);
  const header = parseHeaderJson(bytes.slice(8, 8 + headerBytes)); // a copy: TextDecoder refuses shared memory
  const dataStart = 8 + headerBytes;
  const dataBytes = bytes.length - dataStart;
  let metadata: Record<string, string> | null = null;
  const located: Located[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      metadata = parseMetadata(value);
      continue;
    }
    const p = parseEntry(name, value, dataBytes);
    const entry = { dtype: p.dtype, shape: p.shape, bytes: bytes.subarray(dataStart + p.begin, dataStart + p.end) };
    located.push({ name, begin: p.begin, end: p.end, entry });
  }
  located.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const t of located) {
    if (t.begin < covered) fail('overlap', `tensor ${show(t.name)} [${t.begin}, ${t.end}] overlaps the tensor before it (ends at ${covered})`);
    if (t.begin > covered) fail('bad-offsets', `data bytes [${covered}, ${t.begin}) belong to no tensor (gap before ${show(t.name)})`);
    covered = t.end;
  }
  if (covered !== dataBytes) {
    fail('trailing-data', `${dataBytes - covered} bytes after the last tensor belong to no tensor (file has trailing data)`);
  }
  return { metadata, tensors: new Map(located.map((t) => [t.name, t.entry])) };
}

function defaultDType(data: TensorArray, name: string): DType {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Uint32Array) return 'U32';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Int8Array) return 'I8';
  if (data instanceof Uint8Array) return 'U8';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof BigUint64Array) return 'U64';
  return fail('dtype', `tensor ${JSON.stringify(name)}: a ${data.constructor.name} needs an explicit dtype (F16, BF16 or U16)`);
}

/** Copies little-endian bytes of `items` elements of `size` bytes, swapping on a big-endian host. */
function copyLE(src: Uint8Array, dst: Uint8Array, dstOffset: number, size: number): void {
  dst.set(src, dstOffset);
  if (LITTLE_ENDIAN || size === 1) return;
  for (let i = dstOffset; i < dstOffset + src.length; i += size) dst.subarray(i, i + size).reverse();
}

/** The array's bytes as stored in a file (little-endian): a view on little-endian hosts, a swapped copy otherwise. */
export function littleEndianBytes(data: TensorArray): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN) return view;
  const copy = new Uint8Array(view.length);
  copyLE(view, copy, 0, data.BYTES_PER_ELEMENT);
  return copy;
}

/** Writes a safetensors file: tensors in the given order, header space-padded so data starts 8-byte aligned. */
export function encodeSafetensors(
  tensors: Iterable<[string, TensorInput]>,
  metadata?: Record<string, string> | null,
): Uint8Array<ArrayBuffer> {
  const header: Record<string, unknown> = Object.create(null);
  if (metadata) header[METADATA_KEY] = parseMetadata(metadata);
  const parts: { data: Uint8Array; size: number }[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const what = `tensor ${JSON.stringify(name)}`;
    if (typeof name !== 'string' || name === '' || name === METADATA_KEY) fail('bad-input', `invalid tensor name ${JSON.stringify(name)}`);
    if (Object.prototype.hasOwnProperty.call(header, name)) fail('duplicate', `${what} is given twice`);
    const dtype = t.dtype ?? defaultDType(t.data, name);
    if (!isDType(dtype)) fail('dtype', `${what}: unknown dtype ${JSON.stringify(dtype)}`);
    const count = shapeSize(t.shape, what);
    const size = DTYPE_BYTES[dtype];
    const raw = t.data instanceof Uint8Array && size > 1; // already little-endian file bytes
    if (!raw && t.data.BYTES_PER_ELEMENT !== size) fail('dtype', `${what}: dtype ${dtype} is ${size} bytes per element, the array has ${t.data.BYTES_PER_ELEMENT}`);
    if (t.data.byteLength !== count * size) {
      fail('shape', `${what}: ${dtype} ${JSON.stringify(t.shape)} is ${count * size} bytes, the data has ${t.data.byteLength}`);
    }
    header[name] = { dtype, shape: t.shape.slice(), data_offsets: [offset, offset + t.data.byteLength] };
    parts.push({ data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), size: raw ? 1 : size });
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded > MAX_HEADER_BYTES) fail('header-too-large', `header would be ${padded} bytes, over the ${MAX_HEADER_BYTES}-byte cap`);
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setUint32(0, padded, true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let pos = 8 + padded;
  for (const p of parts) {
    copyLE(p.data, out, pos, p.size);
    pos += p.data.length;
  }
  return out;
}

/** A fresh, aligned, host-endian copy of a tensor's bytes. */
function alignedCopy(entry: TensorEntry): ArrayBuffer {
  const size = DTYPE_BYTES[entry.dtype];
  const copy = new Uint8Array(entry.bytes.length);
  copyLE(entry.bytes, copy, 0, size);
  return copy.buffer;
}

/** The tensor's values in its own type (F16 and BF16 as raw Uint16Array bits; BOOL as Uint8Array). */
export function tensorValues(entry: TensorEntry): TensorArray {
  const buf = alignedCopy(entry);
  switch (entry.dtype) {
    case 'F64': return new Float64Array(buf);
    case 'F32': return new Float32Array(buf);
    case 'F16': case 'BF16': case 'U16': return new Uint16Array(buf);
    case 'I64': return new BigInt64Array(buf);
    case 'U64': return new BigUint64Array(buf);
    case 'I32': return new Int32Array(buf);
    case 'U32': return new Uint32Array(buf);
    case 'I16': return new Int16Array(buf);
    case 'I8': return new Int8Array(buf);
    case 'U8': case 'BOOL': return new Uint8Array(buf);
  }
}

/** IEEE half bits to float (exact: every half is a float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A floating-point tensor (F32, F16, BF16, F64) as a fresh Float32Array; other dtypes are refused. */
export function toFloat32(entry: TensorEntry, name = 'tensor'): Float32Array {
  const values = tensorValues(entry);
  switch (entry.dtype) {
    case 'F32': return values as Float32Array;
    case 'F64': return Float32Array.from(values as Float64Array);
    case 'F16': return Float32Array.from(values as Uint16Array, halfToFloat);
    case 'BF16': return new Float32Array(Uint32Array.from(values as Uint16Array, (b) => b << 16).buffer);
    default: return fail('dtype', `${name}: dtype ${entry.dtype} is not floating point`);
  }
}

/** CRC-32 lookup tables for slice-by-8: table k advances a byte through k further zero bytes. */
const CRC_TABLES = (() => {
  const t = new Int32Array(256 * 8); // signed, so the hash stays a small integer for the JIT
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) t[k * 256 + n] = (t[(k - 1) * 256 + n] >>> 8) ^ t[t[(k - 1) * 256 + n] & 0xff];
  }
  return t;
})();

/** CRC-32 (IEEE), chainable: crc32(b, crc32(a)) === crc32(a ++ b). Slice-by-8, several times faster than bytewise. */
export function crc32(bytes: Uint8Array, previous = 0): number {
  const t = CRC_TABLES;
  let c = ~previous | 0;
  let i = 0;
  for (const end = bytes.length - 7; i < end; i += 8) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c = t[1792 + (c & 0xff)] ^ t[1536 + ((c >>> 8) & 0xff)] ^ t[1280 + ((c >>> 16) & 0xff)] ^ t[1024 + (c >>> 24)] ^
      t[768 + bytes[i + 4]] ^ t[512 + bytes[i + 5]] ^ t[256 + bytes[i + 6]] ^ t[bytes[i + 7]];
  }
  for (; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
