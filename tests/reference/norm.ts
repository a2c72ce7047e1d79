/** float64 references for shaders/norm.wgsl (RMSNorm). x (N, C) row-major, weight (C). */

export interface RmsNormRefResult {
  y: Float64Array;
  rstd: Float64Array;
}

/** y = x · rstd · w, rstd = 1/√(mean(x²) + eps) per row. */
export function rmsnormRef(x: ArrayLike<number>, weight: ArrayLike<number>, N: number, C: number, eps = 1e-5): RmsNormRefResult {
  const y = new Float64Array(N * C);
  const rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let j = 0; j < C; j++) ss += x[n * C + j] * x[n * C + j];
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = r;
    for (let j = 0; j < C; j++) y[n * C + j] = x[n * C + j] * r * weight[j];
  }
  return { y, rstd };
}

export interface RmsNormBackwardRefResult {
  dx: Float64Array;
  dweight: Float64Array;
}

/**
 * Gradients of rmsnormRef given dy, using the saved `rstd` (as the kernel does):
 * g = w·dy, dx = rstd·g − x·rstd³·(g·x)/C, dweight = Σ_rows dy·x·rstd.
 */
export function rmsnormBackwardRef(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  rstd: ArrayLike<number>,
  dy: ArrayLike<number>,
  N: number,
  C: number,
): RmsNormBackwardRefResult {
  const dx = new Float64Array(N * C);
  const dweight = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const r = rstd[n];
    let dot = 0;
    for (let j = 0; j < C; j++) dot += weight[j] * dy[n * C + j] * x[n * C + j];
    for (let j = 0; j < C; j++) {
      const i = n * C + j;
      dx[i] = r * weight[j] * dy[i] - x[i] * r * r * r * (dot / C);
      dweight[j] += dy[i] * x[i] * r;
    }
  }
  return { dx, dweight };
}
