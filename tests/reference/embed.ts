/** float64 references for shaders/embed.wgsl. tokens (N), wte (V, C), x (N, C), row-major. */

/** x[n] = wte[tokens[n]]; a zero row where tokens[n] >= V (the kernel's documented out-of-range rule). */
export function embeddingRef(tokens: ArrayLike<number>, wte: ArrayLike<number>, V: number, C: number): Float64Array {
  const N = tokens.length;
  const x = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    const t = tokens[n];
    if (t >= V) continue;
    for (let j = 0; j < C; j++) x[n * C + j] = wte[t * C + j];
  }
  return x;
}

/** dwte (a copy of `dwte0`, default zeros) += Σ_{n: tokens[n] = v < V} dx[n]. */
export function embeddingBackwardRef(
  tokens: ArrayLike<number>,
  dx: ArrayLike<number>,
  V: number,
  C: number,
  dwte0?: ArrayLike<number>,
): Float64Array {
  const dwte = dwte0 ? Float64Array.from(dwte0) : new Float64Array(V * C);
  for (let n = 0; n < tokens.length; n++) {
    const t = tokens[n];
    if (t >= V) continue;
    for (let j = 0; j < C; j++) dwte[t * C + j] += dx[n * C + j];
  }
  return dwte;
}
