import { EmbeddingBackward, EmbeddingForward, type EmbeddingShape } from '../../src/kernels/embed';
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

const suite: Suite = () => [
  forwardCase({ N: 1024, V: 512, C: 128 }, true),
  backwardCase({ N: 1024, V: 512, C: 128 }, true),
  forwardCase({ N: 8192, V: 16384, C: 512 }, false),
  backwardCase({ N: 8192, V: 16384, C: 512 }, false),
];
export default suite;
