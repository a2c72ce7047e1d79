import source from '../../shaders/sample.wgsl?raw';
import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import type { ShaderSource } from '../gpu/pipelines';
import { dispatch, grid1d, packUniform, rowWorkgroupSize, type Binding } from './dispatch';

export const sampleShader: ShaderSource = { name: 'sample', code: source };


/**
 * How one row (sequence) draws its next token. Filters apply in the order temperature, top-k, top-p; ties
 * with a filter's boundary value are kept (so top-k may keep more than k tokens when logits tie).
 */
export interface SamplingSettings {
  /** 0 = greedy argmax (ties -> lowest index); otherwise logits are divided by it. */
  temperature: number;
  /** Keep the k most likely tokens; 0 (default) or >= V = off. */
  topK?: number;
  /** Keep the smallest most-likely set whose probability (after top-k) is >= topP; 1 (default) = off. In (0, 1]. */
  topP?: number;
  /** u32. The draw for (seed, row index, step) is a pure function of the three: same seed, same tokens. */
  seed: number;
}

/** Bytes per row in the settings buffer: temperature f32, topK u32, topP f32, seed u32, step u32, 3 x pad. */
export const SAMPLING_SETTINGS_BYTES = 32;

function validate(s: SamplingSettings, row: number): void {
  const where = `sampling settings for row ${row}`;
  check(Number.isFinite(s.temperature) && s.temperature >= 0, () => `${where}: temperature must be >= 0 (0 = greedy), got ${s.temperature}`);
  const k = s.topK ?? 0;
  check(Number.isInteger(k) && k >= 0 && k < 2 ** 32, () => `${where}: topK must be a non-negative integer (0 = off), got ${k}`);
  const p = s.topP ?? 1;
  check(p > 0 && p <= 1, () => `${where}: topP must be in (0, 1] (1 = off), got ${p}`);
  check(Number.isInteger(s.seed) && s.seed >= 0 && s.seed < 2 ** 32, () => `${where}: seed must be a u32, got ${s.seed}`);
}

/** Packs per-row settings (one entry for all rows, or one per row) with every row's step counter set to `step`. */
export function packSamplingSettings(settings: SamplingSettings | readonly SamplingSettings[], rows: number, step = 0): ArrayBuffer {
  const list = Array.isArray(settings) ? settings : [settings as SamplingSettings];
  check(list.length === 1 || list.length === rows, () => `sampling settings: give one entry for all rows or one per row (${rows}), got ${list.length}`);
  check(Number.isInteger(step) && step >= 0 && step < 2 ** 32, `sampling settings: step must be a u32, got ${step}`);
  const buf = new ArrayBuffer(rows * SAMPLING_SETTINGS_BYTES);
  const view = new DataView(buf);
  for (let r = 0; r < rows; r++) {
    const s = list.length === 1 ? list[0] : list[r];
    validate(s, r);
    const o = r * SAMPLING_SETTINGS_BYTES;
    view.setFloat32(o, s.temperature, true);
    view.setUint32(o + 4, s.topK ?? 0, true);
    view.setFloat32(o + 8, s.topP ?? 1, true);
    view.setUint32(o + 12, s.seed, true);
    view.setUint32(o + 16, step, true);
  }
  return buf;
}

export interface SamplerOptions {
  /** S: sequences sampled per dispatch. */
  rows: number;
  /** V: vocabulary size. */
  vocab: number;
}

/**
 * Draws one token per row from logits (S, V) and writes tokens (S) u32 and their log-probabilities (S) f32
 * under the temperature-scaled, unfiltered distribution (log softmax(z / T)[token]; T = 1 for greedy rows),
 * which is what a policy-gradient update differentiates.
 *
 * Settings live per row in `settings` (S x 32 bytes) with a step counter the kernel increments after each
 * draw, so a decode loop may encode many steps in one submission and still draw fresh numbers; setSettings
 * rewrites settings and counters (e.g. to replay a generation). Best-of-N samples of one prompt share settings
 * and differ by row index; different prompts may use different settings.
 */
export class Sampler {
  readonly rows: number;
  readonly vocab: number;
  /** (S) per-row settings and step counters; see SAMPLING_SETTINGS_BYTES. */
  readonly settings: GPUBuffer;
  private readonly pipeline: GPUComputePipeline;
  private readonly uniform: GPUBuffer;

  constructor(private readonly gpu: Gpu, opts: SamplerOptions, settings: SamplingSettings | readonly SamplingSettings[] = { temperature: 1, seed: 0 }) {
    const { rows, vocab } = opts;
    check(Number.isInteger(rows) && rows >= 1, `sampler: rows must be a positive integer, got ${rows}`);
    check(Number.isInteger(vocab) && vocab >= 1, `sampler: vocab must be a positive integer, got ${vocab}`);
    check(rows * vocab < 2 ** 32, () => `sampler: rows * vocab = ${rows * vocab} overflows u32 indexing`);
    this.rows = rows;
    this.vocab = vocab;
    this.pipeline = gpu.pipelines.get(sampleShader, 'sample', { WG: rowWorkgroupSize(vocab) });
    // Uniform layout (16 bytes): rows u32, vocab u32, 2 x pad.
    this.uniform = gpu.uniform(packUniform([['u32', rows], ['u32', vocab], ['u32', 0], ['u32', 0]]), `sample S=${rows} V=${vocab}`);
    this.settings = gpu.createBuffer(rows * SAMPLING_SETTINGS_BYTES, `sampling settings S=${rows}`);
    this.setSettings(settings);
  }

  /** Rewrites every row's settings and sets its step counter to `step`; takes effect at the next submission. */
  setSettings(settings: SamplingSettings | readonly SamplingSettings[], step = 0): void {
    this.gpu.queue.writeBuffer(this.settings, 0, packSamplingSettings(settings, this.rows, step));
  }

  encode(pass: GPUComputePassEncoder, logits: Binding, tokens: Binding, logprobs: Binding): void {
    const { rows: S, vocab: V } = this;
    for (const [b, n, what] of [[logits, S * V, 'logits'], [tokens, S, 'tokens'], [logprobs, S, 'logprobs']] as const) {
      check(b.size >= n * 4, () => `sampler ${what}: buffer '${('buffer' in b ? b.buffer : b).label}' holds ${Math.floor(b.size / 4)} values, needs ${n}`);
    }
    const bufs = [logits, tokens, logprobs].map((b) => ('buffer' in b ? b.buffer : b));
    check(new Set(bufs).size === 3, 'sampler: logits, tokens and logprobs must be three different buffers');
    dispatch(this.gpu, pass, this.pipeline, [this.uniform, logits, this.settings, tokens, logprobs], grid1d(this.gpu, S));
  }

  destroy(): void {
    this.gpu.release(this.uniform);
    this.gpu.release(this.settings);
  }
}
