/** float64 references for shaders/elementwise.wgsl: the plain math, one loop each. */

export function fillRef(n: number, value: number): Float64Array {
  return new Float64Array(n).fill(value);
}

/** Residual add: out = a + b. Backward: da = db = dout. */
export function addRef(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

/** x · value. */
export function scaleRef(x: ArrayLike<number>, value: number): Float64Array {
  return Float64Array.from(x, (v) => v * value);
}

/** y + value · x. */
export function axpyRef(value: number, x: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  return Float64Array.from(y, (v, i) => v + value * x[i]);
}

const GELU_S = Math.sqrt(2 / Math.PI);
const GELU_K = 0.044715;

/**
 * gelu(x) = 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³), elementwise; evaluated as x·σ(2u) (the same
 * function: 1 + tanh(u) = 2σ(2u)) because 1 + tanh(u) cancels to 0 in float64 too once u < −19.
 */
export function geluRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => v / (1 + Math.exp(-2 * GELU_S * (v + GELU_K * v * v * v))));
}

/** dx = gelu'(x) · dy, gelu'(x) = s + 2x·s(1 − s)·√(2/π)·(1 + 3·0.044715·x²) with s = σ(2u), 1 − s = e^(−2u)·s. */
export function geluBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v, i) => {
    const e = Math.exp(-2 * GELU_S * (v + GELU_K * v * v * v));
    const s = 1 / (1 + e);
    const oneMinusS = e === Infinity ? 1 : e * s;
    const grad = s + 2 * v * s * oneMinusS * GELU_S * (1 + 3 * GELU_K * v * v);
    return grad * dy[i];
  });
}

/** The textbook tanh form, for the unit test that ties geluRef to it. */
export function geluTanhForm(v: number): number {
  return 0.5 * v * (1 + Math.tanh(GELU_S * (v + GELU_K * v * v * v)));
}

const sigmoid = (g: number): number => 1 / (1 + Math.exp(-g));

/** inp (N, 2H) = [gate | up] per row → out (N, H) = silu(gate) · up, silu(g) = g·σ(g). */
export function swigluRef(inp: ArrayLike<number>, N: number, H: number): Float64Array {
  const out = new Float64Array(N * H);
  for (let r = 0; r < N; r++) {
    for (let j = 0; j < H; j++) {
      const g = inp[r * 2 * H + j];
      const u = inp[r * 2 * H + H + j];
      out[r * H + j] = g * sigmoid(g) * u;
    }
  }
  return out;
}

/** dinp (N, 2H) = [dout · up · silu'(gate) | dout · silu(gate)], silu'(g) = σ(g)·(1 + g·(1 − σ(g))). */
export function swigluBackwardRef(inp: ArrayLike<number>, dout: ArrayLike<number>, N: number, H: number): Float64Array {
  const dinp = new Float64Array(N * 2 * H);
  for (let r = 0; r < N; r++) {
    for (let j = 0; j < H; j++) {
      const g = inp[r * 2 * H + j];
      const u = inp[r * 2 * H + H + j];
      const d = dout[r * H + j];
      const s = sigmoid(g);
      dinp[r * 2 * H + j] = d * u * s * (1 + g * (1 - s));
      dinp[r * 2 * H + H + j] = d * g * s;
    }
  }
  return dinp;
}

export interface RopeRefShape {
  B: number;
  T: number;
  NH: number;
  HS: number;
  theta?: number;
  posOffset?: number;
  /** Elements between consecutive (b, t) rows, default NH·HS. */
  rowStride?: number;
  /** First element, default 0. */
  offset?: number;
}

/**
 * Rotary embedding, GPT-NeoX pairs: for head h at (b, t), pair (i, i + HS/2), angle (t + posOffset)·theta^(−2i/HS):
 * y_i = x_i cos − x_{i+HS/2} sin, y_{i+HS/2} = x_i sin + x_{i+HS/2} cos. `inverse` rotates by −angle (the backward).
 * Returns a copy of x with the rotated elements replaced (elements outside the heads keep their values).
 */
export function ropeRef(x: ArrayLike<number>, shape: RopeRefShape, inverse = false): Float64Array {
  const { B, T, NH, HS } = shape;
  const theta = shape.theta ?? 10000;
  const posOffset = shape.posOffset ?? 0;
  const rowStride = shape.rowStride ?? NH * HS;
  const offset = shape.offset ?? 0;
  const half = HS / 2;
  const out = Float64Array.from(x);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < NH; h++) {
        const base = offset + (b * T + t) * rowStride + h * HS;
        for (let i = 0; i < half; i++) {
          const angle = (t + posOffset) * Math.pow(theta, (-2 * i) / HS);
          const c = Math.cos(angle);
          const s = inverse ? -Math.sin(angle) : Math.sin(angle);
          const x1 = x[base + i];
          const x2 = x[base + half + i];
          out[base + i] = x1 * c - x2 * s;
          out[base + half + i] = x1 * s + x2 * c;
        }
      }
    }
  }
  return out;
}
