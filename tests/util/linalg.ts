/** Small float64 linear algebra for tests: symmetric eigenvalues by cyclic Jacobi, singular values through them. */

/**
 * Eigenvalues of the symmetric n × n matrix s (row-major; not modified), descending. Cyclic Jacobi: rotate away
 * each off-diagonal element in turn until the off-diagonal mass is negligible (converges quadratically).
 */
export function symmetricEigenvalues(s: ArrayLike<number>, n: number): Float64Array {
  const a = Float64Array.from({ length: n * n }, (_, i) => s[i]);
  const off = (): number => {
    let t = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) t += a[i * n + j] ** 2;
    return t;
  };
  let total = 0;
  for (let i = 0; i < n * n; i++) total += a[i] ** 2;
  for (let sweep = 0; sweep < 100 && off() > 1e-30 * total; sweep++) {
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        // The rotation (c, s) that zeroes a[p][q]: tan 2θ = 2·apq / (aqq − app), the smaller root for stability.
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const sn = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - sn * akq;
          a[k * n + q] = sn * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - sn * aqk;
          a[q * n + k] = sn * apk + c * aqk;
        }
      }
    }
  }
  return Float64Array.from({ length: n }, (_, i) => a[i * n + i]).sort((x, y) => y - x);
}

/**
 * The min(rows, cols) singular values of a row-major (rows, cols) matrix, descending: square roots of the
 * eigenvalues of the smaller Gram matrix (XᵀX or X·Xᵀ). Squaring limits accuracy to about 1e-8 · σ_max absolute.
 */
export function singularValues(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const tall = rows >= cols;
  const r = tall ? cols : rows;
  const gram = new Float64Array(r * r);
  for (let i = 0; i < r; i++) {
    for (let j = i; j < r; j++) {
      let t = 0;
      if (tall) for (let k = 0; k < rows; k++) t += x[k * cols + i] * x[k * cols + j];
      else for (let k = 0; k < cols; k++) t += x[i * cols + k] * x[j * cols + k];
      gram[i * r + j] = gram[j * r + i] = t;
    }
  }
  return symmetricEigenvalues(gram, r).map((e) => Math.sqrt(Math.max(e, 0)));
}
