import { Add } from '../../src/kernels/elementwise';
import type { BenchCase, Suite } from '../types';
import { randn } from '../../tests/util/random';

// Residual add: 1 FLOP and 12 bytes (two reads, one write) per element.
function addCase(n: number, quick: boolean): BenchCase {
  const a = randn(n, 1);
  const b = randn(n, 2);
  return {
    op: 'elementwise',
    shape: `add n=${n}`,
    flops: n,
    bytes: 12 * n,
    quick,
    ours(gpu) {
      const k = new Add(gpu, n);
      const bufs = [gpu.upload(a, 'a'), gpu.upload(b, 'b'), gpu.createBuffer(4 * n, 'out')];
      return { record: (pass) => k.encode(pass, bufs[0], bufs[1], bufs[2]), dispose: () => bufs.forEach((x) => gpu.release(x)) };
    },
    peer(tf) {
      const ta = tf.tensor1d(a);
      const tb = tf.tensor1d(b);
      return { run: () => tf.add(ta, tb), dispose: () => tf.dispose([ta, tb]) };
    },
  };
}

const suite: Suite = () => [addCase(1 << 16, true), addCase(1 << 20, false)];
export default suite;
