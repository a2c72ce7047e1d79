import { describe, expect, it } from 'vitest';
import { countParams, flopsPerToken, resolveModelConfig } from '../../src/model/config';
import { initialParams } from '../../src/model/init';
import { buildLayout } from '../../src/model/layout';
import { ConfigError } from '../../src/model/validate';

describe('model config', () => {
  it('fills defaults', () => {
    const c = resolveModelConfig({});
    expect(c.nKvHead).toBe(c.nHead);
    expect(c.mlpHidden).toBe(344); // 8/3 · 128 rounded up to 8
    // existing configs, checkpoints and baselines keep RMSNorm and RoPE
    expect(c.norm).toBe('rmsnorm');
    expect(c.positions).toBe('rope');
  });

  it.each([
    [{ nEmbd: 100, nHead: 3 }, /nEmbd 100 is not divisible by model.nHead 3/],
    [{ nHead: 4, nKvHead: 3 }, /nHead 4 is not divisible by model.nKvHead 3/],
    [{ nLayers: 4 }, /model.nLayers is not a known setting \(did you mean 'nLayer'\?\)/],
    [{ nLayer: 2.5 }, /model.nLayer must be a whole number/],
    [{ mlp: 'relu' }, /model.mlp must be one of 'swiglu', 'gelu'/],
    [{ vocabSize: '256' }, /model.vocabSize must be a finite number/],
    [{ moeEvery: 1, moeExperts: 1, moeTopK: 2 }, /moeTopK 2 exceeds model.moeExperts 1/],
    [{ nEmbd: 6, nHead: 2 }, /head size nEmbd\/nHead = 3 must be even for RoPE: .* or set model.positions to 'learned'/],
    [{ norm: 'batchnorm' }, /model.norm must be one of 'rmsnorm', 'layernorm'/],
    [{ positions: 'alibi' }, /model.positions must be one of 'rope', 'learned'/],
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

  it('takes an odd head size with learned positions (only RoPE needs pairs of channels)', () => {
    expect(() => resolveModelConfig({ nEmbd: 6, nHead: 2, positions: 'learned' })).not.toThrow();
    expect(() => resolveModelConfig({ nEmbd: 6, nHead: 2 })).toThrow(expect.objectContaining({ field: 'model.nHead' }));
  });

  it('counts LayerNorm biases and learned positions by hand; FLOPs leave the position lookup out', () => {
    const base = { vocabSize: 10, contextLength: 8, nLayer: 1, nEmbd: 4, nHead: 2, mlp: 'gelu', tiedEmbeddings: true } as const;
    const gpt2 = resolveModelConfig({ ...base, norm: 'layernorm', positions: 'learned' });
    // as the dense count above, plus three norm biases (2 per block + final) of 4 and wpe 8·4
    expect(countParams(gpt2).total).toBe(64 + 8 + 128 + 40 + 4 + 3 * 4 + 32);
    expect(countParams(gpt2).embedding).toBe(40 + 32);
    expect(countParams(gpt2).positionEmbedding).toBe(32);
    expect(flopsPerToken(gpt2)).toBe(6 * (64 + 8 + 128 + 40 + 4 + 3 * 4) + 6 * 1 * 8 * 4);
    const untied = resolveModelConfig({ ...base, positions: 'learned', tiedEmbeddings: false });
    expect(flopsPerToken(untied)).toBe(6 * (64 + 8 + 128 + 40 + 4) + 6 * 1 * 8 * 4); // the head, not the lookups
    expect(countParams(gpt2).total).toBe(buildLayout(gpt2).paramCount);
  });

  it('lays out LayerNorm biases (zeros, no decay) after their gains and wpe (normal, decayed) after wte', () => {
    const c = resolveModelConfig({ vocabSize: 10, contextLength: 8, nLayer: 2, nEmbd: 4, nHead: 2, norm: 'layernorm', positions: 'learned', initScale: 0.1 });
    const layout = buildLayout(c);
    const names = layout.specs.map((s) => s.name);
    expect(names.slice(0, 4)).toEqual(['wte', 'wpe', 'h.0.ln1', 'h.0.ln1.bias']);
    expect(names).toContain('h.1.ln2.bias');
    expect(names.at(-1)).toBe('lnf.bias');
    for (const s of layout.specs.filter((s) => s.name.endsWith('.bias'))) expect(s).toMatchObject({ shape: [4], init: 'zeros', decay: false });
    expect(layout.byName.get('wpe')).toMatchObject({ shape: [8, 4], init: 'normal', decay: true });
    const flat = initialParams(c, layout, 1);
    const at = (name: string) => { const s = layout.byName.get(name)!; return flat.subarray(s.offset, s.offset + s.length); };
    expect([...at('lnf.bias')]).toEqual([0, 0, 0, 0]);
    expect([...at('lnf')]).toEqual([1, 1, 1, 1]);
    const wpe = at('wpe');
    const std = Math.sqrt(wpe.reduce((a, v) => a + v * v, 0) / wpe.length);
    expect(std).toBeGreaterThan(0.05);
    expect(std).toBeLessThan(0.2);
    // the defaults add neither
    expect(buildLayout(resolveModelConfig({})).specs.some((s) => s.name === 'wpe' || s.name.endsWith('.bias'))).toBe(false);
  });

  it('QK-norm: off by default; two gains of the head size per block, counted, and in the FLOPs at 6 per parameter as every non-embedding parameter', () => {
    expect(resolveModelConfig({}).qkNorm).toBe(false);
    expect(() => resolveModelConfig({ qkNorm: 1 })).toThrow(expect.objectContaining({ name: 'ConfigError', field: 'model.qkNorm' }));
    const base = { vocabSize: 10, contextLength: 8, nLayer: 2, nEmbd: 8, nHead: 4, nKvHead: 2, mlp: 'gelu', tiedEmbeddings: true } as const;
    const plain = resolveModelConfig(base);
    const qk = resolveModelConfig({ ...base, qkNorm: true });
    // head size 2: q_norm and k_norm of 2 each, in both of the 2 blocks (shared by the heads, whatever nKvHead)
    expect(countParams(qk).total - countParams(plain).total).toBe(2 * 2 * 2);
    expect(countParams(qk).activePerToken - countParams(plain).activePerToken).toBe(2 * 2 * 2);
    expect(countParams(qk).total).toBe(buildLayout(qk).paramCount);
    expect(flopsPerToken(qk) - flopsPerToken(plain)).toBe(6 * 2 * 2 * 2);
    const moe = resolveModelConfig({ ...base, qkNorm: true, moeEvery: 1, moeExperts: 3, moeTopK: 1 });
    expect(countParams(moe).total).toBe(buildLayout(moe).paramCount);
  });

  it('lays out q_norm and k_norm (ones, no decay) after each block\'s wv, and only with qkNorm', () => {
    const c = resolveModelConfig({ vocabSize: 10, contextLength: 8, nLayer: 2, nEmbd: 12, nHead: 2, nKvHead: 1, qkNorm: true });
    const layout = buildLayout(c);
    const names = layout.specs.map((s) => s.name);
    for (const l of [0, 1]) {
      const at = names.indexOf(`h.${l}.wv`);
      expect(names.slice(at + 1, at + 3)).toEqual([`h.${l}.q_norm`, `h.${l}.k_norm`]);
      for (const n of ['q_norm', 'k_norm']) expect(layout.byName.get(`h.${l}.${n}`)).toMatchObject({ shape: [6], init: 'ones', decay: false });
    }
    const flat = initialParams(c, layout, 3);
    const s = layout.byName.get('h.1.k_norm')!;
    expect([...flat.subarray(s.offset, s.offset + s.length)]).toEqual([1, 1, 1, 1, 1, 1]);
    expect(s.offset % 64).toBe(0);
    expect(buildLayout(resolveModelConfig({ ...c, qkNorm: false })).specs.some((sp) => sp.name.endsWith('_norm'))).toBe(false);
  });

  it('counts linear biases by hand (attention and dense MLP only), with FLOPs as 6 per parameter', () => {
    const base = { vocabSize: 10, contextLength: 8, nLayer: 1, nEmbd: 4, nHead: 2, nKvHead: 1, mlp: 'gelu', tiedEmbeddings: true } as const;
    const plain = resolveModelConfig(base);
    const biased = resolveModelConfig({ ...base, bias: true });
    // q 4, k 2, v 2 (one kv head of 2), o 4; mlp wi 16, wo 4
    const biases = 4 + 2 + 2 + 4 + 16 + 4;
    expect(countParams(biased).total - countParams(plain).total).toBe(biases);
    expect(countParams(biased).activePerToken - countParams(plain).activePerToken).toBe(biases);
    expect(flopsPerToken(biased) - flopsPerToken(plain)).toBe(6 * biases);
    expect(countParams(biased).total).toBe(buildLayout(biased).paramCount);
    // experts and the router stay without: an MoE block adds only the attention's biases
    const moe = { ...base, nLayer: 2, moeEvery: 2, moeExperts: 3, moeTopK: 1 } as const;
    const moeBiased = resolveModelConfig({ ...moe, bias: true });
    expect(countParams(moeBiased).total - countParams(resolveModelConfig(moe)).total).toBe(2 * 12 + 20);
    expect(countParams(moeBiased).total).toBe(buildLayout(moeBiased).paramCount);
    expect(resolveModelConfig({}).bias).toBe(false);
    expect(() => resolveModelConfig({ bias: 'yes' })).toThrow(expect.objectContaining({ field: 'model.bias' }));
  });

  it('lays out each linear bias right after its weight (zeros, no decay); none on experts or the router', () => {
    const c = resolveModelConfig({ vocabSize: 10, contextLength: 8, nLayer: 2, nEmbd: 8, nHead: 2, nKvHead: 1, mlp: 'swiglu', mlpHidden: 6, bias: true, moeEvery: 2, moeExperts: 2, moeTopK: 1 });
    const layout = buildLayout(c);
    const names = layout.specs.map((s) => s.name);
    expect(names.slice(0, 11)).toEqual([
      'wte', 'h.0.ln1', 'h.0.wq', 'h.0.wq.bias', 'h.0.wk', 'h.0.wk.bias', 'h.0.wv', 'h.0.wv.bias', 'h.0.wo', 'h.0.wo.bias', 'h.0.ln2',
    ]);
    expect(names.slice(11, 15)).toEqual(['h.0.mlp.wi', 'h.0.mlp.wi.bias', 'h.0.mlp.wo', 'h.0.mlp.wo.bias']);
    expect(names.filter((n) => n.startsWith('h.1.moe'))).toEqual(['h.1.moe.router', 'h.1.moe.wi', 'h.1.moe.wo']);
    const shapes = Object.fromEntries(layout.specs.map((s) => [s.name, s.shape]));
    expect(shapes).toMatchObject({ 'h.0.wq.bias': [8], 'h.0.wk.bias': [4], 'h.0.wv.bias': [4], 'h.0.wo.bias': [8], 'h.0.mlp.wi.bias': [12], 'h.0.mlp.wo.bias': [8], 'h.1.wo.bias': [8] });
    const flat = initialParams(c, layout, 3);
    for (const s of layout.specs.filter((s) => s.name.endsWith('.bias'))) {
      expect(s).toMatchObject({ init: 'zeros', decay: false });
      expect(s.offset % 64).toBe(0);
      expect(flat.subarray(s.offset, s.offset + s.length).every((v) => v === 0)).toBe(true);
    }
    // the weights before them keep their place in order and are still drawn
    const wq = layout.byName.get('h.0.wq')!;
    expect(layout.byName.get('h.0.wq.bias')!.offset).toBe(wq.offset + Math.ceil(wq.length / 64) * 64);
    expect(flat.subarray(wq.offset, wq.offset + wq.length).some((v) => v !== 0)).toBe(true);
  });

  it('zeroInitProjections starts wo, mlp.wo and the experts\' wo at exactly zero, and nothing else', () => {
    const base = { vocabSize: 10, contextLength: 8, nLayer: 2, nEmbd: 8, nHead: 2, moeEvery: 2, moeExperts: 2, moeTopK: 1 } as const;
    const c = resolveModelConfig({ ...base, zeroInitProjections: true });
    const layout = buildLayout(c);
    const flat = initialParams(c, layout, 5);
    const at = (name: string) => { const s = layout.byName.get(name)!; return flat.subarray(s.offset, s.offset + s.length); };
    const zeroed = ['h.0.wo', 'h.0.mlp.wo', 'h.1.wo', 'h.1.moe.wo'];
    for (const name of zeroed) {
      expect(layout.byName.get(name)).toMatchObject({ init: 'zeros', decay: true });
      expect(at(name).every((v) => v === 0)).toBe(true);
    }
    for (const s of layout.specs.filter((s) => !zeroed.includes(s.name) && s.init !== 'ones')) {
      expect(at(s.name).some((v) => v !== 0), s.name).toBe(true);
    }
    // off by default: the residual init (GPT-2's scaled normal)
    const plain = buildLayout(resolveModelConfig(base));
    for (const name of zeroed) expect(plain.byName.get(name)!.init).toBe('residual');
  });

  it('counts active parameters of an MoE model', () => {
    const dense = resolveModelConfig({ nLayer: 2, moeEvery: 0 });
    const moe = resolveModelConfig({ nLayer: 2, moeEvery: 1, moeExperts: 4, moeTopK: 1 });
    const ffn = 3 * 128 * 344;
    expect(countParams(moe).total - countParams(dense).total).toBe(2 * (3 * ffn + 128 * 4));
    expect(countParams(moe).activePerToken - countParams(dense).activePerToken).toBe(2 * 128 * 4);
  });
});
