/** Checkpoints and hand-built safetensors files for the checkpoint tests. */
import type { Checkpoint, ParamTensor } from '../../src/train/checkpoint';
import { randn } from './random';

/** Float32 values from raw bits, so NaN payloads, -0 and denormals are exact. */
export function fromBits(bits: number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}

export const bitsOf = (f: Float32Array): number[] => Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length));

/** Awkward values: ±0, smallest and largest denormals, smallest normal, max, ±Inf, quiet NaN, NaN with payload, negative NaN. */
export const SPECIAL_BITS = [
  0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x00800000, 0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0x7fc00001,
  0xffffffff, 0x3f800000, 0x3eaaaaab, 0xc0490fdb, 0x00000002, 0x7f7ffffe,
];

const tensor = (shape: number[], data: Float32Array): ParamTensor => ({ shape, data });

export function sampleCheckpoint(seed = 1, withOptimizer = true): Checkpoint {
  const params = new Map<string, ParamTensor>([
    ['wte', tensor([5, 4], randn(20, seed))],
    ['h.0.attn.qkv', tensor([4, 4], fromBits(SPECIAL_BITS))],
    ['h.0.ln1.g', tensor([4], randn(4, seed + 1))],
    ['empty', tensor([0, 3], new Float32Array(0))],
    ['scalar', tensor([], new Float32Array([0.5]))],
  ]);
  const like = (s: number) =>
    new Map([...params].map(([n, p], i) => [n, tensor(p.shape.slice(), randn(p.data.length, s + i, 0.01))] as const));
  return {
    config: {
      model: { nLayer: 1, nEmbd: 4, nHead: 2, vocabSize: 5 },
      data: { corpus: 'tiny stories', tokenizer: 'byte' },
      optim: { lr: 3e-3, beta1: 0.9, beta2: 0.95 },
      train: { steps: 100 },
      seed: 7,
    },
    step: 42,
    rng: { state: [1, 2, 3, 4294967295] },
    tokenizer: { kind: 'byte', specials: ['<|bos|>', 'é ✓ 😀'] },
    params,
    optimizer: withOptimizer ? { m: like(seed + 100), v: like(seed + 200) } : null,
    createdAt: '2025-01-02T03:04:05.000Z',
  };
}

function sameTensors(a: Map<string, ParamTensor>, b: Map<string, ParamTensor>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, t] of a) {
    const u = b.get(name);
    if (!u || JSON.stringify(u.shape) !== JSON.stringify(t.shape)) return false;
    const x = bitsOf(t.data);
    const y = bitsOf(u.data);
    if (x.length !== y.length || x.some((v, i) => v !== y[i])) return false;
  }
  return true;
}

/** True when two checkpoints hold exactly the same content, bit for bit. */
export function sameCheckpoint(a: Checkpoint, b: Checkpoint): boolean {
  const json = (c: Checkpoint) => JSON.stringify([c.config, c.step, c.rng, c.tokenizer, c.createdAt]);
  if (json(a) !== json(b) || sameTensors(a.params, b.params) === false) return false;
  if (!a.optimizer || !b.optimizer) return a.optimizer === b.optimizer;
  return sameTensors(a.optimizer.m, b.optimizer.m) && sameTensors(a.optimizer.v, b.optimizer.v);
}

/** A safetensors file from a header given as object or raw string, and data bytes; `headerLength` overrides the field. */
export function rawSafetensors(
  header: unknown,
  data: Uint8Array | number = 0,
  opts: { headerLength?: bigint; pad?: boolean } = {},
): Uint8Array {
  let json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  if (opts.pad !== false && json.length % 8) {
    const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, opts.headerLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

/** The header JSON text and data bytes of an encoded file. */
export function splitFile(bytes: Uint8Array): { header: string; data: Uint8Array; headerLength: number } {
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return {
    headerLength,
    header: new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)),
    data: bytes.subarray(8 + headerLength),
  };
}
