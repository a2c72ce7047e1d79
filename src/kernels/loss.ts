import source from '../../shaders/loss.wgsl?raw';
import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import type { ShaderSource } from '../gpu/pipelines';
import { assertHolds, assertNoAlias, bufferOf, dispatch, grid1d, packUniform, rowWorkgroupSize, type Binding } from './dispatch';

export const lossShader: ShaderSource = { name: 'loss', code: source };
const KERNEL = 'cross-entropy';

/** A hard target equal to this is ignored: loss 0, gradient 0 (PyTorch's ignore_index, as a u32). */
export const IGNORE_INDEX = 0xffffffff;


/**
 * What the targets are.
 * - 'hard': one class index per row, (N) u32; IGNORE_INDEX skips the row. An index >= V that is not
 *   IGNORE_INDEX is a caller bug: that row's loss is NaN (so it shows) and its gradient 0.
 * - 'soft': a distribution per row, (N, V) f32 (distillation); loss = -sum p log softmax(z). Rows need not
 *   sum to 1: the gradient is the exact one, sum(p) * softmax(z) - p.
 */
export type CrossEntropyTargets = 'hard' | 'soft';

/** Where the fused kernel puts dlogits. 'inPlace' overwrites the logits; 'accumulate' adds to dlogits. */
export type DlogitsMode = 'write' | 'inPlace' | 'accumulate';

export interface CrossEntropyOptions {
  /** N: rows (tokens). */
  rows: number;
  /** V: vocabulary size (any size >= 1). */
  vocab: number;
  targets: CrossEntropyTargets;
  /** Per-row weights (N) f32 that multiply each row's loss and gradient (RL advantages; may be negative). */
  weighted?: boolean;
  /** Also write per-row [max prob, entropy (nats)] into a stats buffer (N, 2). Cheap: no extra pass. */
  stats?: boolean;
}

export interface FusedCrossEntropyOptions extends CrossEntropyOptions {
  /**
   * dlogits = gradScale * d(sum of per-row losses)/dlogits: the normaliser of a mean, e.g.
   * 1 / (non-ignored tokens * grad-accumulation steps). Change it with setGradScale.
   */
  gradScale: number;
  /** Default 'write'. */
  dlogits?: DlogitsMode;
}

export interface CrossEntropyBuffers {
  /** (N, V) f32; receives dlogits when dlogits is 'inPlace'. */
  logits: Binding;
  /** (N) u32 for 'hard', (N, V) f32 for 'soft'. */
  targets: Binding;
  /** (N) f32, when weighted. */
  weights?: Binding;
  /** (N) f32 out: per-row loss, times its weight when weighted (0 for ignored rows). */
  losses: Binding;
  /** (N, 2) f32 out, when stats. */
  stats?: Binding;
}

export interface FusedCrossEntropyBuffers extends CrossEntropyBuffers {
  /** (N, V) f32 out (or in/out when accumulating); omit when dlogits is 'inPlace'. */
  dlogits?: Binding;
}

/** Uniform layout (16 bytes): rows u32, vocab u32, gradScale f32, pad u32. */
function packParams(rows: number, vocab: number, gradScale: number): ArrayBuffer {
  return packUniform([['u32', rows], ['u32', vocab], ['f32', gradScale], ['u32', 0]]);
}

/** Shared by the forward-only and the fused kernel: validation, the variant, the binding order. */
abstract class CrossEntropyBase {
  protected readonly pipeline: GPUComputePipeline;
  protected readonly uniform: GPUBuffer;
  readonly rows: number;
  readonly vocab: number;

  protected constructor(
    protected readonly gpu: Gpu,
    protected readonly opts: CrossEntropyOptions,
    backward: boolean,
    dlogits: DlogitsMode,
    gradScale: number,
  ) {
    const { rows, vocab } = opts;
    check(Number.isInteger(rows) && rows >= 1, `cross-entropy: rows must be a positive integer, got ${rows}`);
    check(Number.isInteger(vocab) && vocab >= 1, `cross-entropy: vocab must be a positive integer, got ${vocab}`);
    check(rows * vocab < 2 ** 32, () => `cross-entropy: rows * vocab = ${rows * vocab} overflows u32 indexing; split the batch`);
    check(Number.isFinite(gradScale), `cross-entropy: gradScale must be finite, got ${gradScale}`);
    this.rows = rows;
    this.vocab = vocab;
    const weighted = !!opts.weighted;
    const separate = backward && dlogits !== 'inPlace';
    // Bindings 0 params, 1 logits, 2 targets, then the optional ones in this order, numbered contiguously.
    let next = 3;
    const slot = (used: boolean): number => (used ? next++ : 99);
    const B_WEIGHTS = slot(weighted);
    const B_LOSSES = slot(true);
    const B_DLOGITS = slot(separate);
    const B_STATS = slot(!!opts.stats);
    this.pipeline = gpu.pipelines.get(lossShader, 'cross_entropy', {
      WG: rowWorkgroupSize(vocab),
      SOFT: opts.targets === 'soft',
      WEIGHTED: weighted,
      BACKWARD: backward,
      IN_PLACE: backward && dlogits === 'inPlace',
      ACCUMULATE: backward && dlogits === 'accumulate',
      SEPARATE_DLOGITS: separate,
      STATS: !!opts.stats,
      B_WEIGHTS,
      B_LOSSES,
      B_DLOGITS,
      B_STATS,
    });
    this.uniform = gpu.uniform(packParams(rows, vocab, gradScale), `cross-entropy N=${rows} V=${vocab}`);
  }

  protected bindings(b: FusedCrossEntropyBuffers, separateDlogits: boolean): Binding[] {
    const { rows: N, vocab: V } = this;
    const o = this.opts;
    assertHolds(KERNEL, 'logits', b.logits, N * V, 'values');
    assertHolds(KERNEL, 'targets', b.targets, o.targets === 'soft' ? N * V : N, 'values');
    assertHolds(KERNEL, 'losses', b.losses, N, 'values');
    const list: Binding[] = [this.uniform, b.logits, b.targets];
    if (o.weighted) {
      check(b.weights, 'cross-entropy: weighted variant needs a weights buffer (N)');
      assertHolds(KERNEL, 'weights', b.weights, N, 'values');
      list.push(b.weights);
    } else {
      check(!b.weights, 'cross-entropy: a weights buffer was given to an unweighted variant (construct it with weighted: true)');
    }
    list.push(b.losses);
    if (separateDlogits) {
      check(b.dlogits, 'cross-entropy: this variant writes dlogits and needs a dlogits buffer (N, V)');
      assertHolds(KERNEL, 'dlogits', b.dlogits, N * V, 'values');
      check(bufferOf(b.dlogits) !== bufferOf(b.logits), "cross-entropy: dlogits must not alias logits; use dlogits: 'inPlace' to overwrite them");
      list.push(b.dlogits);
    } else {
      check(!b.dlogits, "cross-entropy: a dlogits buffer was given, but this variant writes none (forward-only or 'inPlace')");
    }
    if (o.stats) {
      check(b.stats, 'cross-entropy: stats variant needs a stats buffer (N, 2)');
      assertHolds(KERNEL, 'stats', b.stats, 2 * N, 'values');
      list.push(b.stats);
    }
    // Each output apart from the inputs and from the outputs before it.
    const seen: Record<string, Binding> = { logits: b.logits, targets: b.targets, ...(b.weights && { weights: b.weights }) };
    for (const [name, out] of [['losses', b.losses], ['dlogits', separateDlogits ? b.dlogits : undefined], ['stats', b.stats]] as const) {
      if (!out) continue;
      assertNoAlias(KERNEL, name, out, seen);
      seen[name] = out;
    }
    return list;
  }

  protected record(pass: GPUComputePassEncoder, list: Binding[]): void {
    dispatch(this.gpu, pass, this.pipeline, list, grid1d(this.gpu, this.rows));
  }

  destroy(): void {
    this.gpu.release(this.uniform);
  }
}

/** Forward only (evaluation): per-row losses, optionally [max prob, entropy]. Logits are only read. */
export class CrossEntropyForward extends CrossEntropyBase {
  constructor(gpu: Gpu, opts: CrossEntropyOptions) {
    super(gpu, opts, false, 'write', 0);
  }

  encode(pass: GPUComputePassEncoder, buffers: CrossEntropyBuffers): void {
    this.record(pass, this.bindings(buffers, false));
  }
}

/**
 * Fused softmax cross-entropy forward + backward: per-row losses and
 * dlogits (N, V) = gradScale * weight_i * (sum(p_i) * softmax(z_i) - p_i), with p_i the one-hot or soft target.
 * Two reads of the logits and one write of dlogits; no (N, V) temporaries.
 */
export class FusedCrossEntropy extends CrossEntropyBase {
  readonly dlogitsMode: DlogitsMode;

  constructor(gpu: Gpu, opts: FusedCrossEntropyOptions) {
    const mode = opts.dlogits ?? 'write';
    super(gpu, opts, true, mode, opts.gradScale);
    this.dlogitsMode = mode;
  }

  /** Takes effect at the next queue submission (queue.writeBuffer), not between dispatches of one pass. */
  setGradScale(gradScale: number): void {
    check(Number.isFinite(gradScale), `cross-entropy: gradScale must be finite, got ${gradScale}`);
    this.gpu.queue.writeBuffer(this.uniform, 0, packParams(this.rows, this.vocab, gradScale));
  }

  encode(pass: GPUComputePassEncoder, buffers: FusedCrossEntropyBuffers): void {
    this.record(pass, this.bindings(buffers, this.dlogitsMode !== 'inPlace'));
  }
}
