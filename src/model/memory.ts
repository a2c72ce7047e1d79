/**
 * What a training run will allocate, from its config alone, so a config the device cannot hold is refused before
 * any buffer exists, with the field to shrink. WebGPU exposes per-buffer limits but not the device's memory, so
 * the total is checked against a budget only when one is given; past that, allocation runs inside an
 * out-of-memory error scope (Gpu.scoped) and a failure is reported as GpuOutOfMemoryError.
 *
 * Sizes in bytes; N = B·T tokens per micro-batch, P parameters (64-float aligned), V vocabulary.
 */
import { LimitExceededError } from '../gpu/errors';
import { expertCapacity } from '../kernels/moe';
import type { RunConfig } from '../train/config';
import { headSize, isMoeLayer } from './config';
import { buildLayout } from './layout';

export interface BufferEstimate {
  name: string;
  bytes: number;
  /** The config field that shrinks it most directly. */
  field: string;
}

export interface MemoryEstimate {
  buffers: BufferEstimate[];
  totalBytes: number;
  largest: BufferEstimate;
}

const MiB = 2 ** 20;
const fmt = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / MiB).toFixed(1)} MiB`);

export function estimateTrainingMemory(config: RunConfig): MemoryEstimate {
  const c = config.model;
  const B = config.train.batchSize;
  const T = c.contextLength;
  const N = B * T;
  const C = c.nEmbd;
  const hs = headSize(c);
  const qDim = c.nHead * hs;
  const kvDim = c.nKvHead * hs;
  const H = c.mlpHidden;
  const F = c.mlp === 'swiglu' ? 2 * H : H;
  const P = buildLayout(c).totalLength;
  const f = (floats: number) => 4 * floats;
  const buffers: BufferEstimate[] = [
    { name: 'parameters', bytes: f(P), field: 'model.nEmbd' },
    { name: 'gradients', bytes: f(P), field: 'model.nEmbd' },
    { name: 'AdamW first moment', bytes: f(P), field: 'model.nEmbd' },
    { name: 'AdamW second moment', bytes: f(P), field: 'model.nEmbd' },
    { name: 'logits (B·T, V)', bytes: f(N * c.vocabSize), field: 'train.batchSize' },
    { name: 'residual-stream buffers', bytes: f(5 * N * C + 2 * N * qDim + 2 * N * kvDim + 4 * N), field: 'train.batchSize' },
  ];
  for (let l = 0; l < c.nLayer; l++) {
    const acts = f(3 * N * C + 2 * N * qDim + 2 * N * kvDim + B * c.nHead * T + 2 * N);
    buffers.push({ name: `layer ${l} attention activations`, bytes: acts, field: 'train.batchSize' });
    if (isMoeLayer(c, l)) {
      const cap = expertCapacity(N, c.moeTopK, c.moeExperts, c.moeCapacityFactor);
      // dispatched rows, expert up (F) and activation (H) outputs, expert out, and their gradients
      buffers.push({ name: `layer ${l} expert rows (E, capacity, F)`, bytes: f(c.moeExperts * cap * F), field: 'model.moeCapacityFactor' });
      buffers.push({ name: `layer ${l} other expert activations`, bytes: f(c.moeExperts * cap * (2 * C + H) * 2 + c.moeExperts * cap * F), field: 'model.moeExperts' });
    } else {
      buffers.push({ name: `layer ${l} MLP activations (B·T, F)`, bytes: f(N * F + N * H), field: 'train.batchSize' });
    }
  }
  buffers.push({ name: 'MLP gradient scratch', bytes: f(N * F + N * H), field: 'train.batchSize' });
  const totalBytes = buffers.reduce((a, b) => a + b.bytes, 0);
  const largest = buffers.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  return { buffers, totalBytes, largest };
}

/**
 * Throws LimitExceededError (with the field to shrink) when a buffer of the run would exceed the device's
 * per-buffer or per-binding limit, or the total would exceed `budgetBytes`.
 */
export function checkFitsDevice(config: RunConfig, limits: Pick<GPUSupportedLimits, 'maxBufferSize' | 'maxStorageBufferBindingSize'>, budgetBytes?: number): MemoryEstimate {
  const est = estimateTrainingMemory(config);
  const perBuffer = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  for (const b of est.buffers) {
    if (b.bytes > perBuffer) {
      throw new LimitExceededError(
        `${b.name} would need ${fmt(b.bytes)} in one buffer; this GPU binds at most ${fmt(perBuffer)} per buffer. Shrink ${b.field}` +
          (b.field === 'train.batchSize' ? ' (or model.contextLength; gradAccum keeps the tokens per step)' : ''),
        b.field,
      );
    }
  }
  if (budgetBytes !== undefined && est.totalBytes > budgetBytes) {
    throw new LimitExceededError(
      `training would allocate about ${fmt(est.totalBytes)}, over the ${fmt(budgetBytes)} memory budget; the largest part is ${est.largest.name} (${fmt(est.largest.bytes)}): shrink ${est.largest.field}`,
      est.largest.field,
    );
  }
  return est;
}
