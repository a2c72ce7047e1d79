/**
 * QK-norm (model.qkNorm, as OLMo 2 / Qwen3): RMSNorm of each head's query and key over its HS channels, with a
 * learned gain per layer shared by the heads (h.<l>.q_norm, h.<l>.k_norm), before RoPE. The norm kernels take
 * q (rows, NH·HS) as (rows·NH, HS) and k as (rows·NKV, HS): one row per head, no new kernel.
 *
 * The kernels for one pass shape; the model and the decoder own the buffers (pre-norm q and k, and their rstd).
 */
import type { Gpu } from '../gpu/device';
import type { Binding } from '../kernels/dispatch';
import { RmsNormBackward, RmsNormForward } from '../kernels/norm';
import { modelDims, type ModelConfig } from './config';

/** A query and a key tensor, taken together. */
export interface QK<T> {
  q: T;
  k: T;
}

/** The gains' names in the layout for block `layer`. */
export const qkNormNames = (layer: number): QK<string> => ({ q: `h.${layer}.q_norm`, k: `h.${layer}.k_norm` });

export class QkNorm {
  private readonly fwd: QK<RmsNormForward>;
  private readonly back: QK<RmsNormBackward> | null = null;
  private readonly scratch: GPUBuffer | null = null;
  private readonly made: { destroy(): void }[] = [];

  /** `rows` tokens (B·T); `backward` also builds the backward (gradients accumulate, as the model's). */
  constructor(
    private readonly gpu: Gpu,
    c: ModelConfig,
    rows: number,
    backward: boolean,
  ) {
    const { hs } = modelDims(c);
    const q = { N: rows * c.nHead, C: hs, eps: c.normEps };
    const k = { N: rows * c.nKvHead, C: hs, eps: c.normEps };
    try {
      const keep = <K extends { destroy(): void }>(kernel: K): K => (this.made.push(kernel), kernel);
      this.fwd = { q: keep(new RmsNormForward(gpu, q)), k: keep(new RmsNormForward(gpu, k)) };
      if (backward) {
        // q's backward and then k's, recorded one after the other: one scratch (q's, the larger) serves both
        this.scratch = gpu.createBuffer(Math.max(RmsNormBackward.scratchBytes(gpu, q), RmsNormBackward.scratchBytes(gpu, k)), 'qk-norm backward scratch');
        const opts = { accumulateDx: false, accumulateDweight: true, scratch: this.scratch };
        this.back = { q: keep(new RmsNormBackward(gpu, q, opts)), k: keep(new RmsNormBackward(gpu, k, opts)) };
      }
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** pre (rows, NH·HS | NKV·HS) → out, normed per head; rstd (rows·NH | rows·NKV) kept for the backward. */
  forward(pass: GPUComputePassEncoder, gain: QK<Binding>, pre: QK<GPUBuffer>, out: QK<GPUBuffer>, rstd: QK<GPUBuffer>): void {
    this.fwd.q.encode(pass, pre.q, gain.q, out.q, rstd.q);
    this.fwd.k.encode(pass, pre.k, gain.k, out.k, rstd.k);
  }

  /** d(normed q, k) in `dy` → d(pre-norm q, k) written to `dx`; the gains' gradients accumulate into `dgain`. */
  backward(
    pass: GPUComputePassEncoder, gain: QK<Binding>, pre: QK<GPUBuffer>, rstd: QK<GPUBuffer>, dy: QK<GPUBuffer>, dx: QK<GPUBuffer>, dgain: QK<Binding>,
  ): void {
    if (!this.back) throw new Error('QkNorm: built without its backward');
    this.back.q.encode(pass, pre.q, gain.q, rstd.q, dy.q, dx.q, dgain.q);
    this.back.k.encode(pass, pre.k, gain.k, rstd.k, dy.k, dx.k, dgain.k);
  }

  destroy(): void {
    for (const kernel of this.made) kernel.destroy();
    this.made.length = 0;
    if (this.scratch) this.gpu.release(this.scratch);
  }
}
