// tf.valueAndGrads needs the gradient registry, which the ESM entry of tfjs-core leaves out.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type * as tfNs from '@tensorflow/tfjs-core';
import { EmbeddingBackward, EmbeddingForward, PositionEmbeddingBackward, type EmbeddingShape } from '../../src/kernels/embed';
import { randint, randn } from '../../tests/util/random';
import type { BenchCase, Suite } from '../types';

// Embedding is bandwidth bound. Forward: read N token ids and N rows of wte, write x (8·N·C + 4·N bytes).
// Backward: read tokens and dx, read-modify-write the touched rows of dwte (at most 12·N·C + 4·N bytes; our
// sort adds ~40·N bytes of scratch traffic per radix pass and N·C floats of piece sums). FLOPs: N·C adds.
// Peer backward: tf.unsortedSegmentSum (float atomics on WebGPU, not deterministic) added into dwte.

function tokensOf(s: EmbeddingShape): Uint32Array {
  // Zipf-like repetition: half the positions draw from the first 1/16 of the vocabulary.
  const t = randint(s.N, 11, s.V);
  const hot = randint(s.N, 12, Math.max(1, s.V >> 4));
  for (let i = 0; i < s.N; i += 2) t[i] = hot[i];
  return t;
}

function forwardCase(s: EmbeddingShape, quick: boolean): BenchCase {
  const { N, V, C } = s;
  const tokens = tokensOf(s);
  const wte = randn(V * C, 1);
  return {
    op: 'embed',
    shape: `embedding fwd N=${N} V=${V} C=${C}`,
    flops: 0,
    bytes: 8 * N * C + 4 * N,
    quick,
    ours(gpu) {
      const k = new EmbeddingForward(gpu, s);
      const bufs = [gpu.upload(tokens, 'tokens'), gpu.upload(wte, 'wte'), gpu.createBuffer(4 * N * C, 'x')];
      return {
        record: (pass) => k.encode(pass, bufs[0], bufs[1], bufs[2]),
        dispose: () => {
          bufs.forEach((b) => gpu.release(b));
          k.destroy();
        },
      };
    },
    peer(tf) {
      const tt = tf.tensor1d(Int32Array.from(tokens), 'int32');
      const tw = tf.tensor2d(wte, [V, C]);
      return { run: () => tf.gather(tw, tt), dispose: () => tf.dispose([tt, tw]) };
    },
  };
}

function backwardCase(s: EmbeddingShape, quick: boolean): BenchCase {
  const { N, V, C } = s;
  const tokens = tokensOf(s);
  const dx = randn(N * C, 2);
  return {
    op: 'embed',
    shape: `embedding bwd N=${N} V=${V} C=${C}`,
    flops: N * C,
    bytes: 12 * N * C + 4 * N,
    quick,
    ours(gpu) {
      const k = new EmbeddingBackward(gpu, s);
      const bufs = [gpu.upload(tokens, 'tokens'), gpu.upload(dx, 'dx'), gpu.createBuffer(4 * V * C, 'dwte')];
      return {
        record: (pass) => k.encode(pass, bufs[0], bufs[1], bufs[2]),
        dispose: () => {
          bufs.forEach((b) => gpu.release(b));
          k.destroy();
        },
      };
    },
    peer(tf) {
      const tt = tf.tensor1d(Int32Array.from(tokens), 'int32');
      const td = tf.tensor2d(dx, [N, C]);
      const dwte = tf.zeros([V, C]);
      return {
        run: () => tf.tidy(() => tf.add(dwte, tf.unsortedSegmentSum(td, tt, V))),
        dispose: () => tf.dispose([tt, td, dwte]),
      };
    },
  };
}

// Tokens plus learned positions (GPT-2's wte + wpe), forward and backward, B sequences of T positions (N = B·T).
// Fewest bytes: forward reads the token ids, N rows of wte and T rows of wpe and writes x (8·N·C + 4·T·C + 4·N);
// backward reads the ids and dx and read-modify-writes the touched rows of dwte and the T rows of dwpe
// (at most 12·N·C + 8·T·C + 4·N). We read dx twice (token and position backward). FLOPs: N·C adds forward,
// 2·N·C backward. Peer: tf.valueAndGrads of gather(wte, tokens) + wpe[0..T) (broadcast over B), whose gradient
// is an unsortedSegmentSum into dwte and a sum over B into the slice's pad; our gradients add into dwte and dwpe.
function positionsCase(B: number, T: number, V: number, C: number, quick: boolean): BenchCase {
  const N = B * T;
  const L = T;
  const s = { N, V, C };
  const tokens = tokensOf(s);
  const wte = randn(V * C, 1);
  const wpe = randn(L * C, 3);
  const dx = randn(N * C, 2);
  return {
    op: 'embed',
    shape: `embedding+positions fwd+bwd B=${B} T=${T} V=${V} C=${C}`,
    flops: 3 * N * C,
    bytes: 20 * N * C + 12 * T * C + 8 * N,
    quick,
    ours(gpu) {
      const positions = { T, contextLength: L };
      const fwd = new EmbeddingForward(gpu, s, { positions });
      const bwd = new EmbeddingBackward(gpu, s);
      const pbwd = new PositionEmbeddingBackward(gpu, { N, C }, positions);
      const b = {
        tokens: gpu.upload(tokens, 'tokens'), wte: gpu.upload(wte, 'wte'), wpe: gpu.upload(wpe, 'wpe'), x: gpu.createBuffer(4 * N * C, 'x'),
        dx: gpu.upload(dx, 'dx'), dwte: gpu.createBuffer(4 * V * C, 'dwte'), dwpe: gpu.createBuffer(4 * L * C, 'dwpe'),
      };
      return {
        record: (pass) => {
          fwd.encode(pass, b.tokens, b.wte, b.x, b.wpe);
          bwd.encode(pass, b.tokens, b.dx, b.dwte);
          pbwd.encode(pass, b.dx, b.dwpe);
        },
        dispose: () => {
          Object.values(b).forEach((buf) => gpu.release(buf));
          [fwd, bwd, pbwd].forEach((k) => k.destroy());
        },
      };
    },
    peer(tf) {
      const tt = tf.tensor1d(Int32Array.from(tokens), 'int32');
      const tw = tf.tensor2d(wte, [V, C]);
      const tp = tf.tensor2d(wpe, [L, C]);
      const td = tf.tensor3d(dx, [B, T, C]);
      const embed = (w: tfNs.Tensor, p: tfNs.Tensor): tfNs.Tensor => tf.add(tf.reshape(tf.gather(w, tt), [B, T, C]), tf.slice(p, [0, 0], [T, C]));
      const valueAndGrads = tf.valueAndGrads(embed);
      return {
        run: () => tf.tidy(() => { const { value, grads } = valueAndGrads([tw, tp], td); return [value, ...grads]; }),
        dispose: () => tf.dispose([tt, tw, tp, td]),
      };
    },
  };
}

const suite: Suite = () => [
  forwardCase({ N: 1024, V: 512, C: 128 }, true),
  backwardCase({ N: 1024, V: 512, C: 128 }, true),
  forwardCase({ N: 8192, V: 16384, C: 512 }, false),
  backwardCase({ N: 8192, V: 16384, C: 512 }, false),
  positionsCase(4, 256, 512, 128, true),
  positionsCase(8, 1024, 16384, 512, false),
];
export default suite;
