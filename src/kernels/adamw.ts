import source from '../../shaders/adamw.wgsl?raw';
import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import type { ShaderSource } from '../gpu/pipelines';
import { bufferOf, ceilDiv, dispatch, grid1d, packUniform, type Binding } from './dispatch';

export const adamwShader: ShaderSource = { name: 'adamw', code: source };

/** Tensors start at multiples of this many floats in the flat parameter buffer (256 bytes: bindable as a sub-range). */
export const PARAM_ALIGN = 64;

/** One tensor of the flat parameter buffer. */
export interface ParamSegment {
  /** First float; a multiple of PARAM_ALIGN (64). */
  offset: number;
  /** Floats in the tensor (≥ 1). */
  length: number;
  /** Apply weight decay (matrices and embeddings: yes; norms' gains and biases: no). */
  decay: boolean;
  /** For error messages. */
  name?: string;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay λ (p −= lr·λ·p on segments with decay). */
  weightDecay: number;
  /** Clip the global gradient norm to this; 0 turns clipping off. */
  maxNorm: number;
  /** 1-based step count t, for the bias corrections 1 − β^t. */
  step: number;
}

/** PyTorch's AdamW defaults, no clipping, step 1. */
export const ADAMW_DEFAULTS: Readonly<AdamWHyper> = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxNorm: 0, step: 1 };

/** status[0] after a step: */
export const ADAMW_STEP_APPLIED = 0;
export const ADAMW_STEP_SKIPPED = 1;

const WG = 256;
const DECAY_BIT = 0x80;

const label = (s: ParamSegment, i: number): string => (s.name ? `'${s.name}'` : `segment ${i}`);

/**
 * The per-block table the shader reads (see shaders/adamw.wgsl): for each 64-float block of the n-float buffer,
 * bits 0..6 = how many leading floats of the block belong to a tensor (0..64), bit 7 = decay. Floats in no segment
 * (padding) are never read or written. Throws on misaligned, overlapping or out-of-range segments.
 */
export function buildBlockTable(n: number, segments: readonly ParamSegment[]): Uint32Array {
  check(Number.isInteger(n) && n >= 1 && n < 2 ** 31, () => `adamw: n must be an integer in [1, 2^31), got ${n}`);
  check(segments.length > 0, 'adamw: segments is empty; list every parameter tensor as {offset, length, decay}');
  const table = new Uint32Array(ceilDiv(n, PARAM_ALIGN));
  const order = segments.map((s, i) => [s, i] as const).sort((a, b) => a[0].offset - b[0].offset);
  let end = 0;
  let prev = '';
  for (const [s, i] of order) {
    const what = label(s, i);
    check(Number.isInteger(s.offset) && s.offset >= 0, () => `adamw: ${what} offset must be a non-negative integer, got ${s.offset}`);
    check(s.offset % PARAM_ALIGN === 0, () => `adamw: ${what} starts at float ${s.offset}, not a multiple of ${PARAM_ALIGN}; align every tensor to ${PARAM_ALIGN} floats`);
    check(Number.isInteger(s.length) && s.length >= 1, () => `adamw: ${what} length must be a positive integer, got ${s.length}`);
    check(s.offset + s.length <= n, () => `adamw: ${what} ends at float ${s.offset + s.length}, past the buffer's ${n}`);
    check(s.offset >= end, () => `adamw: ${what} (from ${s.offset}) overlaps ${prev}, which ends at ${end}`);
    for (let b = s.offset / PARAM_ALIGN, left = s.length; left > 0; b++, left -= PARAM_ALIGN) {
      table[b] = Math.min(left, PARAM_ALIGN) | (s.decay ? DECAY_BIT : 0);
    }
    end = s.offset + s.length;
    prev = what;
  }
  return table;
}

function validateHyper(h: AdamWHyper): void {
  const bad = (what: string, v: number, rule: string) => () => `adamw: ${what} must be ${rule}, got ${v}`;
  check(Number.isFinite(h.lr) && h.lr >= 0, bad('lr', h.lr, 'a finite number ≥ 0'));
  check(h.beta1 >= 0 && h.beta1 < 1, bad('beta1', h.beta1, 'in [0, 1)'));
  check(h.beta2 >= 0 && h.beta2 < 1, bad('beta2', h.beta2, 'in [0, 1)'));
  check(Number.isFinite(h.eps) && h.eps > 0, bad('eps', h.eps, 'a finite number > 0'));
  check(Number.isFinite(h.weightDecay) && h.weightDecay >= 0, bad('weightDecay', h.weightDecay, 'a finite number ≥ 0'));
  check(Number.isFinite(h.maxNorm) && h.maxNorm >= 0, bad('maxNorm', h.maxNorm, 'a finite number ≥ 0 (0 turns clipping off)'));
  check(Number.isInteger(h.step) && h.step >= 1, bad('step', h.step, 'an integer ≥ 1 (the first step is 1)'));
}

const floatsIn = (b: Binding): number => Math.floor(b.size / 4);

/**
 * Fused AdamW over the flat parameter buffer: clipping by the global gradient norm (computed on the GPU by
 * GlobalNorm, never read back), bias correction, per-tensor decoupled weight decay, and a skipped step when
 * the norm is NaN or Inf. One dispatch per step.
 */
export class AdamW {
  readonly n: number;
  private readonly pipeline: GPUComputePipeline;
  private readonly uniform: GPUBuffer;
  private readonly blocks: GPUBuffer;
  private readonly grid: [number, number];
  private current: AdamWHyper;

  constructor(
    private readonly gpu: Gpu,
    options: { n: number; segments: readonly ParamSegment[]; hyper?: Partial<AdamWHyper> },
  ) {
    const table = buildBlockTable(options.n, options.segments);
    this.n = options.n;
    this.current = { ...ADAMW_DEFAULTS, ...options.hyper };
    validateHyper(this.current);
    this.pipeline = gpu.pipelines.get(adamwShader, 'adamw', { WG });
    this.uniform = gpu.uniform(this.packHyper(), `adamw n=${this.n}`);
    this.blocks = gpu.upload(table, 'adamw blocks');
    this.grid = grid1d(gpu, ceilDiv(this.n, WG));
  }

  get hyper(): Readonly<AdamWHyper> {
    return this.current;
  }

  /**
   * Updates the hyper-parameters (any subset; typically lr and step every step) with one 48-byte
   * queue.writeBuffer. It lands in queue order: it applies to every AdamW dispatch in command buffers
   * submitted after this call, so encode one step per submit (or call setHyper between submits).
   */
  setHyper(h: Partial<AdamWHyper>): void {
    const next = { ...this.current, ...h };
    validateHyper(next);
    this.current = next;
    this.gpu.queue.writeBuffer(this.uniform, 0, this.packHyper());
  }

  /** Uniform layout (48 bytes): lr β1 β2 eps wd maxNorm bc1 bc2 f32; n u32; 3 pad. */
  private packHyper(): ArrayBuffer {
    const h = this.current;
    return packUniform([
      ['f32', h.lr], ['f32', h.beta1], ['f32', h.beta2], ['f32', h.eps],
      ['f32', h.weightDecay], ['f32', h.maxNorm], ['f32', 1 - h.beta1 ** h.step], ['f32', 1 - h.beta2 ** h.step],
      ['u32', this.n], ['u32', 0], ['u32', 0], ['u32', 0],
    ]);
  }

  /**
   * Records one step. params, grads, m, v: n floats each, four different buffers. normSq: the global gradient
   * norm² at float 0. status: 2 u32 (see ADAMW_STEP_*; status[1] counts skipped steps); it may share a buffer
   * with normSq (other range) but not overlap it.
   */
  encode(pass: GPUComputePassEncoder, params: Binding, grads: Binding, m: Binding, v: Binding, normSq: Binding, status: Binding): void {
    const named = { params, grads, m, v } as const;
    for (const [name, b] of Object.entries(named)) {
      check(floatsIn(b) >= this.n, () => `adamw: ${name} ('${bufferOf(b).label}') holds ${floatsIn(b)} floats, needs ${this.n}`);
    }
    const bufs = Object.values(named).map(bufferOf);
    check(new Set(bufs).size === 4, 'adamw: params, grads, m and v must be four different buffers');
    check(floatsIn(normSq) >= 1, () => `adamw: normSq ('${bufferOf(normSq).label}') is empty`);
    check(Math.floor(status.size / 4) >= 2, () => `adamw: status ('${bufferOf(status).label}') must hold 2 u32`);
    for (const b of [normSq, status]) {
      check(!bufs.includes(bufferOf(b)), 'adamw: normSq and status must not share a buffer with params, grads, m or v');
    }
    dispatch(this.gpu, pass, this.pipeline, [this.uniform, params, grads, m, v, this.blocks, normSq, status], this.grid);
  }

  destroy(): void {
    this.gpu.release(this.uniform);
    this.gpu.release(this.blocks);
  }
}
