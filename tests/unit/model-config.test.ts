import { describe, expect, it } from 'vitest';
import { countParams, flopsPerToken, resolveModelConfig } from '../../src/model/config';
import { ConfigError } from '../../src/model/validate';

describe('model config', () => {
  it('fills defaults', () => {
    const c = resolveModelConfig({});
    expect(c.nKvHead).toBe(c.nHead);
    expect(c.mlpHidden).toBe(344); // 8/3 · 128 rounded up to 8
  });

  it.each([
    [{ nEmbd: 100, nHead: 3 }, /nEmbd 100 is not divisible by model.nHead 3/],
    [{ nHead: 4, nKvHead: 3 }, /nHead 4 is not divisible by model.nKvHead 3/],
    [{ nLayers: 4 }, /model.nLayers is not a known setting \(did you mean 'nLayer'\?\)/],
    [{ nLayer: 2.5 }, /model.nLayer must be a whole number/],
    [{ mlp: 'relu' }, /model.mlp must be one of 'swiglu', 'gelu'/],
    [{ vocabSize: '256' }, /model.vocabSize must be a finite number/],
    [{ moeEvery: 1, moeExperts: 1, moeTopK: 2 }, /moeTopK 2 exceeds model.moeExperts 1/],
    [{ nEmbd: 6, nHead: 2 }, /head size nEmbd\/nHead = 3 must be even/],
    [null, /model must be an object/],
  ])('rejects %j', (input, msg) => {
    expect(() => resolveModelConfig(input)).toThrow(ConfigError);
    expect(() => resolveModelConfig(input)).toThrow(msg);
  });

  it('counts parameters of a dense model by hand', () => {
    const c = resolveModelConfig({ vocabSize: 10, contextLength: 8, nLayer: 1, nEmbd: 4, nHead: 2, mlp: 'gelu', tiedEmbeddings: true });
    // attn 4·16 + norms 8 + mlp 2·4·16 + embedding 40 + final norm 4
    expect(countParams(c).total).toBe(64 + 8 + 128 + 40 + 4);
    expect(countParams(c).activePerToken).toBe(countParams(c).total);
    expect(flopsPerToken(c)).toBe(6 * (64 + 8 + 128 + 40 + 4) + 6 * 1 * 8 * 4);
  });

  it('counts active parameters of an MoE model', () => {
    const dense = resolveModelConfig({ nLayer: 2, moeEvery: 0 });
    const moe = resolveModelConfig({ nLayer: 2, moeEvery: 1, moeExperts: 4, moeTopK: 1 });
    const ffn = 3 * 128 * 344;
    expect(countParams(moe).total - countParams(dense).total).toBe(2 * (3 * ffn + 128 * 4));
    expect(countParams(moe).activePerToken - countParams(dense).activePerToken).toBe(2 * 128 * 4);
  });
});
