/** float64 references for shaders/elementwise.wgsl. */

export function fillRef(n: number, value: number): Float64Array {
  return new Float64Array(n).fill(value);
}

/** Residual add: out = a + b. Backward: da = db = dout. */
export function addRef(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}
