/**
 * Matmul cases shared by tests/gpu/matmul.test.ts and regress/checks/linear.ts: the awkward shapes, and the
 * case that checks one shape against the float64 reference.
 */
import { Matmul, matmulSpans, type MatmulOptions, type MatmulShape } from '../../../src/kernels/matmul';
import { matmulRef } from '../../reference/matmul';
import type { CaseBuilder } from '../kernel-test';
import { randn } from '../random';

/** Off every tile edge in M, N and K (tiles are multiples of 4 and 8). */
export const MATMUL_OFF_TILES = { M: 65, N: 67, K: 33 } as const;
/** Shapes for scalar bindings: 1x1x1, sizes off the tile edges, a single output column, K above M. */
export const MATMUL_SIZES: readonly (readonly [number, number, number])[] = [
  [1, 1, 1], [7, 13, 5], [MATMUL_OFF_TILES.M, MATMUL_OFF_TILES.N, MATMUL_OFF_TILES.K], [33, 1, 70], [129, 131, 17],
];
/** Shapes for vec4 bindings (contiguous dimensions multiples of 4): one vector, tile edges, thin A, thin C. */
export const MATMUL_VEC4_SIZES: readonly (readonly [number, number, number])[] = [[4, 4, 4], [68, 72, 20], [132, 4, 36], [4, 136, 8]];

/** Transposed operands: off the tiles for scalar bindings, multiples of 4 for vec4 ones. */
export const MATMUL_TRANSPOSED = { scalar: { M: 37, N: 29, K: 45 }, vec4: { M: 36, N: 28, K: 44 } } as const;

/** alpha, bias and accumulate: a weight-gradient step dW += alpha·Xᵀ·dY (first), a scaled biased product, both at once. */
export function matmulEpilogues(vec4: boolean): MatmulShape[] {
  const [M, N, K] = vec4 ? [20, 24, 40] : [19, 23, 41];
  return [
    { M, N, K, transA: true, accumulate: true, alpha: 0.5 },
    { M, N, K, bias: true, alpha: -2 },
    { M, N, K, transB: true, bias: true, accumulate: true },
  ];
}

/** Batches with strides, stride 0 (shared weights), offsets, gaps between matrices and per-batch biases. */
export function matmulBatched(vec4: boolean): MatmulShape[] {
  if (vec4) {
    return [
      { M: 8, N: 12, K: 16, batch: 3, strideA: 8 * 16 + 4, strideB: 0, strideC: 8 * 12 + 8, offsetA: 4, offsetB: 8, offsetC: 4 },
      { M: 6, N: 8, K: 12, batch: 4, strideA: 0, transB: true, bias: true, strideBias: 8, offsetBias: 4 },
      { M: 12, N: 12, K: 8, batch: 5, transA: true, transB: true, accumulate: true },
    ];
  }
  return [
    // Experts (first): A per batch with a gap, B shared (stride 0), C with padding between matrices.
    { M: 9, N: 14, K: 11, batch: 3, strideA: 9 * 11 + 3, strideB: 0, strideC: 9 * 14 + 7, offsetA: 2, offsetB: 5, offsetC: 1 },
    // Per-expert weights and biases, A broadcast.
    { M: 6, N: 10, K: 17, batch: 4, strideA: 0, transB: true, bias: true, strideBias: 10, offsetBias: 3 },
    // Dense batched attention-like product with transposes and accumulate.
    { M: 12, N: 12, K: 8, batch: 5, transA: true, transB: true, accumulate: true },
  ];
}

/** A transformer-like linear layer, for the variant the device picks by default. */
export const MATMUL_TRANSFORMER: MatmulShape = { M: 96, N: 160, K: 64, bias: true };

/** Elements past the end of C the test also reads back, so a write out of bounds shows. */
const SLACK = 5;

/**
 * One product against matmulRef over the whole C binding (plus SLACK): C starts random; unless accumulating,
 * the output matrices are poisoned (NaN) so an unwritten element fails, while the gaps between them must come
 * back unchanged.
 */
export function matmulCase(shape: MatmulShape, options: MatmulOptions = {}): CaseBuilder {
  return (gpu, seed) => {
    const n = matmulSpans(shape);
    const a = randn(n.a, seed);
    const b = randn(n.b, seed + 1);
    const c = randn(n.c + SLACK, seed + 2);
    const bias = shape.bias ? randn(n.bias, seed + 3) : undefined;
    if (!shape.accumulate) {
      // The reference on zero operands and a C of ones: 0 exactly where the kernel writes.
      const ones = new Float32Array(c.length).fill(1);
      const written = matmulRef(shape, new Float32Array(n.a), new Float32Array(n.b), ones, bias && new Float32Array(n.bias));
      written.forEach((v, i) => {
        if (v === 0) c[i] = NaN;
      });
    }
    const inputs: Record<string, Float32Array> = { a, b };
    if (bias) inputs.bias = bias;
    const k = new Matmul(gpu, shape, options);
    return {
      name: `matmul ${k.variant} ${JSON.stringify(shape)}`,
      inputs,
      outputs: { c },
      encode: (pass, x) => k.encode(pass, x.a, x.b, x.c, x.bias),
      reference: () => ({ c: matmulRef(shape, a, b, c, bias) }),
      destroy: () => k.destroy(),
    };
  };
}
