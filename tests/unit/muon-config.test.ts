/** optim.optimizer 'muon' before any GPU: its config fields and the scratch the memory estimate adds for it. */
import { describe, expect, it } from 'vitest';
import { resolveModelConfig } from '../../src/model/config';
import { buildLayout } from '../../src/model/layout';
import { estimateTrainingMemory } from '../../src/model/memory';
import { muonMatrices } from '../../src/model/param-groups';
import { ConfigError } from '../../src/model/validate';
import { resolveRunConfig } from '../../src/train/config';

describe('Muon config fields', () => {
  it('default to AdamW, with Muon at 8 × the scheduled rate and Nesterov momentum 0.95 when chosen', () => {
    expect(resolveRunConfig({}).optim).toMatchObject({ optimizer: 'adamw', muonLrScale: 8, muonMomentum: 0.95 });
    expect(resolveRunConfig({ optim: { optimizer: 'muon', muonLrScale: 10, muonMomentum: 0.9 } }).optim).toMatchObject({ optimizer: 'muon', muonLrScale: 10, muonMomentum: 0.9 });
  });

  it.each([
    [{ optimizer: 'sgd' }, 'optim.optimizer', /must be one of 'adamw', 'muon'.*got "sgd"/],
    [{ optimizer: 'Muon' }, 'optim.optimizer', /got "Muon"/],
    [{ muonLrScale: -1 }, 'optim.muonLrScale', /must be at least 0/],
    [{ muonLrScale: Infinity }, 'optim.muonLrScale', /finite/],
    [{ muonMomentum: 1 }, 'optim.muonMomentum', /must be at most 0\.999/], // μ = 1 never forgets: the kernels need μ < 1
    [{ muonMomentum: -0.1 }, 'optim.muonMomentum', /must be at least 0/],
  ])('refuses %j, naming %s', (optim, field, message) => {
    let error: unknown;
    try {
      resolveRunConfig({ optim });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe(field);
    expect((error as ConfigError).message).toMatch(message);
  });
});

describe('the memory estimate with Muon', () => {
  it('adds, per distinct matrix shape, the update, NS5 X, X′ (n each), A, B (r² each) and small tables, and nothing for AdamW', () => {
    const model = resolveModelConfig({ vocabSize: 64, contextLength: 16, nLayer: 2, nEmbd: 32, nHead: 2, nKvHead: 1, mlp: 'swiglu', moeEvery: 2, moeExperts: 3, moeTopK: 1 });
    const train = { batchSize: 2, gradAccum: 1 };
    const adamw = estimateTrainingMemory({ model, train });
    const implicit = estimateTrainingMemory({ model, train, optim: { optimizer: 'adamw' } });
    const muon = estimateTrainingMemory({ model, train, optim: { optimizer: 'muon' } });
    expect(implicit.totalBytes).toBe(adamw.totalBytes);
    const extra = muon.buffers.filter((b) => b.name.startsWith('Muon scratch'));
    expect(muon.totalBytes - adamw.totalBytes).toBe(extra.reduce((a, b) => a + b.bytes, 0));
    // wq, wo 32x32; wk, wv 32x16; dense wi 32x(2·F), wo Fx32; expert wi and wo of the same shapes, 3 each
    const mats = muonMatrices(buildLayout(model));
    const shapes = new Set(mats.map((m) => `${m.rows}x${m.cols}`));
    expect(extra.map((b) => b.name.match(/(\d+x\d+)/)![1]).sort()).toEqual([...shapes].sort());
    for (const b of extra) {
      const [rows, cols] = b.name.match(/(\d+)x(\d+)/)!.slice(1).map(Number);
      const n = rows * cols;
      const r = Math.min(rows, cols);
      const count = mats.filter((m) => m.rows === rows && m.cols === cols).length;
      expect(b.name).toContain(`(${count} matrices)`);
      expect(b.bytes).toBeGreaterThanOrEqual(4 * (3 * n + 2 * r * r));
      expect(b.bytes).toBeLessThanOrEqual(4 * (3 * n + 2 * r * r) + 4 * (1 + Math.ceil(n / 1024)) + 512 + 32 * count);
      expect(b.largestBufferBytes).toBe(4 * n);
    }
  });
});
