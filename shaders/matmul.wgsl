// matmul: C[b] (M, N) = alpha * op(A[b]) (M, K) * op(B[b]) (K, N) [+ bias (N)] [+ C[b]], for b < batch.
// Layout: every matrix row-major; op(A) = A stored (M, K), or (K, M) with TRANS_A; op(B) = B stored (K, N),
// or (N, K) with TRANS_B. Matrix b of X starts at offsetX + b * strideX elements (stride 0 broadcasts).
// Entry points:
//   matmul_naive  one invocation per output element; the clean slow path the fast one is checked against.

struct Params {
  M: u32, N: u32, K: u32, batch: u32,
  strideA: u32, strideB: u32, strideC: u32, strideBias: u32,
  offsetA: u32, offsetB: u32, offsetC: u32, offsetBias: u32,
  alpha: f32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
#if ${BIAS}
@group(0) @binding(4) var<storage, read> bias: array<f32>;
#endif

// Element (m, k) of op(A) for the matrix starting at `base`.
fn a_index(base: u32, m: u32, k: u32) -> u32 {
#if ${TRANS_A}
  return base + k * p.M + m;
#else
  return base + m * p.K + k;
#endif
}

// Element (k, n) of op(B) for the matrix starting at `base`.
fn b_index(base: u32, k: u32, n: u32) -> u32 {
#if ${TRANS_B}
  return base + n * p.K + k;
#else
  return base + k * p.N + n;
#endif
}

// The epilogue shared by every entry point: scale, bias, accumulate, store.
fn store(batch: u32, m: u32, n: u32, acc: f32) {
  var v = p.alpha * acc;
#if ${BIAS}
  v += bias[p.offsetBias + batch * p.strideBias + n];
#endif
  let i = p.offsetC + batch * p.strideC + m * p.N + n;
#if ${ACCUMULATE}
  v += c[i];
#endif
  c[i] = v;
}

#if ${NAIVE}
@compute @workgroup_size(16, 16)
fn matmul_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let m = gid.y;
  let batch = gid.z;
  if (m >= p.M || n >= p.N) { return; }
  let baseA = p.offsetA + batch * p.strideA;
  let baseB = p.offsetB + batch * p.strideB;
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
    acc += a[a_index(baseA, m, k)] * b[b_index(baseB, k, n)];
  }
  store(batch, m, n, acc);
}
#endif
