/**
 * The training-benchmark peer: our transformer written with TensorFlow.js ops and trained with TF.js's Adam, so
 * one full step (forward, backward, optimizer) can be timed against ours on the same adapter.
 *
 * The math is that of tests/reference/model.ts: token embedding (no positions) → L × [x += attn(rmsnorm(x));
 * x += mlp_or_moe(rmsnorm(x))] → rmsnorm → head (wte transposed when tied) → mean cross-entropy, plus
 * moeAuxLossWeight · E · Σ f_e P_e per MoE block. Parameters are tf.Variables shaped and named as in
 * src/model/layout.ts (linear weights (in, out)), so `loadFlat` copies them 1:1 from our flat buffer.
 *
 * Shapes in comments: B batch, T seqLen, N = B·T, C width, NH query heads, NKV kv heads, G = NH/NKV, HS head size,
 * V vocab, E experts, K top-k.
 */
import type * as tfNs from '@tensorflow/tfjs-core';
// tf.grads / minimize need the gradient registry, which the ESM entry of tfjs-core leaves out.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { headSize, isMoeLayer, type ModelConfig } from '../../src/model/config';
import { buildLayout, type ParamLayout, type ParamSpec } from '../../src/model/layout';
import type { Tf } from '../types';
import { activate, moeMlp } from './tf-moe';

type Tensor = tfNs.Tensor;

export interface TfTrainerOptions {
  batchSize: number;
  seqLen: number;
  lr: number;
  seed: number;
}

export interface TfForward {
  /** (N, V) */
  logits: tfNs.Tensor;
  ceLoss: tfNs.Scalar;
  /** Σ over MoE blocks of moeAuxLossWeight · aux (0 for a dense model). */
  auxLoss: tfNs.Scalar;
  /** ceLoss + auxLoss: what training minimises. */
  loss: tfNs.Scalar;
}

export interface TfTrainer {
  /** One training step (forward, backward, Adam); returns the loss before the update, NOT awaited. */
  step(tokens: Int32Array, targets: Int32Array): tfNs.Scalar;
  /** Forward only, no tape and no update (the caller disposes the tensors). */
  forward(tokens: Int32Array, targets: Int32Array): TfForward;
  /** Parameters by layout name ('wte', 'h.0.wq', ..., 'lnf', 'lm_head'). */
  params(): Map<string, tfNs.Variable>;
  /** Sets every parameter from a flat buffer laid out as `layout` (buildLayout of the same config). */
  loadFlat(flat: Float32Array, layout: ParamLayout): void;
  dispose(): void;
}

let trainerCount = 0;

/** Initial value of one parameter: normal(0, initScale); residual projections scaled by 1/√(2L) (GPT-2). */
function initialValue(tf: Tf, c: ModelConfig, spec: ParamSpec, seed: number): Tensor {
  switch (spec.init) {
    case 'ones':
      return tf.ones(spec.shape);
    case 'zeros':
      return tf.zeros(spec.shape);
    case 'normal':
      return tf.randomNormal(spec.shape, 0, c.initScale, 'float32', seed);
    case 'residual':
      return tf.randomNormal(spec.shape, 0, c.initScale / Math.sqrt(2 * c.nLayer), 'float32', seed);
  }
}

/** RoPE tables (T, 1, HS/2): angle t · theta^(−2i/HS), computed in float64 on the CPU once. */
function ropeTables(tf: Tf, T: number, hs: number, theta: number): { cos: Tensor; sin: Tensor } {
  const half = hs / 2;
  const cos = new Float32Array(T * half);
  const sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++)
    for (let i = 0; i < half; i++) {
      const angle = t * Math.pow(theta, (-2 * i) / hs);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  return { cos: tf.tensor3d(cos, [T, 1, half]), sin: tf.tensor3d(sin, [T, 1, half]) };
}

/** Additive causal mask (G·T, T) for query rows ordered (group member, t): 0 where s ≤ t, −1e9 above. */
function causalMask(tf: Tf, G: number, T: number): Tensor {
  const m = new Float32Array(G * T * T);
  for (let g = 0; g < G; g++) for (let t = 0; t < T; t++) for (let s = t + 1; s < T; s++) m[(g * T + t) * T + s] = -1e9;
  return tf.tensor2d(m, [G * T, T]);
}

export function createTfTrainer(tf: Tf, config: ModelConfig, opts: TfTrainerOptions): TfTrainer {
  const c = config;
  const { batchSize: B, seqLen: T } = opts;
  if (T > c.contextLength) throw new Error(`tf peer: seqLen ${T} exceeds contextLength ${c.contextLength}`);
  const N = B * T;
  const C = c.nEmbd;
  const NH = c.nHead;
  const NKV = c.nKvHead || c.nHead;
  const G = NH / NKV;
  const hs = headSize(c);
  const V = c.vocabSize;
  const layout = buildLayout(c);
  const prefix = `tfpeer${trainerCount++}/`; // variable names are global in the TF.js engine

  const vars = new Map<string, tfNs.Variable>();
  layout.specs.forEach((spec, i) => {
    const init = tf.tidy(() => initialValue(tf, c, spec, opts.seed * 1009 + i));
    vars.set(spec.name, tf.variable(init, true, prefix + spec.name));
    init.dispose();
  });
  const varList = [...vars.values()];
  const { cos, sin } = ropeTables(tf, T, hs, c.ropeTheta);
  const mask = causalMask(tf, G, T);
  const optimizer = tf.train.adam(opts.lr, 0.9, 0.999, 1e-8);
  let disposed = false;

  const P = (name: string): Tensor => {
    const v = vars.get(name);
    if (!v) throw new Error(`tf peer: no parameter '${name}'`);
    return v;
  };

  const rmsnorm = (x: Tensor, w: Tensor): Tensor =>
    tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), c.normEps))), w);

  /** GPT-NeoX RoPE on (B, T, H, HS): pairs (i, i + HS/2). */
  const rope = (x: Tensor): Tensor => {
    const [x1, x2] = tf.split(x, 2, 3);
    return tf.concat([tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add(tf.mul(x1, sin), tf.mul(x2, cos))], 3);
  };

  const linear = (x: Tensor, w: Tensor): Tensor => tf.matMul(x as tfNs.Tensor2D, w as tfNs.Tensor2D);

  /** Causal grouped-query attention of h (N, C) → (N, NH·HS), before the output projection. */
  const attention = (h: Tensor, p: string): Tensor => {
    const q = rope(tf.reshape(linear(h, P(`${p}.wq`)), [B, T, NH, hs]));
    const k = rope(tf.reshape(linear(h, P(`${p}.wk`)), [B, T, NKV, hs]));
    const v = tf.reshape(linear(h, P(`${p}.wv`)), [B, T, NKV, hs]);
    // Query head h = kv·G + g, so (B, NH, T, HS) regroups as (B, NKV, G·T, HS) against its kv head: no copies of k, v.
    const qg = tf.reshape(tf.transpose(q, [0, 2, 1, 3]), [B, NKV, G * T, hs]);
    const kt = tf.transpose(k, [0, 2, 1, 3]); // (B, NKV, T, HS)
    const vt = tf.transpose(v, [0, 2, 1, 3]);
    const scores = tf.add(tf.mul(tf.matMul(qg, kt, false, true), 1 / Math.sqrt(hs)), mask); // (B, NKV, G·T, T)
    const y = tf.matMul(tf.softmax(scores), vt); // (B, NKV, G·T, HS)
    return tf.reshape(tf.transpose(tf.reshape(y, [B, NH, T, hs]), [0, 2, 1, 3]), [N, NH * hs]);
  };

  const run = (tokens: Tensor, targets: Tensor): TfForward => {
    let x = tf.gather(P('wte'), tokens); // (N, C)
    let auxLoss: Tensor = tf.scalar(0);
    for (let l = 0; l < c.nLayer; l++) {
      const p = `h.${l}`;
      x = tf.add(x, linear(attention(rmsnorm(x, P(`${p}.ln1`)), p), P(`${p}.wo`)));
      const h2 = rmsnorm(x, P(`${p}.ln2`));
      if (isMoeLayer(c, l)) {
        const shape = { N, C, E: c.moeExperts, K: c.moeTopK, H: c.mlpHidden, mlp: c.mlp, capacityFactor: c.moeCapacityFactor };
        const { y, aux } = moeMlp(tf, h2, P(`${p}.moe.router`), P(`${p}.moe.wi`), P(`${p}.moe.wo`), shape);
        x = tf.add(x, y);
        auxLoss = tf.add(auxLoss, tf.mul(aux, c.moeAuxLossWeight));
      } else {
        x = tf.add(x, linear(activate(tf, linear(h2, P(`${p}.mlp.wi`)), c.mlp), P(`${p}.mlp.wo`)));
      }
    }
    const hf = rmsnorm(x, P('lnf'));
    const logits = c.tiedEmbeddings
      ? tf.matMul(hf as tfNs.Tensor2D, P('wte') as tfNs.Tensor2D, false, true)
      : linear(hf, P('lm_head')); // (N, V)
    const picked = tf.sum(tf.mul(tf.logSoftmax(logits), tf.cast(tf.oneHot(targets, V), 'float32')), 1);
    const ceLoss = tf.neg(tf.mean(picked)) as tfNs.Scalar;
    return { logits, ceLoss, auxLoss: auxLoss as tfNs.Scalar, loss: tf.add(ceLoss, auxLoss) as tfNs.Scalar };
  };

  const inputs = (tokens: Int32Array, targets: Int32Array): [Tensor, Tensor] => {
    if (disposed) throw new Error('tf peer: trainer used after dispose()');
    if (tokens.length !== N || targets.length !== N) {
      throw new Error(`tf peer: expected ${N} tokens and targets (B ${B} × T ${T}), got ${tokens.length} and ${targets.length}`);
    }
    return [tf.tensor1d(tokens, 'int32'), tf.tensor1d(targets, 'int32')];
  };

  return {
    step(tokens, targets) {
      return tf.tidy(() => {
        const [tok, tgt] = inputs(tokens, targets);
        const loss = optimizer.minimize(() => run(tok, tgt).loss, true, varList);
        if (!loss) throw new Error('tf peer: minimize returned no loss');
        return loss;
      });
    },
    forward(tokens, targets) {
      return tf.tidy(() => {
        const [tok, tgt] = inputs(tokens, targets);
        const out = run(tok, tgt);
        return out as unknown as tfNs.TensorContainerObject;
      }) as unknown as TfForward;
    },
    params: () => new Map(vars),
    loadFlat(flat, from) {
      for (const spec of layout.specs) {
        const src = from.byName.get(spec.name);
        if (!src || src.length !== spec.length) {
          throw new Error(`tf peer: layout has no parameter '${spec.name}' of ${spec.length} floats: build it from the same config`);
        }
        if (src.offset + src.length > flat.length) throw new Error(`tf peer: flat buffer too short for '${spec.name}'`);
        const value = tf.tensor(flat.subarray(src.offset, src.offset + src.length), spec.shape, 'float32');
        (P(spec.name) as tfNs.Variable).assign(value);
        value.dispose();
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      optimizer.dispose();
      for (const v of varList) v.dispose();
      for (const t of [cos, sin, mask]) t.dispose();
    },
  };
}
