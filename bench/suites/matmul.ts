import { Matmul, type MatmulShape } from '../../src/kernels/matmul';
import { randn } from '../../tests/util/random';
import type { BenchCase, Suite } from '../types';

// FLOPs: 2·M·N·K per product (a multiply and an add per term). Fewest bytes: 4·(M·K + K·N + M·N); at 512³
// that is 3 MiB against 268 MFLOP, so every case here is compute bound (arithmetic intensity ≥ 85 FLOP/byte).
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
