import { newtonSchulzFlops, NewtonSchulz5, NS5_COEFFICIENTS, NS5_EPS, NS5_STEPS } from '../../src/kernels/muon';
import { randn } from '../../tests/util/random';
import type { BenchCase, Suite } from '../types';

/**
 * Muon's Newton–Schulz orthogonalisation (NS5) of one matrix, as the optimizer runs it per hidden matrix per step.
 *
 * FLOPs (newtonSchulzFlops): per step 2·r·r·c (A = X·Xᵀ) + 2·r·r·r (A·A) + 2·r·r·c (B·X), r = min and c = max of
 * the sides, five steps; the norm, the normalisation and the two axpys per step (O(r·c)) are not counted.
 *
 * Ours: Reduce (sumsq, 2 dispatches) + normalise + 5 × (3 Matmul + 2 Axpy) = 28 dispatches, scratch made once.
 * Peer: the same five steps in TF.js ops (norm, div, matMul, mul, add; transpose for a tall matrix), in a tidy.
 */
function ns5Case(rows: number, cols: number, quick: boolean): BenchCase {
  const g = randn(rows * cols, 1);
  const { a, b, c } = NS5_COEFFICIENTS;
  return {
    op: 'muon',
    shape: `NS5 ${rows}x${cols}`,
    flops: newtonSchulzFlops(rows, cols),
    quick,
    ours(gpu) {
      const ns = new NewtonSchulz5(gpu, { rows, cols });
      const bufs = [gpu.upload(g, 'g'), gpu.createBuffer(4 * rows * cols, 'out')];
      return {
        record: (pass) => ns.encode(pass, bufs[0], bufs[1]),
        dispose: () => {
          bufs.forEach((x) => gpu.release(x));
          ns.destroy();
        },
      };
    },
    peer(tf) {
      const tg = tf.tensor2d(g, [rows, cols]);
      return {
        run: () =>
          tf.tidy(() => {
            let x = tf.div(tg, tf.add(tf.norm(tg), NS5_EPS));
            const tall = rows > cols;
            if (tall) x = tf.transpose(x);
            for (let step = 0; step < NS5_STEPS; step++) {
              const A = tf.matMul(x, x, false, true);
              const B = tf.add(tf.mul(b, A), tf.mul(c, tf.matMul(A, A)));
              x = tf.add(tf.mul(a, x), tf.matMul(B, x));
            }
            return tall ? tf.transpose(x) : x;
          }),
        dispose: () => tg.dispose(),
      };
    },
  };
}

const suite: Suite = () => [ns5Case(128, 512, true), ns5Case(256, 256, false)];
export default suite;
