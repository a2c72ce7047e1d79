/**
 * Spark Lab checkpoints: a safetensors file holding the model parameters by name (F32), the AdamW moments
 * as `optim.m.<name>` / `optim.v.<name>` (with optim.optimizer 'muon', Muon's momentum is `optim.m.<name>` of the
 * tensors it owns, whose `optim.v.<name>` stay zero), and in `__metadata__` (JSON strings) the run's whole config, step,
 * data RNG state, tokenizer, creation time and a CRC-32 over all of that and every tensor's bytes, so a
 * flipped bit anywhere in a checkpoint is refused rather than silently resumed from.
 */
import { formatBytes } from '../lib/format';
import {
  CheckpointError, type CheckpointErrorCode, type TensorEntry, type TensorInput, checkJsonDepth, crc32, decodeSafetensors,
  encodeSafetensors, littleEndianBytes, readHeaderLength, shapeSize, show, toFloat32,
} from './safetensors';

export { CheckpointError, type CheckpointErrorCode } from './safetensors';

export const CHECKPOINT_FORMAT = 'spark-lab-checkpoint';
export const CHECKPOINT_VERSION = '1';
/** Largest checkpoint file the page will read (an ArrayBuffer this size is about what browsers allow). */
export const MAX_CHECKPOINT_BYTES = 2 ** 31;

const OPTIM_M = 'optim.m.';
const OPTIM_V = 'optim.v.';
const REQUIRED_KEYS = ['format', 'version', 'config', 'step', 'rng', 'tokenizer', 'createdAt', 'checksum'] as const;

export interface ParamTensor {
  shape: number[];
  data: Float32Array;
}

/** AdamW first and second moments, one per parameter, same names and shapes. */
export interface OptimizerState {
  m: Map<string, ParamTensor>;
  v: Map<string, ParamTensor>;
}

export interface Checkpoint<Config = unknown> {
  /** The run's whole config object (model, data, optimizer, schedule, seed). */
  config: Config;
  /** Optimizer steps taken. */
  step: number;
  /** Data-order RNG state, any JSON value. */
  rng: unknown;
  /** The tokenizer (vocabulary and kind), any JSON value. */
  tokenizer: unknown;
  params: Map<string, ParamTensor>;
  optimizer: OptimizerState | null;
  /** ISO 8601 time the checkpoint was written. */
  createdAt: string;
}

export type CheckpointInput<Config = unknown> = Omit<Checkpoint<Config>, 'createdAt'> & { createdAt?: string };

export interface DecodeOptions {
  /** Throws (any error, with a human message) when the stored config cannot resume this run. */
  expectConfig?: (config: unknown) => void;
  maxHeaderBytes?: number;
}

const fail = (code: CheckpointErrorCode, message: string): never => {
  throw new CheckpointError(code, message);
};

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function toJson(value: unknown, field: string): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(value);
  } catch (e) {
    return fail('bad-input', `checkpoint ${field} is not JSON-serialisable: ${messageOf(e)}`);
  }
  if (s === undefined) return fail('bad-input', `checkpoint ${field} is not JSON-serialisable (got ${typeof value})`);
  return s;
}

function fromJson(text: string, field: string): unknown {
  checkJsonDepth(text, `checkpoint metadata "${field}"`);
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail('bad-metadata', `checkpoint metadata "${field}" is not valid JSON: ${messageOf(e)}`);
  }
}

export interface ChecksumTensor { name: string; dtype: string; shape: readonly number[]; bytes: Uint8Array }

/**
 * The `checksum` metadata value: CRC-32 over the metadata (all but the checksum itself, keys sorted), the
 * tensor table (name, dtype, shape) and every tensor's little-endian bytes, in name order. Layout-independent.
 */
export function checkpointChecksum(metadata: Record<string, string>, tensors: ChecksumTensor[]): string {
  const keys = Object.keys(metadata).filter((k) => k !== 'checksum').sort();
  const sorted = tensors.slice().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const table = JSON.stringify([keys.map((k) => [k, metadata[k]]), sorted.map((t) => [t.name, t.dtype, t.shape])]);
  let c = crc32(new TextEncoder().encode(table));
  for (const t of sorted) c = crc32(t.bytes, c);
  return `crc32:${c.toString(16).padStart(8, '0')}`;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

function checkOptimizer(params: Map<string, ParamTensor>, opt: OptimizerState): void {
  for (const [which, moments] of [['m', opt.m], ['v', opt.v]] as const) {
    for (const [name, p] of params) {
      const t = moments.get(name);
      if (!t) fail('optimizer-mismatch', `optimizer state has no ${which} for parameter ${show(name)}`);
      else if (!sameShape(t.shape, p.shape)) {
        fail('optimizer-mismatch', `optimizer ${which} of ${show(name)} has shape ${JSON.stringify(t.shape)}, the parameter has ${JSON.stringify(p.shape)}`);
      }
    }
    for (const name of moments.keys()) {
      if (!params.has(name)) fail('optimizer-mismatch', `optimizer ${which} state ${show(name)} belongs to no parameter`);
    }
  }
}

/** Writes a checkpoint as safetensors bytes. */
export function encodeCheckpoint<Config>(c: CheckpointInput<Config>): Uint8Array<ArrayBuffer> {
  if (!Number.isSafeInteger(c.step) || c.step < 0) fail('bad-input', `checkpoint step must be a non-negative integer, got ${c.step}`);
  const createdAt = c.createdAt ?? new Date().toISOString();
  if (typeof createdAt !== 'string' || Number.isNaN(Date.parse(createdAt))) fail('bad-input', `createdAt ${JSON.stringify(createdAt)} is not a date`);
  const tensors: [string, TensorInput][] = [];
  const add = (name: string, t: ParamTensor) => {
    if (!(t.data instanceof Float32Array)) fail('dtype', `"${name}" must be a Float32Array`);
    tensors.push([name, { dtype: 'F32', shape: t.shape, data: t.data }]);
  };
  for (const [name, t] of c.params) {
    if (name === '' || name.startsWith('optim.')) fail('bad-input', `parameter name "${name}" is empty or uses the reserved prefix "optim."`);
    add(name, t);
  }
  if (c.optimizer) {
    checkOptimizer(c.params, c.optimizer);
    for (const [name, t] of c.optimizer.m) add(OPTIM_M + name, t);
    for (const [name, t] of c.optimizer.v) add(OPTIM_V + name, t);
  }
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    config: toJson(c.config, 'config'),
    step: String(c.step),
    rng: toJson(c.rng, 'rng'),
    tokenizer: toJson(c.tokenizer, 'tokenizer'),
    createdAt,
  };
  const table = tensors.map(([name, t]) => {
    if (shapeSize(t.shape, show(name)) !== t.data.length) {
      fail('shape', `${show(name)}: shape ${show(t.shape)} does not match its ${t.data.length} values`);
    }
    return { name, dtype: 'F32', shape: t.shape, bytes: littleEndianBytes(t.data) };
  });
  metadata.checksum = checkpointChecksum(metadata, table);
  return encodeSafetensors(tensors, metadata);
}

function foreignMessage(tensors: Map<string, TensorEntry>, format: string | undefined): string {
  const names = [...tensors.keys()];
  const sample = names.slice(0, 3).map((n) => show(n, 40)).join(', ');
  const what = format === undefined ? 'has no __metadata__.format' : `has __metadata__.format ${show(format)}`;
  return `not a Spark Lab checkpoint: this safetensors file ${what} (expected "${CHECKPOINT_FORMAT}"); ` +
    `it holds ${names.length} tensors${sample ? ` (${sample}${names.length > 3 ? ', ...' : ''})` : ''}`;
}

/** Reads and fully verifies a checkpoint; any problem is a CheckpointError saying what and where. */
export function decodeCheckpoint<Config = unknown>(bytes: Uint8Array, opts: DecodeOptions = {}): Checkpoint<Config> {
  const file = decodeSafetensors(bytes, { maxHeaderBytes: opts.maxHeaderBytes });
  const meta = file.metadata;
  if (!meta || meta.format !== CHECKPOINT_FORMAT) return fail('foreign', foreignMessage(file.tensors, meta?.format));
  if (meta.version !== CHECKPOINT_VERSION) {
    fail('version', `checkpoint format version ${show(meta.version)} is not readable by this Spark Lab (reads version ${CHECKPOINT_VERSION})`);
  }
  for (const k of REQUIRED_KEYS) if (meta[k] === undefined) fail('missing-metadata', `checkpoint metadata lacks "${k}"`);
  for (const k of Object.keys(meta)) {
    if (!(REQUIRED_KEYS as readonly string[]).includes(k)) fail('bad-metadata', `checkpoint metadata has unknown key ${show(k)}`);
  }
  const table = [...file.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, bytes: t.bytes }));
  const actual = checkpointChecksum(meta, table);
  if (actual !== meta.checksum) {
    fail('checksum', `checkpoint is corrupted: its contents hash to ${actual} but it records ${show(meta.checksum)}`);
  }
  if (!/^(0|[1-9][0-9]{0,15})$/.test(meta.step) || !Number.isSafeInteger(Number(meta.step))) {
    fail('bad-metadata', `checkpoint step ${show(meta.step)} is not a non-negative integer`);
  }
  if (Number.isNaN(Date.parse(meta.createdAt))) fail('bad-metadata', `checkpoint createdAt ${show(meta.createdAt)} is not a date`);
  const config = fromJson(meta.config, 'config');
  const rng = fromJson(meta.rng, 'rng');
  const tokenizer = fromJson(meta.tokenizer, 'tokenizer');
  // Before any tensor is converted: a config this run refuses (one too big for the device) costs no copies.
  if (opts.expectConfig) {
    try {
      opts.expectConfig(config);
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      fail('config-mismatch', `checkpoint config does not fit this run: ${messageOf(e)}`);
    }
  }

  const params = new Map<string, ParamTensor>();
  const m = new Map<string, ParamTensor>();
  const v = new Map<string, ParamTensor>();
  for (const [name, t] of file.tensors) {
    if (t.dtype !== 'F32') fail('dtype', `tensor ${show(name)} is ${t.dtype}; Spark Lab checkpoints hold F32 tensors`);
    const target = name.startsWith(OPTIM_M) ? m : name.startsWith(OPTIM_V) ? v : name.startsWith('optim.') ? null : params;
    if (!target) return fail('optimizer-mismatch', `tensor ${show(name)} is not a known optimizer state (optim.m.* or optim.v.*)`);
    const key = target === params ? name : name.slice(OPTIM_M.length);
    target.set(key, { shape: t.shape.slice(), data: toFloat32(t, name) });
  }
  const optimizer = m.size || v.size ? { m, v } : null;
  if (optimizer) checkOptimizer(params, optimizer);
  return { config: config as Config, step: Number(meta.step), rng, tokenizer, params, optimizer, createdAt: meta.createdAt };
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+/, '').slice(0, 40).replace(/-+$/, '');

/** A download name such as `spark-lab-simple-stories-L4-d128-step001500.safetensors` (from name or data.corpus, model size). */
export function checkpointFileName(config: unknown, step: number): string {
  const c = (typeof config === 'object' && config !== null ? config : {}) as Record<string, unknown>;
  const model = (typeof c.model === 'object' && c.model !== null ? c.model : {}) as Record<string, unknown>;
  const data = (typeof c.data === 'object' && c.data !== null ? c.data : {}) as Record<string, unknown>;
  const parts = ['spark-lab'];
  const name = [c.name, data.corpus].find((x) => typeof x === 'string' && slug(x) !== '');
  if (typeof name === 'string') parts.push(slug(name));
  const layers = model.nLayer ?? model.n_layer;
  const width = model.nEmbd ?? model.n_embd;
  if (Number.isSafeInteger(layers) && Number.isSafeInteger(width)) parts.push(`L${layers}-d${width}`);
  const stepText = Number.isSafeInteger(step) && step >= 0 ? String(step).padStart(6, '0') : '0';
  return `${parts.join('-')}-step${stepText}.safetensors`;
}

/** The checkpoint as a Blob for a download link. */
export function checkpointBlob(bytes: Uint8Array): Blob {
  return new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' });
}

async function readBytes(blob: Blob, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await blob.arrayBuffer());
  } catch (e) {
    return fail('read-failed', `could not read ${what}: ${messageOf(e)}`);
  }
}

/** A user-chosen file's bytes, refusing oversized files and absurd header lengths before reading it whole. */
export async function readCheckpointBytes(file: Blob, opts: { maxBytes?: number; maxHeaderBytes?: number } = {}): Promise<Uint8Array> {
  const maxBytes = opts.maxBytes ?? MAX_CHECKPOINT_BYTES;
  if (file.size > maxBytes) fail('too-large', `file is ${formatBytes(file.size)}; checkpoints over ${formatBytes(maxBytes)} cannot be loaded here`);
  const prefix = await readBytes(file.slice(0, 9), 'the file header');
  readHeaderLength(prefix, file.size, opts.maxHeaderBytes);
  return readBytes(file, 'the file');
}

/** Reads a user-chosen file (see readCheckpointBytes) and decodes it. */
export async function readCheckpointFile<Config = unknown>(
  file: Blob,
  opts: DecodeOptions & { maxBytes?: number } = {},
): Promise<Checkpoint<Config>> {
  return decodeCheckpoint(await readCheckpointBytes(file, opts), opts);
}
