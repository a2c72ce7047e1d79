/**
 * What a training run will allocate, from its model config and batch shape alone, so a run the device cannot hold
 * is refused before any buffer exists, with the estimate, the limit and the field to shrink. WebGPU exposes
 * per-buffer limits but not the device's memory, so the total is checked against a budget: the caller's, or
 * {@link defaultMemoryBudget}. Past that, allocation runs inside an out-of-memory error scope (Gpu.scoped) and a
 * failure is reported as GpuOutOfMemoryError.
 *
 * The estimate mirrors the buffers the trainer, the model and its kernels create (model.ts, kernels/, train/trainer.ts)
 * and bounds the small ones (kernel uniforms, reduction tables) from above, so it is never below what a run
 * allocates (tests/gpu/faults.test.ts holds it to [1, 1.1] × the real figure). Sampling buffers (decoders,
 * KV caches) are not in it: they are made on demand, sized by the request, and far smaller than training's.
 *
 * Sizes in bytes; N = B·T tokens per micro-batch, P parameter floats (64-float aligned), V vocabulary.
 */
import { formatBytes } from '../lib/format';
import { LimitExceededError } from '../gpu/errors';
import { expertCapacity, statsWords } from '../kernels/moe';
import { isMoeLayer, modelDims, type ModelConfig } from './config';
import { buildLayout } from './layout';
import { muonMatrices, muonShapes } from './param-groups';

/** What the estimate needs to know about a run: its model, micro-batch and optimizer (a RunConfig is one). */
export interface TrainingMemoryInput {
  model: ModelConfig;
  train: { batchSize: number; gradAccum: number };
  /** Muon adds its scratch (below); absent means AdamW. */
  optim?: { optimizer: 'adamw' | 'muon' };
}

export interface BufferEstimate {
  name: string;
  bytes: number;
  /** The largest single buffer among them (checked against the per-buffer limit). */
  largestBufferBytes: number;
  /** The config field that shrinks it most directly. */
  field: string;
}

export interface MemoryEstimate {
  buffers: BufferEstimate[];
  totalBytes: number;
  largest: BufferEstimate;
}

const GiB = 2 ** 30;

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** Cap of the default budget; see {@link defaultMemoryBudget}. */
export const DEFAULT_MEMORY_BUDGET_CAP = 2 * GiB;

/**
 * The budget a run gets when the caller names none: twice the adapter's largest buffer, at most 2 GiB. WebGPU does
 * not report the device's memory; its buffer limit is the one hint of the device's class (the spec's floor, 256 MiB,
 * is what phones and small integrated GPUs report, so 512 MiB there). 2 GiB fits every preset with room on a real GPU,
 * and stays below where browsers' GPU processes commonly lose the device (integrated GPUs share system memory with
 * the tab). A user with a bigger card raises it (RunOptions.memoryBudgetBytes; the page's settings).
 */
export function defaultMemoryBudget(limits: Pick<GPUSupportedLimits, 'maxBufferSize'>): number {
  return Math.min(DEFAULT_MEMORY_BUDGET_CAP, 2 * limits.maxBufferSize);
}

export function estimateTrainingMemory(run: TrainingMemoryInput): MemoryEstimate {
  const c = run.model;
  const B = run.train.batchSize;
  const ga = run.train.gradAccum;
  const T = c.contextLength;
  const N = B * T;
  const C = c.nEmbd;
  const V = c.vocabSize;
  const NH = c.nHead;
  const { hs, qDim, kvDim, H, ffnIn: F } = modelDims(c);
  const layout = buildLayout(c);
  const P = layout.totalLength;
  const segments = layout.specs.length;
  const anyDense = Array.from({ length: c.nLayer }, (_, l) => !isMoeLayer(c, l)).some(Boolean);
  // LayerNorm keeps each row's mean beside its rstd (none for RMSNorm), and its gradient partials hold gain and bias
  const layerNorm = c.norm === 'layernorm';
  const mean = layerNorm ? N : 0;
  const buffers: BufferEstimate[] = [];
  /** A group of buffers of these float counts. */
  const add = (name: string, field: string, ...floats: number[]) =>
    buffers.push({ name, bytes: 4 * floats.reduce((a, b) => a + b, 0), largestBufferBytes: 4 * Math.max(...floats), field });

  add('parameters', 'model.nEmbd', P);
  add('gradients', 'model.nEmbd', P);
  add('AdamW first moment', 'model.nEmbd', P);
  add('AdamW second moment', 'model.nEmbd', P);
  add('logits (B·T, V)', 'train.batchSize', N * V);
  // tokens, targets, losses; final norm in/out, rstd (and mean), projection, residual gradient, norm gradient; attention gradients
  add('residual-stream buffers', 'train.batchSize', N, N, N, N * C, N * C, N, mean, N * C, N * C, N * C, N * qDim, N * qDim, N * kvDim, N * kvDim, N * NH);
  for (let l = 0; l < c.nLayer; l++) {
    // xIn, n1, rstd1 (mean1), q, k, v, att, lse, xMid, n2, rstd2 (mean2)
    add(`layer ${l} attention activations`, 'train.batchSize', N * C, N * C, N, mean, N * qDim, N * kvDim, N * kvDim, N * qDim, N * NH, N * C, N * C, N, mean);
    // QK-norm keeps the pre-norm q and k and their rstd per head
    if (c.qkNorm) add(`layer ${l} QK-norm activations`, 'train.batchSize', N * qDim, N * kvDim, N * c.nHead, N * c.nKvHead);
    if (isMoeLayer(c, l)) {
      const E = c.moeExperts;
      const K = c.moeTopK;
      const cap = expertCapacity(N, K, E, c.moeCapacityFactor);
      // router logits and their gradient, probabilities, choices, gates, slots and the gates' gradient, slot map, stats
      add(`layer ${l} routing buffers`, 'train.batchSize', N * E, N * E, N * E, N * K, N * K, N * K, N * K, E * cap, statsWords(E));
      // dispatched rows, expert outputs and their gradients (C wide); up-projection (F) and activation (H) and theirs
      const perRow = [E * cap * C, E * cap * C, E * cap * C, E * cap * C, E * cap * F, E * cap * H, E * cap * H];
      if (c.mlp === 'swiglu') perRow.push(E * cap * F);
      add(`layer ${l} expert rows (E·capacity = ${E * cap})`, 'model.moeCapacityFactor', ...perRow);
    } else {
      add(`layer ${l} MLP activations (B·T, F)`, 'train.batchSize', N * F, N * H);
    }
  }
  if (anyDense) add('MLP gradient scratch', 'train.batchSize', N * F, N * H);
  // radix-sort keys and values (two each), digit counts, per-piece sums (kernels/embed.ts)
  add('embedding gradient scratch', 'train.batchSize', N, N, N, N, 256 * (Math.ceil(N / 256) + 1), N * C);
  // two norm backward kernels, each with at most one partial row (gain, and LayerNorm's bias) per row, rounded up to
  // its rows per workgroup (256 on the one-invocation-per-row GPU path, taken when C ≤ 16; 16 on CPU-emulated adapters)
  const normRows = roundUp(N, C <= 16 ? 256 : 16);
  const partialWidth = layerNorm ? 2 * C : C;
  add(`${layerNorm ? 'LayerNorm' : 'RMSNorm'} gradient scratch`, 'train.batchSize', normRows * partialWidth, normRows * partialWidth);
  // QK-norm's backward: one scratch for q's rows (N·NH of HS) and k's (fewer), bounded as the block norms'; its
  // pre-norm gradients reuse the attention gradient buffers
  if (c.qkNorm) add('QK-norm gradient scratch', 'train.batchSize', roundUp(N * NH, hs <= 16 ? 256 : 16) * hs);
  // Small ones, bounded: ≤ 64-byte uniforms (≤ 32 per block, 64 + 2 per micro-batch outside, 4 for the bias
  // gradients' column sums with model.bias, 6 for QK-norm's 2 forward and 2 × 2 backward; the biases themselves are
  // in P), RoPE tables, AdamW's block table, norm and loss partials (chunks of ≥ 1024 floats), the metrics ring and
  // its two stagings.
  const uniformFloats = 16 * (32 * c.nLayer + 64 + 2 * ga + (c.bias ? 4 : 0) + (c.qkNorm ? 6 : 0)) + 2 * hs;
  const partials = Math.ceil(P / 1024) + segments;
  const ring = 3 * 16 * (3 + ga + segments);
  add('kernel parameters and small tables', 'model.nLayer', uniformFloats, Math.ceil(P / 64), 3 * partials + 2 * segments, ga * Math.ceil(N / 1024), 4 + segments + 2 + ga, ring);
  if (run.optim?.optimizer === 'muon') {
    // Per distinct matrix shape (rows·cols = n, r = min side), shared by its matrices (src/train/trainer.ts): the
    // update u, NS5's X and X' (n each), A and B (r² each), its norm² and reduction partials (chunks ≥ 1024 floats),
    // and ≤ 8 uniforms of ≤ 64 bytes; per matrix, the momentum and apply kernels' two 16-byte uniforms.
    const mats = muonMatrices(layout);
    for (const { rows, cols, count } of muonShapes(mats)) {
      const n = rows * cols;
      const r = Math.min(rows, cols);
      add(`Muon scratch ${rows}x${cols} (${count} matrices)`, 'model.nEmbd', n, n, n, r * r, r * r, 1, Math.ceil(n / 1024), 8 * 16, 8 * count);
    }
  }
  const totalBytes = buffers.reduce((a, b) => a + b.bytes, 0);
  const largest = buffers.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  return { buffers, totalBytes, largest };
}

/**
 * Throws LimitExceededError (with the field to shrink, the estimate and the limit) when a buffer of the run would
 * exceed the device's per-buffer or per-binding limit, or the total would exceed `budgetBytes`.
 */
export function checkFitsDevice(
  run: TrainingMemoryInput,
  limits: Pick<GPUSupportedLimits, 'maxBufferSize' | 'maxStorageBufferBindingSize'>,
  budgetBytes?: number,
): MemoryEstimate {
  const est = estimateTrainingMemory(run);
  const perBuffer = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  for (const b of est.buffers) {
    if (b.largestBufferBytes > perBuffer) {
      throw new LimitExceededError(
        `${b.name} would need ${formatBytes(b.largestBufferBytes)} in one buffer; this GPU binds at most ${formatBytes(perBuffer)} per buffer. Shrink ${b.field}` +
          (b.field === 'train.batchSize' ? ' (or model.contextLength; gradAccum keeps the tokens per step)' : ''),
        b.field,
      );
    }
  }
  if (budgetBytes !== undefined && est.totalBytes > budgetBytes) {
    throw new LimitExceededError(
      `training would allocate about ${formatBytes(est.totalBytes)}, over the ${formatBytes(budgetBytes)} memory budget; the largest part is ${est.largest.name} (${formatBytes(est.largest.bytes)}): ` +
        `shrink ${est.largest.field}, or raise the memory budget if this GPU has the memory`,
      est.largest.field,
    );
  }
  return est;
}
