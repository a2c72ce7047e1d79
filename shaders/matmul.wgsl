// matmul: C[b] (M, N) = alpha * op(A[b]) (M, K) * op(B[b]) (K, N) [+ bias[b] (N)] [+ C[b]], for b < batch.
// Layout: every matrix row-major; op(A) = A stored (M, K), or (K, M) with the TRANS_A flag; op(B) = B stored
// (K, N), or (N, K) with TRANS_B. Matrix b of X starts at offsetX + b * strideX elements (stride 0 broadcasts).
// Entry points:
//   matmul_naive  one invocation per output; the clean slow path the fast one is checked against.
//   matmul_tiled  a workgroup of WG_X x WG_Y invocations computes a BM x BN tile of C (BM = WG_Y*TM,
//                 BN = WG_X*TN). Each invocation holds a TM x TN register block as 4x4 blocks (mat4x4): rows
//                 ty*TM .. ty*TM+TM-1 of the tile, column quads tx + j*WG_X (neighbours touch neighbouring
//                 quads). K is walked BK at a time: the A (BK, BM) and B (BK, BN) slices are staged k-major
//                 in workgroup memory as vec4s (zero-padded outside the matrices), then each k step is an
//                 outer product of an A column fragment and a B row fragment.
// Template parameters: tile sizes and VEC4, which binds A, B, C and bias as vec4 arrays (the wrapper picks it
// when the contiguous dimensions, offsets and strides are multiples of 4); otherwise every load is scalar and
// bounds-checked. Bias, accumulate and the two transposes are runtime flags: each pipeline costs seconds to
// compile on SwiftShader (the unrolled register block, not the staging, is what costs), and a uniform branch per
// staged slice or epilogue costs nothing measurable; so one variant per tiling and VEC4 serves every product.
// SUBGROUP_A (SwiftShader: subgroups of 4 consecutive invocations, which share ty when WG_X % 4 == 0): A is
// staged as scalars, each lane reads a quarter of the A fragment and subgroupBroadcast hands it to the others,
// since a CPU adapter pays for every workgroup-memory read per lane (about 15% faster there).
// Stores are masked to (M, N), so any shape is valid.

#if ${SUBGROUP_A}
enable subgroups;
#endif

struct Params {
  M: u32, N: u32, K: u32, batch: u32,
  strideA: u32, strideB: u32, strideC: u32, strideBias: u32,
  offsetA: u32, offsetB: u32, offsetC: u32, offsetBias: u32,
  alpha: f32,
  flags: u32,        // bit 0: add the bias; bit 1: accumulate into C; bit 2: A transposed; bit 3: B transposed
                     // (runtime, so they add no pipelines: one variant serves every transpose)
  _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

#if ${VEC4}
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;
#else
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
#endif
// Without a bias the wrapper binds a small placeholder buffer here.
#if ${VEC4}
@group(0) @binding(4) var<storage, read> bias: array<vec4<f32>>;
#else
@group(0) @binding(4) var<storage, read> bias: array<f32>;
#endif

const HAS_BIAS: u32 = 1u;
const ACCUMULATE: u32 = 2u;
const TRANS_A: u32 = 4u;
const TRANS_B: u32 = 8u;

fn trans_a() -> bool { return (p.flags & TRANS_A) != 0u; }
fn trans_b() -> bool { return (p.flags & TRANS_B) != 0u; }

// Element offset of (m, k) of op(A), relative to its matrix.
fn a_at(m: u32, k: u32) -> u32 {
  return select(m * p.K + k, k * p.M + m, trans_a());
}

// Element offset of (k, n) of op(B), relative to its matrix.
fn b_at(k: u32, n: u32) -> u32 {
  return select(k * p.N + n, n * p.K + k, trans_b());
}

#if ${NAIVE}
@compute @workgroup_size(16, 16)
fn matmul_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let m = gid.y;
  let t = gid.z;
  if (m >= p.M || n >= p.N) { return; }
  let baseA = p.offsetA + t * p.strideA;
  let baseB = p.offsetB + t * p.strideB;
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
    acc += a[baseA + a_at(m, k)] * b[baseB + b_at(k, n)];
  }
  var v = p.alpha * acc;
  if ((p.flags & HAS_BIAS) != 0u) { v += bias[p.offsetBias + t * p.strideBias + n]; }
  let i = p.offsetC + t * p.strideC + m * p.N + n;
  if ((p.flags & ACCUMULATE) != 0u) { v += c[i]; }
  c[i] = v;
}
#else

const WG_X: u32 = ${WG_X}u;
const WG_Y: u32 = ${WG_Y}u;
const TM: u32 = ${TM}u;        // rows per invocation: 4, 8 or 16
const TN: u32 = ${TN}u;        // columns per invocation: 4 or 8
const BK: u32 = ${BK}u;        // a multiple of 4
const BM: u32 = WG_Y * TM;
const BN: u32 = WG_X * TN;
const BM4: u32 = BM / 4u;
const BN4: u32 = BN / 4u;
const WG_SIZE: u32 = WG_X * WG_Y;

#if ${SUBGROUP_A}
var<workgroup> As: array<f32, BK * BM>;          // (BK, BM): As[k * BM + m] = op(A)[m0 + m, k0 + k]
fn put_a(k: u32, m: u32, v: f32) { As[k * BM + m] = v; }
fn put_a4(k: u32, m: u32, v: vec4<f32>) { for (var j = 0u; j < 4u; j++) { As[k * BM + m + j] = v[j]; } }
#else
var<workgroup> As: array<vec4<f32>, BK * BM4>;   // (BK, BM): As[k * BM4 + m / 4][m % 4] = op(A)[m0 + m, k0 + k]
fn put_a(k: u32, m: u32, v: f32) { As[k * BM4 + m / 4u][m % 4u] = v; }
fn put_a4(k: u32, m: u32, v: vec4<f32>) { As[k * BM4 + m / 4u] = v; }
#endif
var<workgroup> Bs: array<vec4<f32>, BK * BN4>;   // (BK, BN): Bs[k * BN4 + n / 4][n % 4] = op(B)[k0 + k, n0 + n]

// Scalar access to C and the bias whatever the binding type.
fn c_get(i: u32) -> f32 {
#if ${VEC4}
  return c[i / 4u][i % 4u];
#else
  return c[i];
#endif
}
fn c_set(i: u32, v: f32) {
#if ${VEC4}
  c[i / 4u][i % 4u] = v;
#else
  c[i] = v;
#endif
}
fn bias_get(i: u32) -> f32 {
#if ${VEC4}
  return bias[i / 4u][i % 4u];
#else
  return bias[i];
#endif
}

// Copies op(A)[m0 .. m0+BM, k0 .. k0+BK] and op(B)[k0 .. k0+BK, n0 .. n0+BN] into As and Bs, zero-padded.
// Neighbouring invocations read neighbouring words of the stored layout; vec4 reads along it when VEC4.
fn stage(lid: u32, baseA: u32, baseB: u32, m0: u32, n0: u32, k0: u32) {
#if ${VEC4}
  if (trans_a()) {
  for (var e = lid; e < BK * BM4; e += WG_SIZE) {        // A (K, M): quads along m, stored as they are
    let kk = e / BM4;
    let mm = (e % BM4) * 4u;
    let k = k0 + kk;
    let m = m0 + mm;
    put_a4(kk, mm, select(vec4<f32>(0.0), a[(baseA + k * p.M + m) / 4u], k < p.K && m < p.M));
  }
  } else {
  for (var e = lid; e < BM * (BK / 4u); e += WG_SIZE) {  // A (M, K): quads along k, scattered to 4 rows of As
    let kk = (e % (BK / 4u)) * 4u;
    let mm = e / (BK / 4u);
    let k = k0 + kk;
    let m = m0 + mm;
    let v = select(vec4<f32>(0.0), a[(baseA + m * p.K + k) / 4u], k < p.K && m < p.M);
    for (var j = 0u; j < 4u; j++) { put_a(kk + j, mm, v[j]); }
  }
  }
  if (trans_b()) {
  for (var e = lid; e < BN * (BK / 4u); e += WG_SIZE) {  // B (N, K): quads along k, scattered to 4 rows of Bs
    let kk = (e % (BK / 4u)) * 4u;
    let nn = e / (BK / 4u);
    let k = k0 + kk;
    let n = n0 + nn;
    let v = select(vec4<f32>(0.0), b[(baseB + n * p.K + k) / 4u], k < p.K && n < p.N);
    for (var j = 0u; j < 4u; j++) { Bs[(kk + j) * BN4 + nn / 4u][nn % 4u] = v[j]; }
  }
  } else {
  for (var e = lid; e < BK * BN4; e += WG_SIZE) {        // B (K, N): quads along n, stored as they are
    let kk = e / BN4;
    let nn = (e % BN4) * 4u;
    let k = k0 + kk;
    let n = n0 + nn;
    Bs[e] = select(vec4<f32>(0.0), b[(baseB + k * p.N + n) / 4u], k < p.K && n < p.N);
  }
  }
#else
  let ta = trans_a();
  let tb = trans_b();
  for (var e = lid; e < BM * BK; e += WG_SIZE) {
    let mm = select(e / BK, e % BM, ta);
    let kk = select(e % BK, e / BM, ta);
    let m = m0 + mm;
    let k = k0 + kk;
    put_a(kk, mm, select(0.0, a[baseA + a_at(m, k)], m < p.M && k < p.K));
  }
  for (var e = lid; e < BK * BN; e += WG_SIZE) {
    let kk = select(e / BN, e % BK, tb);
    let nn = select(e % BN, e / BK, tb);
    let k = k0 + kk;
    let n = n0 + nn;
    Bs[kk * BN4 + nn / 4u][nn % 4u] = select(0.0, b[baseB + b_at(k, n)], k < p.K && n < p.N);
  }
#endif
}

// Rows ty*TM + 4r .. +3 of the staged A slice at k.
fn frag_a(k: u32, ty: u32, r: u32, lane: u32) -> vec4<f32> {
#if ${SUBGROUP_A}
  let x = As[k * BM + ty * TM + 4u * r + lane];
  return vec4<f32>(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u));
#else
  return As[k * BM4 + ty * (TM / 4u) + r];
#endif
}
// Column quad tx + j*WG_X of the staged B slice at k.
fn frag_b(k: u32, tx: u32, j: u32) -> vec4<f32> {
  return Bs[k * BN4 + tx + j * WG_X];
}

// acc + outer(x, y): row r of the 4x4 block is column r of the matrix.
fn outer4(acc: mat4x4<f32>, x: vec4<f32>, y: vec4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(acc[0] + x.x * y, acc[1] + x.y * y, acc[2] + x.z * y, acc[3] + x.w * y);
}

// Register block: m<r><j> holds rows 4r .. 4r+3 of an invocation and its column quad j.
struct Acc {
  m00: mat4x4<f32>, m01: mat4x4<f32>,
  m10: mat4x4<f32>, m11: mat4x4<f32>,
  m20: mat4x4<f32>, m21: mat4x4<f32>,
  m30: mat4x4<f32>, m31: mat4x4<f32>,
}

// One k step: the invocation's A fragment times its B fragment, added to the register block.
fn step(acc: ptr<function, Acc>, k: u32, tx: u32, ty: u32, lane: u32) {
  let b0 = frag_b(k, tx, 0u);
#if ${TN8}
  let b1 = frag_b(k, tx, 1u);
#endif
  let a0 = frag_a(k, ty, 0u, lane);
  (*acc).m00 = outer4((*acc).m00, a0, b0);
#if ${TN8}
  (*acc).m01 = outer4((*acc).m01, a0, b1);
#endif
#if ${TM8}
  let a1 = frag_a(k, ty, 1u, lane);
  (*acc).m10 = outer4((*acc).m10, a1, b0);
#if ${TN8}
  (*acc).m11 = outer4((*acc).m11, a1, b1);
#endif
#endif
#if ${TM16}
  let a2 = frag_a(k, ty, 2u, lane);
  let a3 = frag_a(k, ty, 3u, lane);
  (*acc).m20 = outer4((*acc).m20, a2, b0);
  (*acc).m30 = outer4((*acc).m30, a3, b0);
#if ${TN8}
  (*acc).m21 = outer4((*acc).m21, a2, b1);
  (*acc).m31 = outer4((*acc).m31, a3, b1);
#endif
#endif
}

// Writes rows m .. m+3, columns n .. n+3 of C: alpha * acc [+ bias] [+ C], masked to (M, N).
fn store4(t: u32, m: u32, n: u32, acc: mat4x4<f32>) {
  if (n >= p.N) { return; }
  let biasAt = p.offsetBias + t * p.strideBias + n;
  let rowAt = p.offsetC + t * p.strideC + m * p.N + n;
  let addBias = (p.flags & HAS_BIAS) != 0u;
  let accumulate = (p.flags & ACCUMULATE) != 0u;
#if ${VEC4}
  // N is a multiple of 4: the quad is wholly inside.
  var bv = vec4<f32>();
  if (addBias) { bv = bias[biasAt / 4u]; }
  for (var r = 0u; r < 4u; r++) {
    if (m + r >= p.M) { return; }
    let i = (rowAt + r * p.N) / 4u;
    var v = p.alpha * acc[r] + bv;
    if (accumulate) { v += c[i]; }
    c[i] = v;
  }
#else
  for (var r = 0u; r < 4u; r++) {
    if (m + r >= p.M) { return; }
    for (var j = 0u; j < 4u; j++) {
      if (n + j < p.N) {
        let i = rowAt + r * p.N + j;
        var v = p.alpha * acc[r][j];
        if (addBias) { v += bias_get(biasAt + j); }
        if (accumulate) { v += c_get(i); }
        c_set(i, v);
      }
    }
  }
#endif
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
                @builtin(local_invocation_index) lid: u32,
#if ${SUBGROUP_A}
                @builtin(subgroup_invocation_id) lane: u32,
#endif
) {
#if ${SUBGROUP_A}
#else
  let lane = 0u;
#endif
  let tx = lid3.x;
  let ty = lid3.y;
  let t = wid.z;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let baseA = p.offsetA + t * p.strideA;
  let baseB = p.offsetB + t * p.strideB;
  var acc = Acc();

  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    stage(lid, baseA, baseB, m0, n0, k0);
    workgroupBarrier();
    // 4 steps per iteration: CPU adapters copy every loop-carried value (the whole register block) per
    // iteration, which costs as much as the arithmetic when done every step.
    for (var k = 0u; k < BK; k += 4u) {
      step(&acc, k, tx, ty, lane);
      step(&acc, k + 1u, tx, ty, lane);
      step(&acc, k + 2u, tx, ty, lane);
      step(&acc, k + 3u, tx, ty, lane);
    }
    workgroupBarrier();
  }

  let m = m0 + ty * TM;
  let n = n0 + tx * 4u;
  let n1 = n0 + (tx + WG_X) * 4u;
  store4(t, m, n, acc.m00);
#if ${TN8}
  store4(t, m, n1, acc.m01);
#endif
#if ${TM8}
  store4(t, m + 4u, n, acc.m10);
#if ${TN8}
  store4(t, m + 4u, n1, acc.m11);
#endif
#endif
#if ${TM16}
  store4(t, m + 8u, n, acc.m20);
  store4(t, m + 12u, n, acc.m30);
#if ${TN8}
  store4(t, m + 8u, n1, acc.m21);
  store4(t, m + 12u, n1, acc.m31);
#endif
#endif
}
#endif
