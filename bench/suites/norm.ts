import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type * as tfNs from '@tensorflow/tfjs-core';
import { ColumnSum, LayerNormBackward, LayerNormForward, RmsNormBackward, RmsNormForward } from '../../src/kernels/norm';
import { randn } from '../../tests/util/random';
import type { BenchCase, Suite, Tf } from '../types';

// RMSNorm is bandwidth bound. Fewest bytes: forward reads x and writes y (8·N·C, plus w and rstd); the backward
// reads x and dy and writes dx (12·N·C, plus w, rstd, dweight). FLOPs: 4·N·C forward, 10·N·C backward.
// LayerNorm moves the same per element (plus the bias, dbias and mean); FLOPs: 8·N·C forward, 14·N·C backward (one
// more row sum, the mean subtracted and the bias added). Peer: layer norm on tf.moments, fwd+bwd by tf.valueAndGrads.
const EPS = 1e-5;

function rmsnormTf(tf: Tf, x: tfNs.Tensor, w: tfNs.Tensor): tfNs.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), EPS))), w);
}

/** LayerNorm as TF.js writes it: tf.moments gives the mean and the biased variance. */
function layernormTf(tf: Tf, x: tfNs.Tensor, gain: tfNs.Tensor, bias: tfNs.Tensor): tfNs.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, EPS))), gain), bias);
}

function layernormCase(N: number, C: number, backward: boolean, quick: boolean): BenchCase {
  const x = randn(N * C, 1);
  const gain = randn(C, 2);
  const bias = randn(C, 3);
  const dy = randn(N * C, 4);
  return {
    op: 'norm',
    shape: `layernorm ${backward ? 'fwd+bwd' : 'fwd'} N=${N} C=${C}`,
    flops: (backward ? 22 : 8) * N * C,
    // forward: x, gain, bias in, y, mean, rstd out; backward: x, dy, gain, mean, rstd in, dx, dgain, dbias out
    bytes: 4 * (backward ? 20 * N * C + 4 * N + 5 * C : 8 * N * C + 2 * N + 2 * C),
    quick,
    ours(gpu) {
      const fwd = new LayerNormForward(gpu, { N, C, eps: EPS });
      const bwd = backward ? new LayerNormBackward(gpu, { N, C, eps: EPS }) : null;
      const bufs = {
        x: gpu.upload(x, 'x'), gain: gpu.upload(gain, 'gain'), bias: gpu.upload(bias, 'bias'), y: gpu.createBuffer(4 * N * C, 'y'),
        mean: gpu.createBuffer(4 * N, 'mean'), rstd: gpu.createBuffer(4 * N, 'rstd'), dy: gpu.upload(dy, 'dy'),
        dx: gpu.createBuffer(4 * N * C, 'dx'), dgain: gpu.createBuffer(4 * C, 'dgain'), dbias: gpu.createBuffer(4 * C, 'dbias'),
      };
      return {
        record: (pass) => {
          fwd.encode(pass, bufs.x, bufs.gain, bufs.bias, bufs.y, bufs.mean, bufs.rstd);
          bwd?.encode(pass, bufs.x, bufs.gain, bufs.mean, bufs.rstd, bufs.dy, bufs.dx, bufs.dgain, bufs.dbias);
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
      const tg = tf.tensor1d(gain);
      const tb = tf.tensor1d(bias);
      const tdy = tf.tensor2d(dy, [N, C]);
      const valueAndGrads = tf.valueAndGrads((a: tfNs.Tensor, g: tfNs.Tensor, b: tfNs.Tensor) => layernormTf(tf, a, g, b));
      return {
        run: () =>
          backward
            ? tf.tidy(() => {
                const { value, grads } = valueAndGrads([tx, tg, tb], tdy);
                return [value, ...grads];
              })
            : tf.tidy(() => layernormTf(tf, tx, tg, tb)),
        dispose: () => tf.dispose([tx, tg, tb, tdy]),
      };
    },
  };
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

// A linear's bias gradient, dbias = Σ over rows of dY: reads N·C floats once and writes C (bandwidth bound), N·C
// adds. Peer: tf.sum over axis 0.
function columnSumCase(N: number, C: number, quick: boolean): BenchCase {
  const x = randn(N * C, 1);
  return {
    op: 'norm',
    shape: `column sum (bias gradient) N=${N} C=${C}`,
    flops: N * C,
    bytes: 4 * (N * C + C),
    quick,
    ours(gpu) {
      const k = new ColumnSum(gpu, { rows: N, cols: C });
      const bufs = { x: gpu.upload(x, 'x'), out: gpu.createBuffer(4 * C, 'out') };
      return {
        record: (pass) => k.encode(pass, bufs.x, bufs.out),
        dispose: () => {
          Object.values(bufs).forEach((b) => gpu.release(b));
          k.destroy();
        },
      };
    },
    peer(tf) {
      const tx = tf.tensor2d(x, [N, C]);
      return { run: () => tf.sum(tx, 0), dispose: () => tx.dispose() };
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
  layernormCase(1024, 256, false, true),
  layernormCase(1024, 256, true, true),
  layernormCase(8192, 512, false, false),
  layernormCase(8192, 512, true, false),
  columnSumCase(1024, 256, true),
  columnSumCase(8192, 2048, false),
];
export default suite;
