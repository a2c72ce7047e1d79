import type * as tfNs from '@tensorflow/tfjs-core';
// tf.grads needs the gradient registry, which the ESM entry of tfjs-core leaves out.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { capacityOf } from '../../src/kernels/moe';
import { MoeLayer, moeLayerForwardFlops, moeUpWidth, type MoeLayerConfig } from '../../src/model/moe-layer';
import { randn } from '../../tests/util/random';
import { activate } from '../peers/tf-moe';
import type { BenchCase, Suite, Tf } from '../types';

type MoeTensors = { x: tfNs.Tensor2D; wr: tfNs.Tensor2D; w1: tfNs.Tensor3D; w2: tfNs.Tensor3D };

/**
 * The peer's MoE forward in TF.js ops (call inside tf.tidy), with our routing policy: rank-major capacity, drops past
 * `cap`, first-choice f_e. Routing (no gradient: TF.js has none for TopK) is computed once; `forward` recomputes the
 * router softmax for the gates and returns y and the router probabilities (for the aux loss).
 */
function tfMoe(tf: Tf, t: MoeTensors, config: MoeLayerConfig, cap: number) {
  const { tokens: N, width: C, experts: E, topK: K } = config;
  if ((config.activation ?? 'gelu') !== 'gelu') throw new Error('tfMoe: only the GELU layer is written in TF.js ops');
  const normalize = config.normalizeGates ?? K === 2;
  const { indices } = tf.topk(tf.matMul(t.x, t.wr), K); // (N, K)
  const flat = tf.reshape(tf.transpose(indices), [K * N]); // rank-major: k, then t
  const hot = tf.cast(tf.oneHot(flat, E), 'float32'); // (KN, E)
  const pos = tf.sub(tf.sum(tf.mul(tf.cumsum(hot, 0), hot), 1), 1);
  const row = tf.cast(tf.where(tf.less(pos, cap), tf.add(tf.mul(tf.cast(flat, 'float32'), cap), pos), tf.fill([K * N], E * cap)), 'int32'); // (KN,)
  const token = tf.tile(tf.range(0, N, 1, 'int32'), [K]);
  const held = tf.slice(tf.scatterND(tf.reshape(row, [K * N, 1]), tf.add(token, 1), [E * cap + 1]), 0, E * cap);
  const tokenOfSlot = tf.cast(tf.where(tf.greater(held, 0), tf.sub(held, 1), tf.fill([E * cap], N)), 'int32');
  const rows = Array.from({ length: K }, (_, k) => tf.slice(row, [k * N], [N])); // K × (N,)
  const firstFrac = tf.div(tf.sum(tf.cast(tf.oneHot(tf.squeeze(tf.slice(indices, [0, 0], [N, 1]), [1]), E), 'float32'), 0), N);
  const choice = tf.cast(tf.oneHot(indices, E), 'float32'); // (N, K, E)
  const forward = (xv: tfNs.Tensor, wrv: tfNs.Tensor, w1v: tfNs.Tensor, w2v: tfNs.Tensor) => {
    const probs = tf.softmax(tf.matMul(xv as tfNs.Tensor2D, wrv as tfNs.Tensor2D)); // (N, E)
    let gates = tf.sum(tf.mul(tf.expandDims(probs, 1), choice), 2); // (N, K)
    if (normalize) gates = tf.div(gates, tf.sum(gates, 1, true));
    const xPad = tf.concat([xv, tf.zeros([1, C])], 0);
    const dispatched = tf.reshape(tf.gather(xPad, tokenOfSlot), [E, cap, C]);
    const hidden = activate(tf, tf.matMul(dispatched as tfNs.Tensor3D, w1v as tfNs.Tensor3D), 'gelu');
    const out = tf.concat([tf.reshape(tf.matMul(hidden, w2v as tfNs.Tensor3D), [E * cap, C]), tf.zeros([1, C])], 0);
    const gate = (k: number) => tf.slice(gates, [0, k], [N, 1]);
    let y = tf.mul(tf.gather(out, rows[0]), gate(0));
    for (let k = 1; k < K; k++) y = tf.add(y, tf.mul(tf.gather(out, rows[k]), gate(k)));
    return { y, probs };
  };
  return { forward, firstFrac };
}

/** The peer's gradients [dx, dWr, dW1, dW2] of Σ dy·y + auxLossWeight · aux for the MoE layer (call inside tf.tidy). */
export function tfMoeLayerGrads(tf: Tf, t: MoeTensors & { dy: tfNs.Tensor2D }, config: MoeLayerConfig, cap: number): tfNs.Tensor[] {
  const { experts: E } = config;
  const auxW = config.auxLossWeight ?? 0.01;
  const { forward, firstFrac } = tfMoe(tf, t, config, cap);
  const f = (xv: tfNs.Tensor, wrv: tfNs.Tensor, w1v: tfNs.Tensor, w2v: tfNs.Tensor): tfNs.Scalar => {
    const { y, probs } = forward(xv, wrv, w1v, w2v);
    const aux = tf.mul(E * auxW, tf.sum(tf.mul(firstFrac, tf.mean(probs, 0))));
    return tf.add(tf.sum(tf.mul(y, t.dy)), aux) as tfNs.Scalar;
  };
  return tf.grads(f)([t.x, t.wr, t.w1, t.w2]);
}

/**
 * One MoE feed-forward layer, forward + backward: router matmul, softmax/top-k, capacity assignment, dispatch,
 * expert FFN (up, GELU, down), combine, and all gradients (dx, dWr, dW1, dW2, with the aux-loss gradient).
 * FLOPs: the matmuls only, counting every capacity slot: forward 2·(N·C·E + 2·E·cap·C·H), backward twice that
 * (moeLayerForwardFlops).
 *
 * Peer: the same layer in TF.js ops. Routing (top-k, capacity by cumsum over one-hot choices in rank-major order,
 * the slot → token map by scatterND) is computed outside tf.grads, since TF.js has no gradient for TopK; inside,
 * the router matmul and softmax are recomputed for the gates, rows are gathered into (E, cap, C), the experts run
 * as batched matMuls, and combine gathers expert rows back. tf.grads gives dx and the weight gradients.
 */
function layerCase(config: MoeLayerConfig, quick: boolean): BenchCase {
  const { tokens: N, width: C, experts: E, topK: K, hidden: H } = config;
  const x = randn(N * C, 1);
  const wr = randn(C * E, 2, 0.5);
  const w1 = randn(E * C * moeUpWidth(config), 3, 1 / Math.sqrt(C));
  const w2 = randn(E * H * C, 4, 1 / Math.sqrt(H));
  const dy = randn(N * C, 5);
  const cap = capacityOf(config);
  return {
    op: 'moe',
    shape: `layer fwd+bwd N${N} C${C} E${E} K${K} H${H}`,
    flops: 3 * moeLayerForwardFlops(config),
    quick,
    ours(gpu) {
      const layer = new MoeLayer(gpu, config);
      const up = (a: Float32Array, label: string) => gpu.upload(a, label);
      const xb = up(x, 'x');
      const w = { wr: up(wr, 'wr'), w1: up(w1, 'w1'), w2: up(w2, 'w2') };
      const dyb = up(dy, 'dy');
      const y = gpu.createBuffer(4 * N * C, 'y');
      const dx = gpu.createBuffer(4 * N * C, 'dx');
      const dw = { wr: gpu.createBuffer(wr.byteLength, 'dwr'), w1: gpu.createBuffer(w1.byteLength, 'dw1'), w2: gpu.createBuffer(w2.byteLength, 'dw2') };
      return {
        record(pass) {
          layer.forward(pass, xb, w, y);
          layer.backward(pass, xb, w, dyb, dx, dw);
        },
        dispose() {
          layer.destroy();
          for (const b of [xb, w.wr, w.w1, w.w2, dyb, y, dx, dw.wr, dw.w1, dw.w2]) gpu.release(b);
        },
      };
    },
    peer(tf) {
      const tx = tf.tensor2d(x, [N, C]);
      const twr = tf.tensor2d(wr, [C, E]);
      const tw1 = tf.tensor3d(w1, [E, C, moeUpWidth(config)]);
      const tw2 = tf.tensor3d(w2, [E, H, C]);
      const tdy = tf.tensor2d(dy, [N, C]);
      const run = () => tf.tidy(() => tfMoeLayerGrads(tf, { x: tx, wr: twr, w1: tw1, w2: tw2, dy: tdy }, config, cap));
      return { run, dispose: () => tf.dispose([tx, twr, tw1, tw2, tdy]) };
    },
  };
}

/**
 * The MoE layer at inference (decoding): forward only, nothing dropped. Ours routes sparsely: capacity N, but each
 * expert's two matmuls are indirect dispatches over the row tiles it was routed, so the expert work is that of the
 * N·K routed pairs. FLOPs: router 2·N·C·E plus the routed pairs' 2·N·K·C·(F + H) (F the up width).
 * Peer: the same forward in TF.js ops with capacity N (a static-shape graph cannot size each expert's batch from the
 * routing without a readback, so no-drop decoding there means every expert runs over N rows).
 */
function inferenceCase(config: MoeLayerConfig, quick: boolean): BenchCase {
  const { tokens: N, width: C, experts: E, topK: K, hidden: H } = config;
  const F = moeUpWidth(config);
  const x = randn(N * C, 11);
  const wr = randn(C * E, 12, 0.5);
  const w1 = randn(E * C * F, 13, 1 / Math.sqrt(C));
  const w2 = randn(E * H * C, 14, 1 / Math.sqrt(H));
  return {
    op: 'moe',
    shape: `layer inference fwd N${N} C${C} E${E} K${K} H${H}`,
    flops: 2 * N * C * E + 2 * N * K * C * (F + H),
    quick,
    ours(gpu) {
      const layer = new MoeLayer(gpu, { ...config, inference: true });
      const up = (a: Float32Array, label: string) => gpu.upload(a, label);
      const xb = up(x, 'x');
      const w = { wr: up(wr, 'wr'), w1: up(w1, 'w1'), w2: up(w2, 'w2') };
      const y = gpu.createBuffer(4 * N * C, 'y');
      return {
        record: (pass) => layer.forward(pass, xb, w, y),
        dispose() {
          layer.destroy();
          for (const b of [xb, w.wr, w.w1, w.w2, y]) gpu.release(b);
        },
      };
    },
    peer(tf) {
      const t = { x: tf.tensor2d(x, [N, C]), wr: tf.tensor2d(wr, [C, E]), w1: tf.tensor3d(w1, [E, C, F]), w2: tf.tensor3d(w2, [E, H, C]) };
      const run = () => tf.tidy(() => tfMoe(tf, t, config, N).forward(t.x, t.wr, t.w1, t.w2).y);
      return { run, dispose: () => tf.dispose([t.x, t.wr, t.w1, t.w2]) };
    },
  };
}

const suite: Suite = () => [
  layerCase({ tokens: 256, width: 64, experts: 4, topK: 2, hidden: 256 }, true),
  layerCase({ tokens: 1024, width: 128, experts: 8, topK: 2, hidden: 512 }, false),
  // decoding 64 sequences one token each, 8 experts top-2: a quarter of the experts' rows run
  inferenceCase({ tokens: 64, width: 128, experts: 8, topK: 2, hidden: 512, activation: 'gelu' }, true),
];
export default suite;
