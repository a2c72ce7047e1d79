import { describe, expect, it } from 'vitest';
import { END_OF_TEXT_ID, END_THINK_ID, THINK_ID } from '../../src/data/specials';
import { BatchSampler } from '../../src/eval/batch-sample';
import { Generator } from '../reference/generate';
import { resolveModelConfig, type ModelConfig } from '../../src/model/config';
import { Decoder } from '../../src/model/decoder';
import { initialParams } from '../../src/model/init';
import { buildLayout } from '../../src/model/layout';
import { Model } from '../../src/model/model';
import { expectClose } from '../util/compare';
import { run, testGpu } from '../util/gpu';
import { freshSeed, randint, randn } from '../util/random';

const configs: [string, Partial<ModelConfig>][] = [
  ['dense SwiGLU, GQA, tied', { vocabSize: 259, contextLength: 24, nLayer: 2, nEmbd: 32, nHead: 4, nKvHead: 2, mlp: 'swiglu', initScale: 0.5 }],
  // capacity factor E: the training forward drops nothing either, so the two must agree
  ['MoE top-2 GELU, untied', { vocabSize: 259, contextLength: 24, nLayer: 2, nEmbd: 16, nHead: 2, mlp: 'gelu', moeEvery: 1, moeExperts: 4, moeTopK: 2, moeCapacityFactor: 4, tiedEmbeddings: false, initScale: 0.5 }],
  // a cache wider than one 64-key workgroup, stepped past position 64
  // GPT-2's shape: the prefill embeds positions 0..4, each step the next (head size 8 as above: no new attention compile)
  ['LayerNorm, learned positions, GELU, tied', { vocabSize: 259, contextLength: 20, nLayer: 2, nEmbd: 16, nHead: 2, mlp: 'gelu', norm: 'layernorm', positions: 'learned', initScale: 0.5 }],
  // QK-norm before RoPE: the cache must hold the normed, rotated keys (shapes as the first: shared pipelines)
  ['QK-norm, RoPE, GQA', { vocabSize: 259, contextLength: 24, nLayer: 2, nEmbd: 32, nHead: 4, nKvHead: 2, mlp: 'swiglu', qkNorm: true, initScale: 0.5 }],
  // GPT-2's linear biases (model.bias, drawn nonzero below) on the shape above: the same pipelines, the bias is a flag
  ['LayerNorm, learned positions, GELU, linear biases', { vocabSize: 259, contextLength: 20, nLayer: 2, nEmbd: 16, nHead: 2, mlp: 'gelu', norm: 'layernorm', positions: 'learned', bias: true, initScale: 0.5 }],
  ['dense SwiGLU, GQA, context 96', { vocabSize: 259, contextLength: 96, nLayer: 2, nEmbd: 32, nHead: 4, nKvHead: 2, mlp: 'swiglu', initScale: 0.5 }],
];

async function paramsFor(cfg: Partial<ModelConfig>, seed: number) {
  const gpu = await testGpu();
  const c = resolveModelConfig(cfg);
  const layout = buildLayout(c);
  const flat = initialParams(c, layout, seed);
  // QK-norm gains start at ones: perturb them, so a gain bound to the wrong tensor or layer shows
  for (const s of layout.specs) if (s.name.endsWith('_norm')) flat.set(randn(s.length, seed + s.offset, 0.3).map((x) => 1 + x), s.offset);
  // biases start at zero, which would hide one the decoder leaves out
  for (const [i, s] of layout.specs.entries()) if (s.init === 'zeros') flat.set(randn(s.length, seed + i, 0.5), s.offset);
  return { gpu, c, params: gpu.upload(flat, 'params'), flat };
}

describe('KV-cache decoder', () => {
  it.each(configs)('%s: prefill and single steps give the full forward pass logits at every position', async (_, cfg) => {
    const seed = freshSeed();
    const { gpu, c, params } = await paramsFor(cfg, seed);
    const S = 3;
    const T = Math.min(c.contextLength - 11, 72);
    const P = 5;
    const tokens = randint(S * T, seed + 1, c.vocabSize);
    const model = new Model(gpu, c, { B: S, T }, 1, params);
    model.setBatch(tokens, new Uint32Array(S * T));
    await run(gpu, (p) => model.forward(p));
    const full = await gpu.readFloat32(model.logits, S * T * c.vocabSize);
    const V = c.vocabSize;
    const at = (t: number) => Float32Array.from({ length: S * V }, (_, i) => full[(Math.floor(i / V) * T + t) * V + (i % V)]);
    const dec = new Decoder(gpu, c, params, S);
    await dec.prepare(P);
    const prefill = new Uint32Array(S * P);
    for (let s = 0; s < S; s++) prefill.set(tokens.subarray(s * T, s * T + P), s * P);
    dec.run(prefill, P);
    expectClose('prefill logits (last position)', await gpu.readFloat32(dec.logits, S * V), at(P - 1), 1e-4, `seed ${seed}`);
    const one = gpu.createBuffer(4 * S, 'step tokens');
    for (let t = P; t < T; t++) {
      gpu.queue.writeBuffer(one, 0, Uint32Array.from({ length: S }, (_, s) => tokens[s * T + t]));
      dec.step(one);
      expectClose(`step logits at position ${t}`, await gpu.readFloat32(dec.logits, S * V), at(t), 1e-4, `seed ${seed}`);
    }
    expect(dec.position).toBe(T);
    const over = c.contextLength - T + 1;
    expect(() => dec.run(new Uint32Array(S * over), over)).toThrow(new RegExp(`exceed the cache capacity ${c.contextLength}`));
    dec.destroy();
    model.destroy();
  });

  it('greedy batched sampling equals the cache-free generator, for every sample of every prompt', async () => {
    const { gpu, c, params } = await paramsFor(configs[0][1], 5);
    const prompts = [Uint32Array.from([72, 105, 32]), Uint32Array.from([65, 66, 67, 68, 69])];
    const sampler = new BatchSampler(gpu, c, params);
    const r = await sampler.sample(prompts, { samplesPerPrompt: 2, maxTokens: 10, temperature: 0, padId: END_OF_TEXT_ID, chunk: 4 });
    const gen = new Generator(gpu, c, params);
    for (const seq of r.sequences) {
      // the generator sees the same left-padded window as the batch
      const p = prompts[seq.prompt];
      const padded = new Uint32Array(5).fill(END_OF_TEXT_ID);
      padded.set(p, 5 - p.length);
      const want: number[] = [];
      for await (const ch of gen.generate(padded, { maxTokens: 10, temperature: 0 })) want.push(...ch.tokens);
      expect(seq.tokens).toEqual(want);
    }
    expect(r.generatedTokens).toBe(40);
    expect(r.tokensPerSecond).toBeGreaterThan(0);
    gen.destroy();
    sampler.destroy();
  });

  it('seeded sampling is reproducible, and the N samples of a prompt differ', async () => {
    const { gpu, c, params } = await paramsFor(configs[0][1], 6);
    const sampler = new BatchSampler(gpu, c, params);
    const opts = { samplesPerPrompt: 4, maxTokens: 12, temperature: 1.5, seed: 99, padId: END_OF_TEXT_ID };
    const a = await sampler.sample([Uint32Array.from([1, 2, 3])], opts);
    const b = await sampler.sample([Uint32Array.from([1, 2, 3])], opts);
    expect(b.sequences.map((s) => s.tokens)).toEqual(a.sequences.map((s) => s.tokens));
    expect(new Set(a.sequences.map((s) => s.tokens.join(','))).size).toBeGreaterThan(1);
    expect(a.sequences.every((s) => s.logprobs.every((x) => Number.isFinite(x) && x <= 0))).toBe(true);
    sampler.destroy();
  });

  it('a thinking budget forces </think> after B thinking tokens, marks forced tokens, and stops at end of text', async () => {
    const { gpu, c, params } = await paramsFor(configs[0][1], 7);
    const sampler = new BatchSampler(gpu, c, params);
    const B = 3;
    const r = await sampler.sample([Uint32Array.from([49, 43, 50, 61, THINK_ID])], {
      samplesPerPrompt: 3, maxTokens: 9, temperature: 1, seed: 4, padId: END_OF_TEXT_ID, stopId: END_OF_TEXT_ID,
      budget: { maxThinkingTokens: B, maxAnswerTokens: 2 },
    });
    for (const s of r.sequences) {
      const end = s.tokens.indexOf(END_THINK_ID);
      expect(end).toBeGreaterThanOrEqual(0);
      expect(end).toBeLessThanOrEqual(B);
      if (end === B) expect(s.logprobs[end]).toBeNaN(); // forced by the cap, not chosen by the model
      const after = s.tokens.slice(end + 1);
      expect(after.length).toBeLessThanOrEqual(3); // two answer tokens, then end of text forced
      if (after.length === 3) expect(after[2]).toBe(END_OF_TEXT_ID);
    }
    sampler.destroy();
  });
});
