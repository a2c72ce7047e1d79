/**
 * float64 reference for Muon (src/kernels/muon.ts, src/train/muon.ts): NS5 written literally, with the explicit
 * transposes the GPU version avoids, and one Muon step on a region of flat buffers.
 */
import { NS5_COEFFICIENTS, NS5_EPS, NS5_STEPS } from '../../src/kernels/muon';
import type { MuonHyper, MuonRegion } from '../../src/train/muon';

/** Xᵀ of a row-major (rows, cols) matrix: (cols, rows). */
export function transpose(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j];
  return out;
}

/** X (m, k) · Y (k, n), row-major. */
function mul(x: ArrayLike<number>, y: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let l = 0; l < k; l++) {
      const v = x[i * k + l];
      for (let j = 0; j < n; j++) out[i * n + j] += v * y[l * n + j];
    }
  }
  return out;
}

/** X = G / (‖G‖_F + eps); if rows > cols work on Xᵀ; 5 × (A = X·Xᵀ; B = b·A + c·A·A; X = a·X + B·X); transpose back. */
export function newtonSchulz5Ref(g: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const { a, b, c } = NS5_COEFFICIENTS;
  let norm = 0;
  for (let i = 0; i < rows * cols; i++) norm += g[i] * g[i];
  norm = Math.sqrt(norm);
  let x: Float64Array = Float64Array.from({ length: rows * cols }, (_, i) => g[i] / (norm + NS5_EPS));
  const tall = rows > cols;
  if (tall) x = transpose(x, rows, cols);
  const [r, k] = tall ? [cols, rows] : [rows, cols]; // X is (r, k), r ≤ k
  for (let step = 0; step < NS5_STEPS; step++) {
    const A = mul(x, transpose(x, r, k), r, k, r);
    const AA = mul(A, A, r, r, r);
    const B = A.map((v, i) => b * v + c * AA[i]);
    const BX = mul(B, x, r, r, k);
    x = x.map((v, i) => a * v + BX[i]);
  }
  return tall ? transpose(x, r, k) : x;
}

export interface MuonState {
  params: Float64Array;
  momentum: Float64Array;
}

/**
 * One Muon step on the region of flat buffers: m = μ·m + g; u = g + μ·m; O = NS5(u);
 * W = W − lr·wd·W − lr·√max(1, cols/rows)·O (W stored (in, out): the scale is √max(1, fan_out/fan_in)). Everything outside the region is copied unchanged.
 */
export function muonStepRef(state: MuonState, grads: ArrayLike<number>, region: MuonRegion, h: MuonHyper): MuonState {
  const { offset, rows, cols } = region;
  const n = rows * cols;
  const params = Float64Array.from(state.params);
  const momentum = Float64Array.from(state.momentum);
  const u = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const j = offset + i;
    momentum[j] = h.momentum * momentum[j] + grads[j];
    u[i] = grads[j] + h.momentum * momentum[j];
  }
  const o = newtonSchulz5Ref(u, rows, cols);
  const scale = Math.sqrt(Math.max(1, cols / rows));
  for (let i = 0; i < n; i++) {
    const j = offset + i;
    params[j] = params[j] - h.lr * h.weightDecay * params[j] - h.lr * scale * o[i];
  }
  return { params, momentum };
}
