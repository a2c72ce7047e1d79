import { Reduce } from '../../src/kernels/reduce';
import type { BenchCase, Suite, Tf } from '../types';
import { randn } from '../../tests/util/random';

/**
 * Sum of squares (the global gradient norm²) of n floats. Bytes: x read once, 4n (the two-stage partials,
 * ≤ 4 KB, are not counted). Peer: tf.sum(tf.square(x)) on TF.js's WebGPU backend, which writes and re-reads
 * the squared tensor (8n more bytes) before its own reduction.
 */
function sumSqCase(n: number, quick: boolean): BenchCase {
  const x = randn(n, 1);
  return {
    op: 'reduce',
    shape: `sumsq n=${n}`,
    flops: 0,
    bytes: 4 * n,
    quick,
    ours(gpu) {
      const k = new Reduce(gpu, { n, op: 'sumsq' });
      const xb = gpu.upload(x, 'x');
      const out = gpu.createBuffer(4, 'out');
      return {
        record: (pass) => k.encode(pass, xb, out),
        dispose() {
          gpu.release(xb);
          gpu.release(out);
          k.destroy();
        },
      };
    },
    peer(tf: Tf) {
      const tx = tf.tensor1d(x);
      return { run: () => tf.tidy(() => tf.sum(tf.square(tx))), dispose: () => tx.dispose() };
    },
  };
}

const suite: Suite = () => [sumSqCase(1 << 20, true), sumSqCase(16 << 20, false)];
export default suite;
