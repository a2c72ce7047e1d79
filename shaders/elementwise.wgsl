// elementwise: pointwise ops over dense float32 arrays, forward and backward side by side.
// Algorithm: one invocation per element, or per 4 elements when VEC is 4 (V = vec4<f32>: 16-byte loads and
// stores, a quarter of the invocations; used when every length and offset involved is a multiple of 4).
// The 1D grid is folded into x/y when it exceeds the per-dimension workgroup limit
// (index = (wid.x + wid.y * nwg.x) * WG + lid.x).
// Layout: row-major, innermost dimension last. Counts in the uniforms are in units of V, not floats.
// Entry points (one per module variant, chosen by the flag of the same name):
//   fill                  out = value
//   add                   out = a + b                                  (residual; backward: da = db = dout)
//   scale                 x = value * x                                 (in place)
//   axpy                  y = y + value * x                             (gradient accumulation)
//   gelu_forward          out = gelu(x), tanh approximation
//   gelu_backward         dx = gelu'(x) * dy; in place over dy when INPLACE
//   swiglu_forward        inp (N, 2H) = [gate | up] per row; out (N, H) = silu(gate) * up
//   swiglu_backward       dinp (N, 2H) = [dout * up * silu'(gate) | dout * silu(gate)]
//   rope                  rotary embedding on (B, T, NH, HS) pairs (i, i + HS/2); SIGN -1 is the backward
//                         (inverse rotation); in place over x when INPLACE

const WG: u32 = ${WG}u;
alias V = ${VT};

fn flat_index(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid.x;
}

fn sigmoid(g: V) -> V {
  return 1.0 / (1.0 + exp(-g));
}

#if ${SIMPLE}
// fill, add, scale, axpy, gelu: n elements (of V), one scalar operand.
struct Params {
  n: u32,
  value: f32,
  _pad0: u32,
  _pad1: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
#endif

#if ${FILL}
@group(0) @binding(1) var<storage, read_write> out_fill: array<V>;

@compute @workgroup_size(WG)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  if (i < params.n) { out_fill[i] = V(params.value); }
}
#endif

#if ${ADD}
@group(0) @binding(1) var<storage, read> a: array<V>;
@group(0) @binding(2) var<storage, read> b: array<V>;
@group(0) @binding(3) var<storage, read_write> out_add: array<V>;

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  if (i < params.n) { out_add[i] = a[i] + b[i]; }
}
#endif

#if ${SCALE}
@group(0) @binding(1) var<storage, read_write> x_scale: array<V>;

@compute @workgroup_size(WG)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  if (i < params.n) { x_scale[i] = params.value * x_scale[i]; }
}
#endif

#if ${AXPY}
@group(0) @binding(1) var<storage, read> x_axpy: array<V>;
@group(0) @binding(2) var<storage, read_write> y_axpy: array<V>;

@compute @workgroup_size(WG)
fn axpy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  if (i < params.n) { y_axpy[i] = y_axpy[i] + params.value * x_axpy[i]; }
}
#endif

#if ${GELU}
// gelu(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), evaluated as x * s with s = sigmoid(2u)
// (1 + tanh(u) = 2 sigmoid(2u)): no 1 + tanh cancellation, so the negative tail keeps its relative accuracy
// (at x = -5, 1 + tanh(u) is 9e-8 and a float32 tanh rounds it to 0), and it saturates without inf / inf.
const GELU_S: f32 = 0.7978845608028654;
const GELU_K: f32 = 0.044715;

fn gelu(x: V) -> V {
  let u = GELU_S * (x + GELU_K * x * x * x);
  return x / (1.0 + exp(-2.0 * u));
}

// d gelu / dx = s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 * 0.044715 x^2), s = sigmoid(2u), 1 - s = exp(-2u) s.
// x and u are clamped first: beyond |x| = 30 the gradient is 0 or 1 to float32 precision, x * x would overflow
// for |x| > 1.8e19 (0 * inf = NaN), and exp(-2u) stays finite for |u| <= 40.
fn gelu_grad(x_in: V) -> V {
  let x = clamp(x_in, V(-30.0), V(30.0));
  let u = clamp(GELU_S * (x + GELU_K * x * x * x), V(-40.0), V(40.0));
  let e = exp(-2.0 * u);
  let s = 1.0 / (1.0 + e);
  return s + 2.0 * x * s * (e * s) * GELU_S * (1.0 + 3.0 * GELU_K * x * x);
}
#endif

#if ${GELU_FORWARD}
@group(0) @binding(1) var<storage, read> x_gelu: array<V>;
@group(0) @binding(2) var<storage, read_write> out_gelu: array<V>;

@compute @workgroup_size(WG)
fn gelu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  if (i < params.n) { out_gelu[i] = gelu(x_gelu[i]); }
}
#endif

#if ${GELU_BACKWARD}
@group(0) @binding(1) var<storage, read> x_gelu: array<V>;
#if ${INPLACE}
@group(0) @binding(2) var<storage, read_write> dy_dx: array<V>;
#else
@group(0) @binding(2) var<storage, read> dy_gelu: array<V>;
@group(0) @binding(3) var<storage, read_write> dx_gelu: array<V>;
#endif

@compute @workgroup_size(WG)
fn gelu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.n) { return; }
#if ${INPLACE}
  dy_dx[i] = gelu_grad(x_gelu[i]) * dy_dx[i];
#else
  dx_gelu[i] = gelu_grad(x_gelu[i]) * dy_gelu[i];
#endif
}
#endif

#if ${SWIGLU}
// n = N * H / VEC outputs; hv = H / VEC. Row r of inp holds gate at [r * 2hv, r * 2hv + hv) and up after it.
struct SwigluParams {
  n: u32,
  hv: u32,
  _pad0: u32,
  _pad1: u32,
}
@group(0) @binding(0) var<uniform> sp: SwigluParams;
@group(0) @binding(1) var<storage, read> inp: array<V>;
#endif

#if ${SWIGLU_FORWARD}
@group(0) @binding(2) var<storage, read_write> out_swiglu: array<V>;

@compute @workgroup_size(WG)
fn swiglu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  if (i >= sp.n) { return; }
  let row = i / sp.hv;
  let g_at = i + row * sp.hv; // row * 2hv + (i - row * hv)
  let g = inp[g_at];
  let u = inp[g_at + sp.hv];
  out_swiglu[i] = g * sigmoid(g) * u;
}
#endif

#if ${SWIGLU_BACKWARD}
@group(0) @binding(2) var<storage, read> dout_swiglu: array<V>;
@group(0) @binding(3) var<storage, read_write> dinp: array<V>;

@compute @workgroup_size(WG)
fn swiglu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  if (i >= sp.n) { return; }
  let row = i / sp.hv;
  let g_at = i + row * sp.hv;
  let g = inp[g_at];
  let u = inp[g_at + sp.hv];
  let d = dout_swiglu[i];
  let s = sigmoid(g);
  // silu'(g) = s (1 + g (1 - s))
  dinp[g_at] = d * u * s * (1.0 + g * (1.0 - s));
  dinp[g_at + sp.hv] = d * g * s;
}
#endif

#if ${ROPE}
// One invocation per VEC pairs. Pair i of head h at (b, t): elements base + i and base + half + i, with
// base = offset + (b * T + t) * row_stride + h * HS (all in units of V). Angle = pos * inv_freq_i,
// pos = t + pos_offset. freqs holds inv_freq_i / (2 pi) split as hi (at i) + lo (at half + i): hi has few
// enough mantissa bits that pos * hi is exact for pos < 2^14, so the angle is reduced to a fraction of a turn
// without the float32 rounding of pos * inv_freq (1e-4 rad by pos ~ 1000). sin and cos are polynomials on
// [-pi/4, pi/4] plus a quadrant swap: WGSL's builtins only promise 2^-11 absolute error (SwiftShader is
// near that), which alone would put RoPE's error at 1e-4.
struct RopeParams {
  n: u32,          // B * T * NH * half, in units of V
  half: u32,       // HS / 2 / VEC
  nh: u32,
  t_len: u32,
  row_stride: u32, // between consecutive (b, t) rows, in units of V
  offset: u32,     // first element, in units of V
  pos_offset: u32,
  sign: f32,       // +1 forward, -1 backward
}
@group(0) @binding(0) var<uniform> rp: RopeParams;
@group(0) @binding(1) var<storage, read> freqs: array<V>;
#if ${INPLACE}
@group(0) @binding(2) var<storage, read_write> x_rope: array<V>;
#else
@group(0) @binding(2) var<storage, read> x_rope: array<V>;
@group(0) @binding(3) var<storage, read_write> out_rope: array<V>;
#endif

const TWO_PI: f32 = 6.283185307179586;

struct SinCos {
  s: V,
  c: V,
}

// sin and cos of 2 pi turns to ~1e-7: reduce to r in [-1/8, 1/8] turn around the nearest quarter q, evaluate
// Taylor polynomials (truncation < 2e-9 on [-pi/4, pi/4]), then rotate by q quarter turns.
fn sin_cos_turns(turns: V) -> SinCos {
  let q = round(4.0 * (turns - round(turns)));   // nearest quarter turn, in [-2, 2]
  let a = TWO_PI * (turns - round(turns) - 0.25 * q);
  let a2 = a * a;
  let sa = a * (1.0 + a2 * (-1.0 / 6.0 + a2 * (1.0 / 120.0 + a2 * (-1.0 / 5040.0 + a2 * (1.0 / 362880.0)))));
  let ca = 1.0 + a2 * (-0.5 + a2 * (1.0 / 24.0 + a2 * (-1.0 / 720.0 + a2 * (1.0 / 40320.0 + a2 * (-1.0 / 3628800.0)))));
  let qm = q - 4.0 * floor(0.25 * q);             // quadrant in 0..3
  let odd = (qm == V(1.0)) | (qm == V(3.0));
  let s = select(sa, ca, odd);
  let c = select(ca, sa, odd);
  return SinCos(select(s, -s, qm >= V(2.0)), select(c, -c, (qm == V(1.0)) | (qm == V(2.0))));
}

@compute @workgroup_size(WG)
fn rope(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let idx = flat_index(wid, nwg, lid);
  if (idx >= rp.n) { return; }
  let i = idx % rp.half;
  let head_row = idx / rp.half;  // (b * T + t) * NH + h
  let h = head_row % rp.nh;
  let bt = head_row / rp.nh;
  let t = bt % rp.t_len;
  let base = rp.offset + bt * rp.row_stride + h * 2u * rp.half;
  let pos = f32(t + rp.pos_offset);
  let turns = fract(pos * freqs[i]) + pos * freqs[rp.half + i];
  let sc = sin_cos_turns(turns);
  let c = sc.c;
  let s = rp.sign * sc.s;
  let x1 = x_rope[base + i];
  let x2 = x_rope[base + rp.half + i];
#if ${INPLACE}
  x_rope[base + i] = x1 * c - x2 * s;
  x_rope[base + rp.half + i] = x1 * s + x2 * c;
#else
  out_rope[base + i] = x1 * c - x2 * s;
  out_rope[base + rp.half + i] = x1 * s + x2 * c;
#endif
}
#endif
