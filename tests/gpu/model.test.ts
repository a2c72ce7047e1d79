import { describe, expect, it } from 'vitest';
import { resolveModelConfig, type ModelConfig } from '../../src/model/config';
import { initialParams } from '../../src/model/init';
import { Model } from '../../src/model/model';
import { referenceForward, type RefParams } from '../reference/model';
import { expectClose } from '../util/compare';
import { run, testGpu } from '../util/gpu';
import { freshSeed, randint, randn, rng } from '../util/random';

/**
 * The whole model against the float64 reference (tests/reference/model.ts): logits and loss of the forward,
 * and every parameter tensor's gradient against central finite differences of the reference loss. `every` names the
 * tensors whose every element is checked (the others: samplesPerTensor random ones). With `accumulate`, a second
 * backward without zeroing must double every gradient (micro-batches accumulate).
 */
async function checkModel(
  cfg: Partial<ModelConfig>, B: number, T: number, samplesPerTensor = 4, opts: { every?: RegExp; accumulate?: boolean } = {},
): Promise<void> {
  const gpu = await testGpu();
  const c = resolveModelConfig({ initScale: 0.3, ...cfg });
  const seed = freshSeed();
  const ctx = `seed ${seed}, config ${JSON.stringify(cfg)}`;
  const model = new Model(gpu, c, { B, T });
  const layout = model.layout;
  const flat = new Float32Array(layout.totalLength);
  const ref: RefParams = new Map();
  for (const [i, s] of layout.specs.entries()) {
    const v = s.init === 'ones' ? randn(s.length, seed + i, 0.2).map((x) => 1 + x) : randn(s.length, seed + i, c.initScale);
    flat.set(v, s.offset);
    ref.set(s.name, Float64Array.from(v));
  }
  const tokens = randint(B * T, seed + 999, c.vocabSize);
  const targets = randint(B * T, seed + 998, c.vocabSize);
  model.setParams(flat);
  model.setBatch(tokens, targets);

  // forward: logits and loss
  await run(gpu, (pass) => model.forward(pass));
  const logits = await gpu.readFloat32(model.logits, B * T * c.vocabSize);
  const r = referenceForward(c, ref, tokens, targets, B, T);
  expectClose('model logits', logits, r.logits, 1e-4, ctx);

  // loss and gradients
  await run(gpu, (pass) => {
    model.zeroGrads(pass);
    model.forward(pass);
    model.lossAndGrad(pass);
    model.backward(pass);
  });
  const losses = await gpu.readFloat32(model.losses, B * T);
  const ce = losses.reduce((a, b) => a + b, 0) / (B * T);
  expect(Math.abs(ce - r.ceLoss) / r.ceLoss, ctx).toBeLessThan(1e-4);
  const grads = await gpu.readFloat32(model.grads);

  const pick = rng(seed + 7);
  const h = 1e-5;
  for (const s of layout.specs) {
    const p = ref.get(s.name)!;
    const idx = opts.every?.test(s.name)
      ? Array.from({ length: s.length }, (_, i) => i)
      : Array.from({ length: Math.min(samplesPerTensor, s.length) }, () => Math.floor(pick() * s.length));
    const fd: number[] = [];
    const gpuG: number[] = [];
    for (const i of idx) {
      const old = p[i];
      p[i] = old + h;
      const lp = referenceForward(c, ref, tokens, targets, B, T).loss;
      p[i] = old - h;
      const lm = referenceForward(c, ref, tokens, targets, B, T).loss;
      p[i] = old;
      fd.push((lp - lm) / (2 * h));
      gpuG.push(grads[s.offset + i]);
    }
    if (s.name.endsWith('.wk.bias') && c.positions === 'learned' && !c.qkNorm) {
      // exactly zero without RoPE or QK-norm: a key bias adds q·b to every score of a query alike, and softmax ignores a shift
      expect(Math.max(...fd.map(Math.abs)), `finite differences of ${s.name} (${ctx})`).toBeLessThan(1e-9);
      expect(Math.max(...gpuG.map(Math.abs)), `gradient of ${s.name}: gpu ${gpuG.map((x) => x.toExponential(3))} should be 0 up to rounding (${ctx})`).toBeLessThan(1e-6);
      continue;
    }
    const scale = Math.max(...fd.map(Math.abs), 1e-6);
    const err = Math.max(...fd.map((f, j) => Math.abs(f - gpuG[j]))) / scale;
    expect(err, `gradient of ${s.name}: gpu ${gpuG.map((x) => x.toExponential(3))} vs finite differences ${fd.map((x) => x.toExponential(3))} (${ctx})`).toBeLessThan(2e-3);
  }
  if (opts.accumulate) {
    // a second micro-batch (the same one) without zeroing adds to every gradient: twice the first, tensor by tensor
    await run(gpu, (pass) => {
      model.forward(pass);
      model.lossAndGrad(pass);
      model.backward(pass);
    });
    const twice = await gpu.readFloat32(model.grads);
    for (const s of layout.specs) {
      const once = grads.subarray(s.offset, s.offset + s.length).map((g) => 2 * g);
      expectClose(`${s.name} gradient after two micro-batches`, twice.subarray(s.offset, s.offset + s.length), once, 1e-5, ctx);
    }
  }
  model.destroy();
}

describe('whole model vs float64 reference', () => {
  it('dense SwiGLU, tied head, grouped-query attention', async () => {
    await checkModel({ vocabSize: 11, contextLength: 8, nLayer: 2, nEmbd: 8, nHead: 2, nKvHead: 1, mlp: 'swiglu', tiedEmbeddings: true }, 2, 5);
  });

  it('dense GELU, untied head', async () => {
    await checkModel({ vocabSize: 7, contextLength: 8, nLayer: 1, nEmbd: 12, nHead: 3, mlp: 'gelu', tiedEmbeddings: false }, 1, 7);
  });

  it('GPT-2 shape: LayerNorm with biases, learned positions, dense GELU, tied head', async () => {
    await checkModel({ vocabSize: 9, contextLength: 6, nLayer: 2, nEmbd: 8, nHead: 2, mlp: 'gelu', tiedEmbeddings: true, norm: 'layernorm', positions: 'learned' }, 2, 5);
  });

  it('GPT-2 shape with linear biases (model.bias), gradients accumulating over two micro-batches', async () => {
    await checkModel({ vocabSize: 9, contextLength: 6, nLayer: 2, nEmbd: 8, nHead: 2, mlp: 'gelu', tiedEmbeddings: true, norm: 'layernorm', positions: 'learned', bias: true }, 2, 5, 4, { accumulate: true });
  });

  // biases before RoPE, on grouped k and v heads, and in an MoE block's attention; the shapes of the tests around it,
  // so no new pipelines (the column sum's scalar path is tested in norm.test.ts)
  it('linear biases with RoPE, grouped-query attention, SwiGLU and an MoE block (experts without biases)', async () => {
    await checkModel({ vocabSize: 9, contextLength: 8, nLayer: 2, nEmbd: 8, nHead: 2, nKvHead: 1, mlp: 'swiglu', moeEvery: 2, moeExperts: 4, moeTopK: 2, bias: true }, 2, 4);
  });

  // QK-norm: every element of the q_norm / k_norm gains by finite differences; GQA, so q's rows (N·NH) and k's (N·NKV) differ
  const QK = { every: /\.(q|k)_norm$/, accumulate: true };
  // (shapes as the tests above, so no new pipelines but the norms' at head size 4)
  it('QK-norm with RoPE: dense SwiGLU, grouped-query attention', async () => {
    await checkModel({ vocabSize: 11, contextLength: 8, nLayer: 2, nEmbd: 8, nHead: 2, nKvHead: 1, mlp: 'swiglu', tiedEmbeddings: true, qkNorm: true }, 2, 5, 4, QK);
  });

  // with biases, q's and k's are added before the norm: their gradients are sums of the pre-norm dq, dk
  it('QK-norm with learned positions and linear biases (GPT-2 shape)', async () => {
    await checkModel({ vocabSize: 9, contextLength: 6, nLayer: 2, nEmbd: 8, nHead: 2, mlp: 'gelu', tiedEmbeddings: true, norm: 'layernorm', positions: 'learned', bias: true, qkNorm: true }, 2, 5, 4, QK);
  });

  // Routing is piecewise constant in the router logits: a finite difference of 1e-5 crosses a top-k or capacity
  // boundary only at near-ties, which random float64 inputs make vanishingly rare.
  it('MoE every 2nd layer, top-2 SwiGLU experts, aux loss', async () => {
    await checkModel({ vocabSize: 9, contextLength: 8, nLayer: 2, nEmbd: 8, nHead: 2, mlp: 'swiglu', moeEvery: 2, moeExperts: 4, moeTopK: 2, moeAuxLossWeight: 0.1 }, 2, 4);
  });

  it('MoE top-1 GELU experts with tokens dropped past capacity', async () => {
    await checkModel({ vocabSize: 7, contextLength: 8, nLayer: 1, nEmbd: 8, nHead: 2, mlp: 'gelu', moeEvery: 1, moeExperts: 3, moeTopK: 1, moeCapacityFactor: 0.5, tiedEmbeddings: false }, 1, 8);
  });
});

describe('model.zeroInitProjections', () => {
  // AdamW's first step moves a weight by about lr · sign(g): it moves every zeroed projection whose gradient is nonzero
  it("starts wo, mlp.wo and the experts' wo at exactly zero, and their first gradients are nonzero", async () => {
    const gpu = await testGpu();
    const c = resolveModelConfig({ vocabSize: 9, contextLength: 8, nLayer: 2, nEmbd: 8, nHead: 2, mlp: 'swiglu', moeEvery: 2, moeExperts: 4, moeTopK: 2, zeroInitProjections: true });
    const [B, T] = [2, 4];
    const model = new Model(gpu, c, { B, T });
    const seed = freshSeed();
    model.setParams(initialParams(c, model.layout, seed));
    model.setBatch(randint(B * T, seed + 1, c.vocabSize), randint(B * T, seed + 2, c.vocabSize));
    await run(gpu, (pass) => {
      model.zeroGrads(pass);
      model.forward(pass);
      model.lossAndGrad(pass);
      model.backward(pass);
    });
    const params = await gpu.readFloat32(model.params);
    const grads = await gpu.readFloat32(model.grads);
    const of = (flat: Float32Array, name: string) => { const s = model.layout.byName.get(name)!; return flat.subarray(s.offset, s.offset + s.length); };
    for (const name of ['h.0.wo', 'h.0.mlp.wo', 'h.1.wo', 'h.1.moe.wo']) {
      expect(of(params, name).every((v) => v === 0), `${name} at init (seed ${seed})`).toBe(true);
      // activationsᵀ · dY: it does not need the weight to be nonzero
      expect(of(grads, name).some((v) => v !== 0), `${name} gradient (seed ${seed})`).toBe(true);
    }
    model.destroy();
  });
});
