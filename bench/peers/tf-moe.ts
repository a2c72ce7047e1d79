/**
 * The mixture-of-experts MLP of the TF.js peer (bench/peers/tf-transformer.ts), in TF.js ops, on the GPU.
 *
 * Routing (top-k, capacity slots, first-choice fractions) is not differentiable and TF.js has no gradient for
 * TopK or for gather indices, so it runs on a detached copy of the router logits (see `detached`). The combine
 * is differentiable: gates are gathered from the router softmax, tokens are gathered into (E, cap, C) expert
 * buffers, the experts run as batched matMuls, and outputs are gathered back per (choice, token) and weighted.
 *
 * Policy (as tests/reference/model.ts moeRoute): top-k of the softmax (k = 1 raw gate, k = 2 renormalised),
 * capacity ceil(factor · N · K / E) filled by choice rank, then token index; a dropped choice contributes 0;
 * aux loss E · Σ_e f_e · P_e with f_e the fraction of tokens whose FIRST choice is e, P_e the mean probability.
 */
import type * as tfNs from '@tensorflow/tfjs-core';
import type { Tf } from '../types';

type Tensor = tfNs.Tensor;

/**
 * Runs `fn` outside the gradient tape and returns its result as a tensor with no tape link to its inputs: a
 * customGrad with no inputs runs its body untaped, and the node it leaves on the tape has nothing to backprop.
 */
export function detached(tf: Tf, fn: () => Tensor): Tensor {
  return tf.customGrad(() => ({ value: fn(), gradFunc: () => [] }))();
}

/** Expert capacity: ceil(factor · N · K / E) slots per expert. */
export const moeCapacity = (N: number, E: number, K: number, factor: number): number => Math.ceil((factor * N * K) / E);

export interface MoeShape {
  /** Tokens (B·T). */
  N: number;
  C: number;
  E: number;
  K: number;
  /** Hidden width H (the activation's output). */
  H: number;
  /** 'swiglu' or 'gelu' (ModelConfig.mlp). */
  mlp: string;
  capacityFactor: number;
}

/**
 * The routing decision, all in floats (integers below 2^24 are exact), packed in one tensor so it leaves the
 * untaped region in one piece:
 *   [gateIndex (N·K): n·E + e_{n,k} | slotOfChoice (K·N, rank-major): e·cap + position, or E·cap if dropped |
 *    tokenOfSlot (E·cap): n, or N if the slot is empty | firstFraction (E)]
 */
function routeOnGpu(tf: Tf, logits: Tensor, s: MoeShape, cap: number): Tensor {
  const { N, E, K } = s;
  const { indices } = tf.topk(logits, K); // (N, K) int32, best first
  const choiceFlat = tf.reshape(tf.transpose(indices), [K * N]); // rank-major: all first choices, then seconds
  const hot = tf.cast(tf.oneHot(choiceFlat, E), 'float32'); // (K·N, E)
  const position = tf.sub(tf.sum(tf.mul(tf.cumsum(hot, 0), hot), 1), 1); // place in its expert's queue
  const expertF = tf.cast(choiceFlat, 'float32');
  const slot = tf.where(tf.less(position, cap), tf.add(tf.mul(expertF, cap), position), tf.fill([K * N], E * cap)); // (K·N)
  const tokenPlus1 = tf.tile(tf.range(1, N + 1, 1, 'int32'), [K]);
  // Kept slots are unique; all dropped choices pile up (summed) in the extra slot E·cap, which is cut off.
  const held = tf.slice(tf.scatterND(tf.reshape(tf.cast(slot, 'int32'), [K * N, 1]), tokenPlus1, [E * cap + 1]), 0, E * cap);
  const tokenOfSlot = tf.where(tf.greater(held, 0), tf.cast(tf.sub(held, 1), 'float32'), tf.fill([E * cap], N));
  const rowBase = tf.mul(tf.range(0, N, 1, 'float32'), E); // (N)
  const gateIndex = tf.reshape(tf.add(tf.expandDims(rowBase, 1), tf.cast(indices, 'float32')), [N * K]);
  const first = tf.reshape(tf.slice(indices, [0, 0], [N, 1]), [N]);
  const firstFraction = tf.mean(tf.cast(tf.oneHot(first, E), 'float32'), 0); // (E)
  return tf.concat([gateIndex, slot, tokenOfSlot, firstFraction], 0);
}

/**
 * silu(gate) · up on [gate | up] halves of the last axis (SwiGLU), or tanh-GELU (TF.js core has none) from its
 * parts as ours computes it: u·u·u, not pow(u, 3), whose gradient also computes d/d(exponent). Every peer uses this.
 */
export function activate(tf: Tf, u: Tensor, mlp: string): Tensor {
  if (mlp === 'swiglu') {
    const [gate, up] = tf.split(u, 2, u.rank - 1);
    return tf.mul(tf.mul(gate, tf.sigmoid(gate)), up);
  }
  const cube = tf.mul(tf.mul(u, u), u);
  const inner = tf.mul(tf.add(u, tf.mul(cube, 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(u, 0.5), tf.add(tf.tanh(inner), 1));
}

/**
 * MoE MLP on h (N, C) with router (C, E), wi (E, C, ffnIn), wo (E, H, C). Returns the output (N, C), to be added
 * to the residual, and the unweighted aux loss E · Σ f_e P_e (a scalar). Call inside a tidy (or a minimize).
 */
export function moeMlp(tf: Tf, h: Tensor, router: Tensor, wi: Tensor, wo: Tensor, s: MoeShape): { y: Tensor; aux: Tensor } {
  const { N, C, E, K } = s;
  const cap = moeCapacity(N, E, K, s.capacityFactor);
  const logits = tf.matMul(h as tfNs.Tensor2D, router as tfNs.Tensor2D); // (N, E)
  const probs = tf.softmax(logits); // (N, E)
  const packed = detached(tf, () => routeOnGpu(tf, logits, s, cap));
  const part = (start: number, size: number) => tf.slice(packed, start, size);
  const gateIndex = tf.cast(part(0, N * K), 'int32');
  const slot = tf.cast(part(N * K, K * N), 'int32');
  const tokenOfSlot = tf.cast(part(2 * N * K, E * cap), 'int32');
  const firstFraction = part(2 * N * K + E * cap, E);

  let gates = tf.reshape(tf.gather(tf.reshape(probs, [N * E]), gateIndex), [N, K]); // (N, K)
  if (K > 1) gates = tf.div(gates, tf.sum(gates, 1, true));

  const zeroRow = tf.zeros([1, C]);
  const dispatched = tf.reshape(tf.gather(tf.concat([h, zeroRow], 0), tokenOfSlot), [E, cap, C]);
  const u = tf.matMul(dispatched as tfNs.Tensor3D, wi as tfNs.Tensor3D); // (E, cap, ffnIn)
  const a = activate(tf, u, s.mlp); // (E, cap, H)
  const out = tf.reshape(tf.matMul(a as tfNs.Tensor3D, wo as tfNs.Tensor3D), [E * cap, C]);
  const perChoice = tf.reshape(tf.gather(tf.concat([out, zeroRow], 0), slot), [K, N, C]); // dropped → zero row
  const weighted = tf.mul(perChoice, tf.expandDims(tf.transpose(gates), 2)); // (K, N, C)
  const y = K === 1 ? tf.reshape(weighted, [N, C]) : tf.sum(weighted, 0);

  const aux = tf.mul(tf.sum(tf.mul(firstFraction, tf.mean(probs, 0))), E);
  return { y, aux };
}
