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

/** Learned positions: rows n = b·T + t take wpe[t + offset]; wpe (contextLength, C). */
export interface PositionsRef {
  T: number;
  offset: number;
}

/** x[n] = embeddingRef's row + wpe[n mod T + offset] (out-of-range tokens get their position's row alone). */
export function embeddingWithPositionsRef(
  tokens: ArrayLike<number>,
  wte: ArrayLike<number>,
  wpe: ArrayLike<number>,
  V: number,
  C: number,
  { T, offset }: PositionsRef,
): Float64Array {
  const x = embeddingRef(tokens, wte, V, C);
  for (let n = 0; n < tokens.length; n++) {
    const p = (n % T) + offset;
    for (let j = 0; j < C; j++) x[n * C + j] += wpe[p * C + j];
  }
  return x;
}

/** dwpe (a copy of `dwpe0`, contextLength·C floats) with rows t + offset += Σ_b dx[b·T + t]. */
export function positionEmbeddingBackwardRef(dx: ArrayLike<number>, C: number, { T, offset }: PositionsRef, dwpe0: ArrayLike<number>): Float64Array {
  const dwpe = Float64Array.from(dwpe0);
  const N = dx.length / C;
  for (let n = 0; n < N; n++) {
    const p = (n % T) + offset;
    for (let j = 0; j < C; j++) dwpe[p * C + j] += dx[n * C + j];
  }
  return dwpe;
}
