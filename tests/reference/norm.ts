/** float64 references for shaders/norm.wgsl (RMSNorm, LayerNorm). x (N, C) row-major, weight or gain (C), bias (C). */

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

export interface LayerNormRefResult {
  y: Float64Array;
  mean: Float64Array;
  rstd: Float64Array;
}

/** y = (x − mean) · rstd · gain + bias, rstd = 1/√(var + eps) per row, var the biased variance (as PyTorch). */
export function layernormRef(
  x: ArrayLike<number>,
  gain: ArrayLike<number>,
  bias: ArrayLike<number>,
  N: number,
  C: number,
  eps = 1e-5,
): LayerNormRefResult {
  const y = new Float64Array(N * C);
  const mean = new Float64Array(N);
  const rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let j = 0; j < C; j++) s += x[n * C + j];
    const mu = s / C;
    let ss = 0;
    for (let j = 0; j < C; j++) ss += (x[n * C + j] - mu) ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    mean[n] = mu;
    rstd[n] = r;
    for (let j = 0; j < C; j++) y[n * C + j] = (x[n * C + j] - mu) * r * gain[j] + bias[j];
  }
  return { y, mean, rstd };
}

export interface LayerNormBackwardRefResult {
  dx: Float64Array;
  dgain: Float64Array;
  dbias: Float64Array;
}

/**
 * Gradients of layernormRef given dy, using the saved `mean` and `rstd` (as the kernel does): x̂ = (x − mean)·rstd,
 * g = gain·dy, dx = rstd·(g − Σg/C − x̂·(g·x̂)/C), dgain = Σ_rows dy·x̂, dbias = Σ_rows dy.
 */
export function layernormBackwardRef(
  x: ArrayLike<number>,
  gain: ArrayLike<number>,
  mean: ArrayLike<number>,
  rstd: ArrayLike<number>,
  dy: ArrayLike<number>,
  N: number,
  C: number,
): LayerNormBackwardRefResult {
  const dx = new Float64Array(N * C);
  const dgain = new Float64Array(C);
  const dbias = new Float64Array(C);
  const xh = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const r = rstd[n];
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < C; j++) {
      const i = n * C + j;
      xh[j] = (x[i] - mean[n]) * r;
      const g = gain[j] * dy[i];
      sg += g;
      sgx += g * xh[j];
    }
    for (let j = 0; j < C; j++) {
      const i = n * C + j;
      dx[i] = r * (gain[j] * dy[i] - sg / C - xh[j] * (sgx / C));
      dgain[j] += dy[i] * xh[j];
      dbias[j] += dy[i];
    }
  }
  return { dx, dgain, dbias };
}

/** out[j] = Σ_rows x[r, j] (+ out0[j] when given): ColumnSum, a linear's bias gradient. */
export function columnSumRef(x: ArrayLike<number>, rows: number, cols: number, out0?: ArrayLike<number>): Float64Array {
  const out = Float64Array.from({ length: cols }, (_, j) => out0?.[j] ?? 0);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) out[j] += x[r * cols + j];
  return out;
}
