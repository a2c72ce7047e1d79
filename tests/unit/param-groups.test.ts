import { describe, expect, it } from 'vitest';
import { newtonSchulzFlops } from '../../src/kernels/muon';
import { resolveModelConfig } from '../../src/model/config';
import { buildLayout } from '../../src/model/layout';
import { isMuonTensor, muonMatrices, muonShapes, optimizerFlopsPerStep } from '../../src/model/param-groups';

describe('Muon parameter groups', () => {
  it('gives Muon the hidden matrices and AdamW embeddings, head, norms and the router', () => {
    const c = resolveModelConfig({ vocabSize: 50, contextLength: 8, nLayer: 2, nEmbd: 16, nHead: 2, mlp: 'gelu', tiedEmbeddings: false, positions: 'learned', norm: 'layernorm', moeEvery: 2, moeExperts: 3, moeTopK: 1 });
    const layout = buildLayout(c);
    const muon = layout.specs.filter(isMuonTensor).map((s) => s.name);
    expect(muon).toEqual(['h.0.wq', 'h.0.wk', 'h.0.wv', 'h.0.wo', 'h.0.mlp.wi', 'h.0.mlp.wo', 'h.1.wq', 'h.1.wk', 'h.1.wv', 'h.1.wo', 'h.1.moe.wi', 'h.1.moe.wo']);
    const mats = muonMatrices(layout);
    // 10 dense matrices + 3 experts × 2
    expect(mats).toHaveLength(16);
    const wi = layout.byName.get('h.1.moe.wi')!;
    const experts = mats.filter((m) => m.name.startsWith('h.1.moe.wi['));
    expect(experts.map((m) => m.offset)).toEqual([0, 1, 2].map((e) => wi.offset + e * 16 * 64));
    expect(experts.every((m) => m.rows === 16 && m.cols === 64)).toBe(true);
    expect(isMuonTensor({ name: 'h.0.wq.bias', shape: [16] })).toBe(false);
    expect(isMuonTensor({ name: 'h.0.q_norm', shape: [8] })).toBe(false);
  });

  it('counts the Newton–Schulz FLOPs of every Muon matrix per step, and none for AdamW', () => {
    const c = resolveModelConfig({ vocabSize: 50, contextLength: 8, nLayer: 1, nEmbd: 16, nHead: 2, mlp: 'gelu' });
    const want = 4 * newtonSchulzFlops(16, 16) + newtonSchulzFlops(16, 64) + newtonSchulzFlops(64, 16);
    expect(optimizerFlopsPerStep(c, { optimizer: 'muon' })).toBe(want);
    expect(optimizerFlopsPerStep(c, { optimizer: 'adamw' })).toBe(0);
  });

  it('lists each distinct matrix shape once, with how many matrices have it, in first-seen order', () => {
    const m = (rows: number, cols: number) => ({ name: '', offset: 0, rows, cols });
    expect(muonShapes([m(16, 16), m(16, 64), m(16, 16), m(64, 16), m(16, 64), m(16, 16)])).toEqual([
      { rows: 16, cols: 16, count: 3 },
      { rows: 16, cols: 64, count: 2 },
      { rows: 64, cols: 16, count: 1 },
    ]);
    expect(muonShapes([])).toEqual([]);
  });
});
