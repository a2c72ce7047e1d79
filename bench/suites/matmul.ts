import { Matmul, type MatmulShape } from '../../src/kernels/matmul';
import { randn } from '../../tests/util/random';
import { createJaxMatmul } from '../peers/jax-transformer';
import type { BenchCase, Suite } from '../types';

// FLOPs: 2·M·N·K per product (a multiply and an add per term). Fewest bytes: 4·(M·K + K·N + M·N); at 512³
// that is 3 MiB against 268 MFLOP, so every case here is compute bound (arithmetic intensity ≥ 85 FLOP/byte).
//
// SwiftShader tuning (2 vCPUs, GPU-process CPU time per product, configs interleaved round-robin so machine
// load hits them alike; 512³ unless noted):
//   naive, one output per invocation                          0.04-0.11 GFLOP/s   TF.js tf.matMul 0.12-0.14
//   tiled 16x16 wg, 4x4 blocks, one k per loop iteration     0.26
//   tiled 8x8 wg, 8x8 blocks (bk 8 / 16 / 32 / 64)           0.41 / 0.43 / 0.38  (wg 4x4 0.39, 16x16 0.38)
//   no staging, fragments read from the buffers, 8x8         0.76; unrolled K it hung SwiftShader's compiler
//   A/B staged as atomics (SwiftShader loads equal/sequential atomics without gathers)   0.35: dropped
//   K walked 4 steps per loop iteration (loop-carried copies halve), 8x8 → 16x8 blocks    0.49 → 0.67
//   A fragment shared over the 4-wide subgroup (subgroupBroadcast)                        0.52 → 0.61
//   Arithmetic alone (no workgroup reads) runs at ~5 GFLOP/cpu-s: the per-lane reads are the cost.
// Same-run ratios after that (wall clock, load ~2): 256³ 4.9x, 512³ 4.5x, 1024³ 5.1x, 1024x1024x256 3.9x,
// its dX 6.1x and dW 4.1x; bench --quick: 5.4x, 4.5x, and 9.9x / 6.4x / 3.1x for the small linear layer.
function matmulCase(label: string, shape: MatmulShape, quick: boolean): BenchCase {
  const { M, N, K } = shape;
  const a = randn(M * K, 1);
  const b = randn(K * N, 2);
  return {
    op: 'matmul',
    shape: label,
    flops: 2 * M * N * K,
    quick,
    ours(gpu) {
      const k = new Matmul(gpu, shape);
      const bufs = [gpu.upload(a, 'a'), gpu.upload(b, 'b'), gpu.createBuffer(4 * M * N, 'c')];
      return {
        record: (pass) => k.encode(pass, bufs[0], bufs[1], bufs[2]),
        dispose: () => {
          bufs.forEach((x) => gpu.release(x));
          k.destroy();
        },
      };
    },
    peer(tf) {
      const ta = tf.tensor2d(a, shape.transA ? [K, M] : [M, K]);
      const tb = tf.tensor2d(b, shape.transB ? [N, K] : [K, N]);
      return { run: () => tf.matMul(ta, tb, shape.transA, shape.transB), dispose: () => tf.dispose([ta, tb]) };
    },
    jax: () => createJaxMatmul(a, b, shape),
  };
}

const square = (n: number, quick: boolean): BenchCase => matmulCase(`${n}x${n}x${n}`, { M: n, N: n, K: n }, quick);

// A linear layer C -> 4C of a small transformer with B·T rows: forward Y = X·W, and its two gradients
// dX = dY·Wᵀ (transB) and dW = Xᵀ·dY (transA).
function linear(rowsBT: number, cIn: number, cOut: number, quick: boolean): BenchCase[] {
  const dims = `BT=${rowsBT} C=${cIn}->${cOut}`;
  return [
    matmulCase(`fwd ${dims} (${rowsBT}x${cOut}x${cIn})`, { M: rowsBT, N: cOut, K: cIn }, quick),
    matmulCase(`dX ${dims} (${rowsBT}x${cIn}x${cOut} B^T)`, { M: rowsBT, N: cIn, K: cOut, transB: true }, quick),
    matmulCase(`dW ${dims} (${cIn}x${cOut}x${rowsBT} A^T)`, { M: cIn, N: cOut, K: rowsBT, transA: true }, quick),
  ];
}

const suite: Suite = () => [
  square(256, true),
  square(512, true),
  square(1024, false),
  square(2048, false),
  ...linear(256, 128, 512, true),
  ...linear(1024, 256, 1024, false),
];
export default suite;
