/** float64 reference for shaders/matmul.wgsl (the Matmul kernel); the same shape object as the kernel takes. */
import type { MatmulShape } from '../../src/kernels/matmul';

/**
 * C[b] = alpha · op(A[b]) · op(B[b]) [+ bias[b]] [+ C[b]], written into a copy of `c` (elements outside the
 * output matrices keep their values, as on the GPU). `c` is the initial contents of the C binding.
 */
export function matmulRef(
  shape: MatmulShape,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: ArrayLike<number>,
  bias?: ArrayLike<number>,
): Float64Array {
  const { M, N, K } = shape;
  const batch = shape.batch ?? 1;
  const alpha = shape.alpha ?? 1;
  const strideA = shape.strideA ?? M * K;
  const strideB = shape.strideB ?? K * N;
  const strideC = shape.strideC ?? M * N;
  const strideBias = shape.strideBias ?? 0;
  const out = Float64Array.from(c);
  for (let t = 0; t < batch; t++) {
    const baseA = (shape.offsetA ?? 0) + t * strideA;
    const baseB = (shape.offsetB ?? 0) + t * strideB;
    const baseC = (shape.offsetC ?? 0) + t * strideC;
    const baseBias = (shape.offsetBias ?? 0) + t * strideBias;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const av = a[baseA + (shape.transA ? k * M + m : m * K + k)];
          const bv = b[baseB + (shape.transB ? n * K + k : k * N + n)];
          acc += av * bv;
        }
        let v = alpha * acc;
        if (shape.bias) v += bias![baseBias + n];
        const i = baseC + m * N + n;
        out[i] = shape.accumulate ? out[i] + v : v;
      }
    }
  }
  return out;
}

/** Plain row-major product of float64 matrices, X (M, K) · Y (K, N), for the unit test's cross-check. */
export function matmulPlain(x: number[][], y: number[][]): number[][] {
  return x.map((row) => y[0].map((_, n) => row.reduce((s, v, k) => s + v * y[k][n], 0)));
}
