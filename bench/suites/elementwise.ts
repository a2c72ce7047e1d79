import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type * as tfNs from '@tensorflow/tfjs-core';
import { Add, GeluBackward, GeluForward, Rope, SwigluBackward, SwigluForward, type RopeShape } from '../../src/kernels/elementwise';
import { randn } from '../../tests/util/random';
import { activate } from '../peers/tf-moe';
import type { BenchCase, Suite } from '../types';

// Pointwise ops are bandwidth bound: `bytes` is the fewest bytes moved (each input read once, each output
// written once) and the table's GB/s column is the figure of merit. FLOPs are napkin counts for reference.

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
      return {
        record: (pass) => k.encode(pass, bufs[0], bufs[1], bufs[2]),
        dispose: () => {
          bufs.forEach((x) => gpu.release(x));
          k.destroy();
        },
      };
    },
    peer(tf) {
      const ta = tf.tensor1d(a);
      const tb = tf.tensor1d(b);
      return { run: () => tf.add(ta, tb), dispose: () => tf.dispose([ta, tb]) };
    },
  };
}

// GELU forward (read x, write y) + backward (read x, dy, write dx): 20 bytes and ~30 FLOPs per element.
function geluCase(N: number, H: number, quick: boolean): BenchCase {
  const n = N * H;
  const x = randn(n, 3);
  const dy = randn(n, 4);
  return {
    op: 'elementwise',
    shape: `gelu fwd+bwd N=${N} H=${H}`,
    flops: n * (GeluForward.FLOPS_PER_ELEMENT + GeluBackward.FLOPS_PER_ELEMENT),
    bytes: 20 * n,
    quick,
    ours(gpu) {
      const fwd = new GeluForward(gpu, n);
      const bwd = new GeluBackward(gpu, n);
      const [xb, yb, dyb, dxb] = [gpu.upload(x, 'x'), gpu.createBuffer(4 * n, 'y'), gpu.upload(dy, 'dy'), gpu.createBuffer(4 * n, 'dx')];
      return {
        record: (pass) => {
          fwd.encode(pass, xb, yb);
          bwd.encode(pass, xb, dyb, dxb);
        },
        dispose: () => {
          [xb, yb, dyb, dxb].forEach((b) => gpu.release(b));
          fwd.destroy();
          bwd.destroy();
        },
      };
    },
    peer(tf) {
      const tx = tf.tensor2d(x, [N, H]);
      const tdy = tf.tensor2d(dy, [N, H]);
      // One forward and its gradient, as ours runs them: [f(x), grad(f)(x)] would run the forward twice.
      const valueAndGrad = tf.valueAndGrad((v: tfNs.Tensor) => activate(tf, v, 'gelu'));
      return {
        run: () => tf.tidy(() => { const { value, grad } = valueAndGrad(tx, tdy); return [value, grad]; }),
        dispose: () => tf.dispose([tx, tdy]),
      };
    },
  };
}

// SwiGLU forward (read 2H, write H) + backward (read 2H + H, write 2H) per row: 32·H bytes, ~16·H FLOPs.
function swigluCase(N: number, H: number, quick: boolean): BenchCase {
  const inp = randn(N * 2 * H, 5);
  const dout = randn(N * H, 6);
  return {
    op: 'elementwise',
    shape: `swiglu fwd+bwd N=${N} H=${H}`,
    flops: N * H * (SwigluForward.FLOPS_PER_OUTPUT + SwigluBackward.FLOPS_PER_OUTPUT),
    bytes: 32 * N * H,
    quick,
    ours(gpu) {
      const fwd = new SwigluForward(gpu, { N, H });
      const bwd = new SwigluBackward(gpu, { N, H });
      const bufs = [gpu.upload(inp, 'inp'), gpu.createBuffer(4 * N * H, 'out'), gpu.upload(dout, 'dout'), gpu.createBuffer(8 * N * H, 'dinp')];
      return {
        record: (pass) => {
          fwd.encode(pass, bufs[0], bufs[1]);
          bwd.encode(pass, bufs[0], bufs[2], bufs[3]);
        },
        dispose: () => {
          bufs.forEach((b) => gpu.release(b));
          fwd.destroy();
          bwd.destroy();
        },
      };
    },
    peer(tf) {
      const ti = tf.tensor2d(inp, [N, 2 * H]);
      const td = tf.tensor2d(dout, [N, H]);
      const swiglu = (v: tfNs.Tensor) => {
        const [g, u] = tf.split(v, 2, 1);
        return tf.mul(tf.mul(g, tf.sigmoid(g)), u);
      };
      const valueAndGrad = tf.valueAndGrad(swiglu);
      return { run: () => tf.tidy(() => { const { value, grad } = valueAndGrad(ti, td); return [value, grad]; }), dispose: () => tf.dispose([ti, td]) };
    },
  };
}

// RoPE forward then backward, each in place: read + write x twice, 16 bytes and ~12 FLOPs per element pair-half.
function ropeCase(shape: Required<Pick<RopeShape, 'B' | 'T' | 'NH' | 'HS'>>, quick: boolean): BenchCase {
  const { B, T, NH, HS } = shape;
  const n = B * T * NH * HS;
  const x = randn(n, 7);
  const dy = randn(n, 8);
  const half = HS / 2;
  return {
    op: 'elementwise',
    shape: `rope fwd+bwd B=${B} T=${T} NH=${NH} HS=${HS}`,
    flops: 2 * 6 * (n / 2),
    bytes: 16 * n,
    quick,
    ours(gpu) {
      const k = new Rope(gpu, shape);
      const [xb, dyb] = [gpu.upload(x, 'x'), gpu.upload(dy, 'dy')];
      return {
        record: (pass) => {
          k.encodeForward(pass, xb);
          k.encodeBackward(pass, dyb);
        },
        dispose: () => {
          gpu.release(xb);
          gpu.release(dyb);
          k.destroy();
        },
      };
    },
    peer(tf) {
      // cos / sin tables (T, HS/2) precomputed once, as a TF.js model would; broadcast over B and NH.
      const angles = new Float32Array(T * half);
      for (let t = 0; t < T; t++) for (let i = 0; i < half; i++) angles[t * half + i] = t * Math.pow(10000, (-2 * i) / HS);
      const ang = tf.tensor4d(angles, [1, T, 1, half]);
      const cos = tf.cos(ang);
      const sin = tf.sin(ang);
      const tx = tf.tensor4d(x, [B, T, NH, HS]);
      const tdy = tf.tensor4d(dy, [B, T, NH, HS]);
      const rope = (v: tfNs.Tensor) => {
        const [x1, x2] = tf.split(v, 2, 3);
        return tf.concat([tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add(tf.mul(x1, sin), tf.mul(x2, cos))], 3);
      };
      const valueAndGrad = tf.valueAndGrad(rope);
      return { run: () => tf.tidy(() => { const { value, grad } = valueAndGrad(tx, tdy); return [value, grad]; }), dispose: () => tf.dispose([ang, cos, sin, tx, tdy]) };
    },
  };
}

const suite: Suite = () => [
  addCase(1 << 16, true),
  addCase(1 << 20, false),
  geluCase(1024, 256, true),
  geluCase(8192, 2048, false),
  swigluCase(1024, 256, true),
  swigluCase(8192, 1536, false),
  ropeCase({ B: 4, T: 256, NH: 4, HS: 64 }, true),
  ropeCase({ B: 8, T: 1024, NH: 12, HS: 64 }, false),
];
export default suite;
