// matmul: C[b] (M, N) = alpha * op(A[b]) (M, K) * op(B[b]) (K, N) [+ bias[b] (N)] [+ C[b]], for b < batch.
// Layout: every matrix row-major; op(A) = A stored (M, K), or (K, M) with TRANS_A; op(B) = B stored (K, N),
// or (N, K) with TRANS_B. Matrix b of X starts at offsetX + b * strideX elements (stride 0 broadcasts).
// Entry points:
//   matmul_naive  one invocation per output; the clean slow path the fast one is checked against.
//   matmul_tiled  a workgroup of WG_X x WG_Y invocations computes a BM x BN tile of C (BM = WG_Y*TM,
//                 BN = WG_X*TN); each invocation a TM x TN register block held as 4x4 blocks (mat4x4),
//                 rows ty*TM .. ty*TM+TM-1 of the tile. K is walked BK at a time.
//   Staging (template flags):
//     SHARED        A (BK, BM) and B (BK, BN) slices staged k-major in workgroup memory as vec4s; an
//                   invocation's columns are quads tx*4 + j*4*WG_X (neighbours read neighbouring quads). GPUs.
//     SHARED+ATOMIC the same slices as atomic<u32> words, an invocation's columns tx + c*WG_X. SwiftShader
//                   turns a plain load at a computed index into a per-lane gather, but an atomic load whose
//                   lanes share one address (the A fragment) into one load, and one whose lanes read
//                   consecutive words (the B fragment) into one vector load: several times fewer instructions.
//     neither       every invocation reads its fragments straight from the storage buffers (no barriers).
//   VEC4: bindings are vec4 arrays (the wrapper picks it when the contiguous dimension of A, B and C, and every
//   offset and stride, are multiples of 4); otherwise scalar loads, each bounds-checked.
// Out-of-range rows, columns and k read as 0 and stores are masked, so any shape is valid.

struct Params {
  M: u32, N: u32, K: u32, batch: u32,
  strideA: u32, strideB: u32, strideC: u32, strideBias: u32,
  offsetA: u32, offsetB: u32, offsetC: u32, offsetBias: u32,
  alpha: f32, _pad0: u32, _pad1: u32, _pad2: u32,
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
#if ${BIAS}
#if ${VEC4}
@group(0) @binding(4) var<storage, read> bias: array<vec4<f32>>;
#else
@group(0) @binding(4) var<storage, read> bias: array<f32>;
#endif
#endif

// Element offset of (m, k) of op(A), relative to its matrix.
fn a_at(m: u32, k: u32) -> u32 {
#if ${TRANS_A}
  return k * p.M + m;
#else
  return m * p.K + k;
#endif
}

// Element offset of (k, n) of op(B), relative to its matrix.
fn b_at(k: u32, n: u32) -> u32 {
#if ${TRANS_B}
  return n * p.K + k;
#else
  return k * p.N + n;
#endif
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
#if ${BIAS}
  v += bias[p.offsetBias + t * p.strideBias + n];
#endif
  let i = p.offsetC + t * p.strideC + m * p.N + n;
#if ${ACCUMULATE}
  v += c[i];
#endif
  c[i] = v;
}
#else

const WG_X: u32 = ${WG_X}u;
const WG_Y: u32 = ${WG_Y}u;
const TM: u32 = ${TM}u;        // rows per invocation: 4 or 8
const TN: u32 = ${TN}u;        // columns per invocation: 4 or 8
const BK: u32 = ${BK}u;
const BM: u32 = WG_Y * TM;
const BN: u32 = WG_X * TN;
const BM4: u32 = BM / 4u;
const BN4: u32 = BN / 4u;
const WG_SIZE: u32 = WG_X * WG_Y;

// acc + outer(x, y): row r of the 4x4 block is column r of the matrix.
fn outer4(acc: mat4x4<f32>, x: vec4<f32>, y: vec4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(acc[0] + x.x * y, acc[1] + x.y * y, acc[2] + x.z * y, acc[3] + x.w * y);
}

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
#if ${BIAS}
fn bias_get(i: u32) -> f32 {
#if ${VEC4}
  return bias[i / 4u][i % 4u];
#else
  return bias[i];
#endif
}
#endif

// op(A)[m, k] / op(B)[k, n] of the matrix at element `base`, 0 outside. Scalar bindings only.
fn a_elem(base: u32, m: u32, k: u32) -> f32 {
#if ${VEC4}
  return 0.0;
#else
  return select(0.0, a[base + a_at(m, k)], m < p.M && k < p.K);
#endif
}
fn b_elem(base: u32, k: u32, n: u32) -> f32 {
#if ${VEC4}
  return 0.0;
#else
  return select(0.0, b[base + b_at(k, n)], k < p.K && n < p.N);
#endif
}

#if ${SHARED}
#if ${ATOMIC}
const COL_STEP: u32 = WG_X;      // an invocation's columns are tx + c * WG_X
var<workgroup> As: array<atomic<u32>, BK * BM>;   // (BK, BM): As[k * BM + m] = op(A)[m, k]
var<workgroup> Bs: array<atomic<u32>, BK * BN>;   // (BK, BN): Bs[k * BN + n] = op(B)[k, n]
fn put_a(k: u32, m: u32, v: f32) { atomicStore(&As[k * BM + m], bitcast<u32>(v)); }
fn put_b(k: u32, n: u32, v: f32) { atomicStore(&Bs[k * BN + n], bitcast<u32>(v)); }
fn put_a4(k: u32, m: u32, v: vec4<f32>) { for (var j = 0u; j < 4u; j++) { put_a(k, m + j, v[j]); } }
fn put_b4(k: u32, n: u32, v: vec4<f32>) { for (var j = 0u; j < 4u; j++) { put_b(k, n + j, v[j]); } }
fn get_a(k: u32, m: u32) -> f32 { return bitcast<f32>(atomicLoad(&As[k * BM + m])); }
fn get_b(k: u32, n: u32) -> f32 { return bitcast<f32>(atomicLoad(&Bs[k * BN + n])); }
// Rows ty*TM + 4r .. +3 at k (the same address in every lane of a row of invocations).
fn frag_a(k: u32, ty: u32, r: u32) -> vec4<f32> {
  let m = ty * TM + 4u * r;
  return vec4<f32>(get_a(k, m), get_a(k, m + 1u), get_a(k, m + 2u), get_a(k, m + 3u));
}
// Columns tx + (4j + c) * WG_X at k (consecutive addresses across neighbouring invocations).
fn frag_b(k: u32, tx: u32, j: u32) -> vec4<f32> {
  let n = tx + 4u * j * WG_X;
  return vec4<f32>(get_b(k, n), get_b(k, n + WG_X), get_b(k, n + 2u * WG_X), get_b(k, n + 3u * WG_X));
}
#else
const COL_STEP: u32 = 1u;        // an invocation's columns are quads (tx + j * WG_X) * 4 + c
var<workgroup> As: array<vec4<f32>, BK * BM4>;   // (BK, BM): As[k * BM4 + m / 4][m % 4] = op(A)[m, k]
var<workgroup> Bs: array<vec4<f32>, BK * BN4>;   // (BK, BN): Bs[k * BN4 + n / 4][n % 4] = op(B)[k, n]
fn put_a(k: u32, m: u32, v: f32) { As[k * BM4 + m / 4u][m % 4u] = v; }
fn put_b(k: u32, n: u32, v: f32) { Bs[k * BN4 + n / 4u][n % 4u] = v; }
fn put_a4(k: u32, m: u32, v: vec4<f32>) { As[k * BM4 + m / 4u] = v; }
fn put_b4(k: u32, n: u32, v: vec4<f32>) { Bs[k * BN4 + n / 4u] = v; }
fn frag_a(k: u32, ty: u32, r: u32) -> vec4<f32> { return As[k * BM4 + ty * (TM / 4u) + r]; }
fn frag_b(k: u32, tx: u32, j: u32) -> vec4<f32> { return Bs[k * BN4 + tx + j * WG_X]; }
#endif

// Copies op(A)[m0 .. m0+BM, k0 .. k0+BK] and op(B)[k0 .. k0+BK, n0 .. n0+BN] into As and Bs, zero-padded.
// Neighbouring invocations read neighbouring elements of the stored layout.
fn stage(lid: u32, baseA: u32, baseB: u32, m0: u32, n0: u32, k0: u32) {
#if ${VEC4}
#if ${TRANS_A}
  for (var e = lid; e < BK * BM4; e += WG_SIZE) {        // A (K, M): quads along m
    let kk = e / BM4;
    let mm = (e % BM4) * 4u;
    let k = k0 + kk;
    let m = m0 + mm;
    put_a4(kk, mm, select(vec4<f32>(0.0), a[(baseA + k * p.M + m) / 4u], k < p.K && m < p.M));
  }
#else
  for (var e = lid; e < BM * (BK / 4u); e += WG_SIZE) {  // A (M, K): quads along k
    let kk = (e % (BK / 4u)) * 4u;
    let mm = e / (BK / 4u);
    let k = k0 + kk;
    let m = m0 + mm;
    let v = select(vec4<f32>(0.0), a[(baseA + m * p.K + k) / 4u], k < p.K && m < p.M);
    for (var j = 0u; j < 4u; j++) { put_a(kk + j, mm, v[j]); }
  }
#endif
#if ${TRANS_B}
  for (var e = lid; e < BN * (BK / 4u); e += WG_SIZE) {  // B (N, K): quads along k
    let kk = (e % (BK / 4u)) * 4u;
    let nn = e / (BK / 4u);
    let k = k0 + kk;
    let n = n0 + nn;
    let v = select(vec4<f32>(0.0), b[(baseB + n * p.K + k) / 4u], k < p.K && n < p.N);
    for (var j = 0u; j < 4u; j++) { put_b(kk + j, nn, v[j]); }
  }
#else
  for (var e = lid; e < BK * BN4; e += WG_SIZE) {        // B (K, N): quads along n
    let kk = e / BN4;
    let nn = (e % BN4) * 4u;
    let k = k0 + kk;
    let n = n0 + nn;
    put_b4(kk, nn, select(vec4<f32>(0.0), b[(baseB + k * p.N + n) / 4u], k < p.K && n < p.N));
  }
#endif
#else
  for (var e = lid; e < BM * BK; e += WG_SIZE) {
#if ${TRANS_A}
    let mm = e % BM;
    let kk = e / BM;
#else
    let kk = e % BK;
    let mm = e / BK;
#endif
    put_a(kk, mm, a_elem(baseA, m0 + mm, k0 + kk));
  }
  for (var e = lid; e < BK * BN; e += WG_SIZE) {
#if ${TRANS_B}
    let kk = e % BK;
    let nn = e / BK;
#else
    let nn = e % BN;
    let kk = e / BN;
#endif
    put_b(kk, nn, b_elem(baseB, k0 + kk, n0 + nn));
  }
#endif
}
#else
const COL_STEP: u32 = 1u;
// Direct reads: `m` is the first of 4 rows, `n` the first of 4 columns, both absolute; k absolute.
fn frag_a(baseA: u32, m: u32, k: u32) -> vec4<f32> {
#if ${VEC4}
#if ${TRANS_A}
  return select(vec4<f32>(0.0), a[(baseA + k * p.M + m) / 4u], k < p.K && m < p.M);
#else
  // Rows are K apart: four scalar reads out of vec4 elements.
  let inK = k < p.K;
  let i = baseA + m * p.K + k;
  let s = k % 4u;
  return vec4<f32>(
    select(0.0, a[i / 4u][s], inK && m < p.M),
    select(0.0, a[(i + p.K) / 4u][s], inK && m + 1u < p.M),
    select(0.0, a[(i + 2u * p.K) / 4u][s], inK && m + 2u < p.M),
    select(0.0, a[(i + 3u * p.K) / 4u][s], inK && m + 3u < p.M));
#endif
#else
  return vec4<f32>(a_elem(baseA, m, k), a_elem(baseA, m + 1u, k), a_elem(baseA, m + 2u, k), a_elem(baseA, m + 3u, k));
#endif
}
fn frag_b(baseB: u32, k: u32, n: u32) -> vec4<f32> {
#if ${VEC4}
#if ${TRANS_B}
  let inK = k < p.K;
  let i = baseB + n * p.K + k;
  let s = k % 4u;
  return vec4<f32>(
    select(0.0, b[i / 4u][s], inK && n < p.N),
    select(0.0, b[(i + p.K) / 4u][s], inK && n + 1u < p.N),
    select(0.0, b[(i + 2u * p.K) / 4u][s], inK && n + 2u < p.N),
    select(0.0, b[(i + 3u * p.K) / 4u][s], inK && n + 3u < p.N));
#else
  return select(vec4<f32>(0.0), b[(baseB + k * p.N + n) / 4u], k < p.K && n < p.N);
#endif
#else
  return vec4<f32>(b_elem(baseB, k, n), b_elem(baseB, k, n + 1u), b_elem(baseB, k, n + 2u), b_elem(baseB, k, n + 3u));
#endif
}
#endif

// Writes rows m .. m+3 and columns n + c*COL_STEP (c < 4) of C: alpha * acc [+ bias] [+ C], masked to (M, N).
fn store4(t: u32, m: u32, n: u32, acc: mat4x4<f32>) {
  if (n >= p.N) { return; }
  let biasAt = p.offsetBias + t * p.strideBias + n;
  let rowAt = p.offsetC + t * p.strideC + m * p.N + n;
#if ${QUAD_STORE}
  // vec4 bindings, columns n .. n+3 all inside (N is a multiple of 4).
#if ${BIAS}
  let bv = bias[biasAt / 4u];
#endif
  for (var r = 0u; r < 4u; r++) {
    if (m + r >= p.M) { return; }
    var v = p.alpha * acc[r];
#if ${BIAS}
    v += bv;
#endif
    let i = (rowAt + r * p.N) / 4u;
#if ${ACCUMULATE}
    v += c[i];
#endif
    c[i] = v;
  }
#else
  for (var r = 0u; r < 4u; r++) {
    if (m + r >= p.M) { return; }
    for (var j = 0u; j < 4u; j++) {
      if (n + j * COL_STEP < p.N) {
        var v = p.alpha * acc[r][j];
#if ${BIAS}
        v += bias_get(biasAt + j * COL_STEP);
#endif
        let i = rowAt + r * p.N + j * COL_STEP;
#if ${ACCUMULATE}
        v += c_get(i);
#endif
        c_set(i, v);
      }
    }
  }
#endif
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let tx = lid3.x;
  let ty = lid3.y;
  let t = wid.z;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let baseA = p.offsetA + t * p.strideA;
  let baseB = p.offsetB + t * p.strideB;
  // Register block: acc<r><j> holds rows 4r .. 4r+3 of this invocation and its column group j.
  var acc00 = mat4x4<f32>();
  var acc10 = mat4x4<f32>();
  var acc01 = mat4x4<f32>();
  var acc11 = mat4x4<f32>();
  let mA = m0 + ty * TM;                       // first row of this invocation
#if ${ATOMIC}
  let nB0 = n0 + tx;                           // first column of group 0 (then + c * WG_X)
  let nB1 = n0 + tx + 4u * WG_X;               // first column of group 1 (TN = 8)
#else
  let nB0 = n0 + tx * 4u;                      // first column of quad 0
  let nB1 = n0 + (tx + WG_X) * 4u;             // first column of quad 1 (TN = 8)
#endif

#if ${SHARED}
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    stage(lid, baseA, baseB, m0, n0, k0);
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let a0 = frag_a(k, ty, 0u);
      let b0 = frag_b(k, tx, 0u);
      acc00 = outer4(acc00, a0, b0);
#if ${TN8}
      let b1 = frag_b(k, tx, 1u);
      acc01 = outer4(acc01, a0, b1);
#endif
#if ${TM8}
      let a1 = frag_a(k, ty, 1u);
      acc10 = outer4(acc10, a1, b0);
#if ${TN8}
      acc11 = outer4(acc11, a1, b1);
#endif
#endif
    }
    workgroupBarrier();
  }
#else
  for (var k = 0u; k < p.K; k++) {
    let a0 = frag_a(baseA, mA, k);
    let b0 = frag_b(baseB, k, nB0);
    acc00 = outer4(acc00, a0, b0);
#if ${TN8}
    let b1 = frag_b(baseB, k, nB1);
    acc01 = outer4(acc01, a0, b1);
#endif
#if ${TM8}
    let a1 = frag_a(baseA, mA + 4u, k);
    acc10 = outer4(acc10, a1, b0);
#if ${TN8}
    acc11 = outer4(acc11, a1, b1);
#endif
#endif
  }
#endif

  store4(t, mA, nB0, acc00);
#if ${TN8}
  store4(t, mA, nB1, acc01);
#endif
#if ${TM8}
  store4(t, mA + 4u, nB0, acc10);
#if ${TN8}
  store4(t, mA + 4u, nB1, acc11);
#endif
#endif
}
#endif
