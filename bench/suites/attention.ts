import { Attention, attentionSizes, type AttentionShape } from '../../src/kernels/attention';
import type { Tensor } from '@tensorflow/tfjs-core';
// tf.grads needs the gradient registrations, which tfjs-core does not load by itself
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { BenchCase, Suite, Tf } from '../types';
import { randn } from '../../tests/util/random';

/**
 * Causal attention forward + backward (dq, dk, dv), ours (flash style, O(T) extra memory) against the same math
 * in TF.js ops (q kᵀ, scale, causal mask, softmax, · v) differentiated by tf.grads (O(T²) memory).
 *
 * FLOPs, counting only the causal pairs (j <= i: T(T+1)/2 per head), 2·HS per pair per product:
 * forward 2 products (q·k, p·v), backward 4 (dy·v, p·dy, ds·k, ds·q) -> 6 · 2·HS · B·NH · T(T+1)/2.
 * Our recomputation of the scores in the backward and the peer's masked upper triangle are not counted.
 * Bytes: q, k, v, dy read and y, dq, dk, dv written once each (the fewest any implementation must move).
 */
export function attentionCase(s: Required<Pick<AttentionShape, 'B' | 'T' | 'NH' | 'NKV' | 'HS'>>, quick: boolean): BenchCase {
  const { B, T, NH, NKV, HS } = s;
  const n = attentionSizes(s);
  const q = randn(n.q, 1);
  const k = randn(n.kv, 2);
  const v = randn(n.kv, 3);
  const dy = randn(n.q, 4);
  return {
    op: 'attention',
    shape: `fwd+bwd B${B} T${T} NH${NH} NKV${NKV} HS${HS}`,
    flops: 6 * HS * B * NH * T * (T + 1),
    bytes: 4 * (4 * n.q + 4 * n.kv),
    quick,
    async ours(gpu) {
      await Attention.prepare(gpu, s); // compiles the four pipelines in parallel
      const att = new Attention(gpu, s);
      const bufs = {
        q: gpu.upload(q, 'q'),
        k: gpu.upload(k, 'k'),
        v: gpu.upload(v, 'v'),
        dy: gpu.upload(dy, 'dy'),
        y: gpu.createBuffer(4 * n.q, 'y'),
        lse: gpu.createBuffer(4 * n.lse, 'lse'),
        dq: gpu.createBuffer(4 * n.q, 'dq'),
        dk: gpu.createBuffer(4 * n.kv, 'dk'),
        dv: gpu.createBuffer(4 * n.kv, 'dv'),
        scratch: gpu.createBuffer(4 * Attention.scratchFloats(s), 'D'),
      };
      const b = bufs;
      return {
        record(pass) {
          att.encodeForward(pass, b.q, b.k, b.v, b.y, b.lse);
          att.encodeBackward(pass, b.q, b.k, b.v, b.y, b.lse, b.dy, b.dq, b.dk, b.dv, b.scratch);
        },
        dispose() {
          Object.values(bufs).forEach((x) => gpu.release(x));
          att.destroy();
        },
      };
    },
    peer(tf: Tf) {
      // The peer gets the layout it likes, so no transposes are timed: the query heads of a kv group stacked
      // as rows, q and dy (B, NKV, group * T, HS), k and v (B, NKV, T, HS); then dk, dv sum over the group as ours do.
      const group = NH / NKV;
      const toPeer = (x: Float32Array, heads: number) => {
        const out = new Float32Array(x.length);
        for (let bb = 0; bb < B; bb++)
          for (let t = 0; t < T; t++)
            for (let h = 0; h < heads; h++) {
              const hh = h % (heads / NKV);
              const g = Math.floor(h / (heads / NKV));
              const row = ((bb * NKV + g) * (heads / NKV) + hh) * T + t;
              out.set(x.subarray(((bb * T + t) * heads + h) * HS, ((bb * T + t) * heads + h + 1) * HS), row * HS);
            }
        return tf.tensor4d(out, [B, NKV, (heads / NKV) * T, HS]);
      };
      const tq = toPeer(q, NH);
      const tk = toPeer(k, NKV);
      const tv = toPeer(v, NKV);
      const tdy = toPeer(dy, NH);
      const bias = new Float32Array(group * T * T); // row hh * T + i masks keys j > i
      for (let r = 0; r < group * T; r++) for (let j = (r % T) + 1; j < T; j++) bias[r * T + j] = -1e9;
      const mask = tf.tensor2d(bias, [group * T, T]);
      const scale = 1 / Math.sqrt(HS);
      const grads = tf.grads((qq: Tensor, kk: Tensor, vv: Tensor) => {
        const scores = tf.add(tf.mul(tf.matMul(qq, kk, false, true), scale), mask);
        return tf.matMul(tf.softmax(scores), vv);
      });
      return {
        run: () => grads([tq, tk, tv], tdy),
        dispose: () => tf.dispose([tq, tk, tv, tdy, mask]),
      };
    },
  };
}

const base = { B: 1, NH: 4, NKV: 4, HS: 64 };
const suite: Suite = () => [
  attentionCase({ ...base, T: 128 }, true),
  attentionCase({ ...base, T: 256 }, true),
  attentionCase({ ...base, T: 512 }, false),
  attentionCase({ ...base, T: 1024 }, false),
  attentionCase({ B: 1, NH: 8, NKV: 2, HS: 64, T: 512 }, false),
];
export default suite;
