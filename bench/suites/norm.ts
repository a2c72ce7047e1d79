import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type * as tfNs from '@tensorflow/tfjs-core';
import { RmsNormBackward, RmsNormForward } from '../../src/kernels/norm';
import { randn } from '../../tests/util/random';
import type { BenchCase, Suite, Tf } from '../types';

// RMSNorm is bandwidth bound. Fewest bytes: forward reads x and writes y (8·N·C, plus w and rstd); the backward
// reads x and dy and writes dx (12·N·C, plus w, rstd, dweight). FLOPs: 4·N·C forward, 10·N·C backward.
const EPS = 1e-5;

function rmsnormTf(tf: Tf, x: tfNs.Tensor, w: tfNs.Tensor): tfNs.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), EPS))), w);
}

function normCase(N: number, C: number, backward: boolean, quick: boolean): BenchCase {
  const x = randn(N * C, 1);
  const w = randn(C, 2);
  const dy = randn(N * C, 3);
  return {
    op: 'norm',
    shape: `rmsnorm ${backward ? 'fwd+bwd' : 'fwd'} N=${N} C=${C}`,
    flops: (backward ? 14 : 4) * N * C,
    bytes: 4 * ((backward ? 20 : 8) * N * C + 2 * N + 3 * C),
    quick,
    ours(gpu) {
      const fwd = new RmsNormForward(gpu, { N, C, eps: EPS });
      const bwd = backward ? new RmsNormBackward(gpu, { N, C, eps: EPS }) : null;
      const bufs = {
        x: gpu.upload(x, 'x'), w: gpu.upload(w, 'w'), y: gpu.createBuffer(4 * N * C, 'y'), rstd: gpu.createBuffer(4 * N, 'rstd'),
        dy: gpu.upload(dy, 'dy'), dx: gpu.createBuffer(4 * N * C, 'dx'), dw: gpu.createBuffer(4 * C, 'dw'),
      };
      return {
        record: (pass) => {
          fwd.encode(pass, bufs.x, bufs.w, bufs.y, bufs.rstd);
          bwd?.encode(pass, bufs.x, bufs.w, bufs.rstd, bufs.dy, bufs.dx, bufs.dw);
        },
        dispose: () => {
          Object.values(bufs).forEach((b) => gpu.release(b));
          fwd.destroy();
          bwd?.destroy();
        },
      };
    },
    peer(tf) {
      const tx = tf.tensor2d(x, [N, C]);
      const tw = tf.tensor1d(w);
      const tdy = tf.tensor2d(dy, [N, C]);
      const grads = tf.grads((a: tfNs.Tensor, b: tfNs.Tensor) => rmsnormTf(tf, a, b));
      return {
        run: () => (backward ? tf.tidy(() => grads([tx, tw], tdy)) : tf.tidy(() => rmsnormTf(tf, tx, tw))),
        dispose: () => tf.dispose([tx, tw, tdy]),
      };
    },
  };
}

const suite: Suite = () => [
  normCase(1024, 256, false, true),
  normCase(1024, 256, true, true),
  normCase(8192, 512, false, false),
  normCase(8192, 512, true, false),
  // QK-norm: q (B·T, NH·HS) normalised per head is RMSNorm over B·T·NH rows of HS (the peer reshapes the same way)
  ...([[4096, 64, true], [65536, 16, false], [65536, 64, false]] as const).map(([rows, hs, quick]) => ({
    ...normCase(rows, hs, true, quick),
    shape: `rmsnorm qk-norm rows N·NH=${rows} HS=${hs}`,
  })),
];
export default suite;
