import { describe, expect, it } from 'vitest';
import { FIRST_MERGE_ID } from '../../src/data/tokenizer';
import { checkFitsDevice, DEFAULT_MEMORY_BUDGET_CAP, defaultMemoryBudget, estimateTrainingMemory } from '../../src/model/memory';
import { resolveModelConfig } from '../../src/model/config';
import { resolveRunConfig } from '../../src/train/config';
import { PRESETS } from '../../src/ui/presets';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const desktop = { maxBufferSize: 2 * GiB, maxStorageBufferBindingSize: 2 * GiB };
const specFloor = { maxBufferSize: 256 * MiB, maxStorageBufferBindingSize: 128 * MiB };

/** A preset's run config with the vocabulary its tokenizer will have at most (as createRun checks it first). */
function presetRun(config: unknown) {
  const c = resolveRunConfig(config);
  c.model.vocabSize = c.data.tokenizer === 'bpe' ? c.data.bpeVocabSize : FIRST_MERGE_ID;
  return c;
}

describe('the default memory budget', () => {
  it('is twice the largest buffer, at most 2 GiB', () => {
    expect(defaultMemoryBudget(specFloor)).toBe(512 * MiB);
    expect(defaultMemoryBudget({ maxBufferSize: 640 * MiB })).toBe(1280 * MiB);
    expect(defaultMemoryBudget(desktop)).toBe(2 * GiB);
    expect(defaultMemoryBudget({ maxBufferSize: 2 ** 52 })).toBe(DEFAULT_MEMORY_BUDGET_CAP);
  });

  it('lets every preset run on a desktop GPU, and the tiny ones on the smallest device WebGPU allows', () => {
    for (const p of PRESETS) {
      const run = presetRun(p.config);
      const est = checkFitsDevice(run, desktop, defaultMemoryBudget(desktop));
      console.log(`${p.id}: ${(est.totalBytes / MiB).toFixed(1)} MiB`);
      if (p.id.startsWith('tiny')) expect(() => checkFitsDevice(run, specFloor, defaultMemoryBudget(specFloor))).not.toThrow();
    }
  });
});

describe('checkFitsDevice', () => {
  const model = resolveModelConfig({ nLayer: 4, nEmbd: 256, nHead: 4, contextLength: 256, vocabSize: 512 });

  it('refuses a total over the budget with the estimate, the limit and the field to shrink', () => {
    const run = { model, train: { batchSize: 64, gradAccum: 1 } };
    const total = estimateTrainingMemory(run).totalBytes;
    expect(total).toBeGreaterThan(GiB);
    expect(() => checkFitsDevice(run, desktop, 512 * MiB)).toThrow(
      expect.objectContaining({
        name: 'LimitExceededError',
        field: 'train.batchSize',
        message: expect.stringMatching(/^training would allocate about 1\.\d\d GiB, over the 512\.0 MiB memory budget; the largest part is .* \(\d+\.\d MiB\): shrink train\.batchSize, or raise the memory budget/),
      }),
    );
    expect(() => checkFitsDevice(run, desktop, total - 1)).toThrow(/over the/);
    expect(checkFitsDevice(run, desktop, total).totalBytes).toBe(total);
  });

  it('checks each single buffer against the per-buffer limit, not the sum of a group', () => {
    const run = { model, train: { batchSize: 8, gradAccum: 1 } };
    const est = estimateTrainingMemory(run);
    const layer = est.buffers.find((b) => b.name === 'layer 0 attention activations')!;
    expect(layer.bytes).toBeGreaterThan(layer.largestBufferBytes);
    const biggest = Math.max(...est.buffers.map((b) => b.largestBufferBytes));
    const limits = { maxBufferSize: biggest, maxStorageBufferBindingSize: biggest };
    expect(() => checkFitsDevice(run, limits)).not.toThrow();
    expect(() => checkFitsDevice(run, { ...limits, maxStorageBufferBindingSize: biggest - 4 })).toThrow(/in one buffer; this GPU binds at most/);
  });

  it('counts LayerNorm means and its wider gradient partials, and wpe with its gradient and moments', () => {
    const train = { batchSize: 4, gradAccum: 1 };
    const c = { nLayer: 2, nEmbd: 64, nHead: 4, contextLength: 32, vocabSize: 64 };
    const rms = estimateTrainingMemory({ model: resolveModelConfig(c), train });
    const ln = estimateTrainingMemory({ model: resolveModelConfig({ ...c, norm: 'layernorm' }), train });
    const learned = estimateTrainingMemory({ model: resolveModelConfig({ ...c, positions: 'learned' }), train });
    const N = 4 * 32;
    const bytes = (e: typeof rms, name: string) => e.buffers.find((b) => b.name === name)!.bytes;
    expect(bytes(ln, 'layer 1 attention activations') - bytes(rms, 'layer 1 attention activations')).toBe(4 * 2 * N); // mean1, mean2
    expect(bytes(ln, 'residual-stream buffers') - bytes(rms, 'residual-stream buffers')).toBe(4 * N); // the final norm's mean
    expect(bytes(ln, 'LayerNorm gradient scratch')).toBe(2 * bytes(rms, 'RMSNorm gradient scratch')); // gain and bias partials
    // 5 biases of 64 floats, each its own 64-aligned segment, in parameters, gradients and two moments
    expect(bytes(ln, 'parameters') - bytes(rms, 'parameters')).toBe(4 * 5 * 64);
    expect(bytes(learned, 'AdamW second moment') - bytes(rms, 'AdamW second moment')).toBe(4 * 32 * 64);
    expect(learned.totalBytes - rms.totalBytes).toBeGreaterThanOrEqual(4 * 4 * 32 * 64);
  });

  it('counts QK-norm: pre-norm q and k with their rstd per layer, one backward scratch, the gains in every flat buffer', () => {
    const train = { batchSize: 4, gradAccum: 1 };
    // head size 16 ≤ 16: the scratch bound rounds N·NH = 512 rows up to 256 (already a multiple)
    const c = { nLayer: 2, nEmbd: 64, nHead: 4, nKvHead: 2, contextLength: 32, vocabSize: 64 };
    const plain = estimateTrainingMemory({ model: resolveModelConfig(c), train });
    const qk = estimateTrainingMemory({ model: resolveModelConfig({ ...c, qkNorm: true }), train });
    const N = 4 * 32;
    const bytes = (e: typeof plain, name: string) => e.buffers.find((b) => b.name === name)?.bytes ?? 0;
    expect(bytes(plain, 'layer 1 QK-norm activations')).toBe(0);
    expect(bytes(qk, 'layer 1 QK-norm activations')).toBe(4 * (N * 64 + N * 32 + N * 4 + N * 2));
    expect(bytes(qk, 'QK-norm gradient scratch')).toBe(4 * 512 * 16);
    // 4 gains of 16 floats, each its own 64-aligned segment
    expect(bytes(qk, 'gradients') - bytes(plain, 'gradients')).toBe(4 * 4 * 64);
    expect(qk.totalBytes - plain.totalBytes).toBeGreaterThan(2 * bytes(qk, 'layer 1 QK-norm activations') + bytes(qk, 'QK-norm gradient scratch'));
  });

  it('counts every expert row of a MoE layer and grows with the batch', () => {
    const moe = resolveModelConfig({ nLayer: 2, nEmbd: 64, nHead: 4, moeEvery: 1, moeExperts: 4, moeTopK: 2 });
    const small = estimateTrainingMemory({ model: moe, train: { batchSize: 4, gradAccum: 1 } });
    const big = estimateTrainingMemory({ model: moe, train: { batchSize: 8, gradAccum: 1 } });
    expect(small.buffers.map((b) => b.name)).toContain('layer 1 expert rows (E·capacity = 1280)'); // 4 experts × 1.25 · (4 · 128 tokens) · top-2 / 4
    expect(big.totalBytes).toBeGreaterThan(small.totalBytes);
  });
});
