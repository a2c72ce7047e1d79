// norm: RMSNorm and LayerNorm, forward and backward, over rows of x (N, C).
// RMSNorm
//   forward   y = x * rstd * w,  rstd = 1 / sqrt(mean(x^2) + eps)             x (N, C), w (C) -> y (N, C), rstd (N)
//   backward  g = w * dy,  dx = rstd * g - x * rstd^3 * dot(g, x) / C            (written, or added when ACCUM_DX)
//             dw = sum over rows of dy * x * rstd                                 (deterministic, no float atomics)
// LayerNorm (LAYER; w is the gain, b the bias)
//   forward   xh = (x - mean) * rstd,  rstd = 1 / sqrt(mean((x - mean)^2) + eps),  y = xh * w + b
//             x (N, C), w (C), b (C) -> y (N, C), mean (N), rstd (N); the variance is biased (as PyTorch) and taken
//             in a second pass over the row (stable when |mean| >> std)
//   backward  g = w * dy,  dx = rstd * (g - sum(g) / C - xh * dot(g, xh) / C)     (two row sums)
//             dw = sum over rows of dy * xh,  db = sum over rows of dy
// Layout: row-major, CV = C / VEC vectors per row (V = vec4 when C is a multiple of 4).
// Two row mappings, chosen by the wrapper:
//   ROWS_SHARED (GPUs): a workgroup is (TPR, RPW): RPW rows side by side, TPR invocations per row (a power of
//     two). Invocation tx of a row owns vectors j = tx + k * TPR for k < MAXV and keeps them in registers
//     between the reduction and the write. Row sums are a shared-memory tree over the TPR invocations of the
//     row (log2 TPR barriers), in a fixed order.
//   one invocation per row (CPU-emulated adapters such as SwiftShader, where one barrier costs about as much
//     as a whole row): plain loops, no barriers, x re-read instead of held in registers.
// dw (and db): the backward runs G workgroups over the row blocks (block b goes to workgroup b mod G). Each row
// slot accumulates dw over its rows: in registers (ROWS_SHARED), or in its own partial row in memory (one per
// row). With COMBINE the RPW row slots of a workgroup are summed in shared memory in slot order and workgroup
// g writes partial row g; otherwise slot ry of workgroup g owns partial row g * RPW + ry. A partial row is PW
// vectors: dw (CV), then for LayerNorm db (CV). norm_dweight then sums the P partial rows of each column in a
// fixed order and writes (or adds to) dweight (and dbias). Bound to any (P, C) matrix it is a column sum (the
// wrapper's ColumnSum: a linear's bias gradient).

const TPR: u32 = ${TPR}u;
const RPW: u32 = ${RPW}u;
const MAXV: u32 = ${MAXV}u;
const CV: u32 = ${CV}u;
const PW: u32 = ${PW}u;
const C_F: f32 = ${C_F};
alias V = ${VT};

fn hsum(v: V) -> f32 {
#if ${VEC4}
  return v.x + v.y + v.z + v.w;
#else
  return v;
#endif
}

#if ${ROWS_SHARED}
var<workgroup> red: array<f32, TPR * RPW>;

// Sum of v over the TPR invocations of row ry. Every invocation of the workgroup must call it (barriers).
fn row_sum(tx: u32, ry: u32, v: f32) -> f32 {
  let base = ry * TPR;
  red[base + tx] = v;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s = s / 2u) {
    if (tx < s) { red[base + tx] = red[base + tx] + red[base + tx + s]; }
    workgroupBarrier();
  }
  let total = red[base];
  workgroupBarrier(); // the next call overwrites red
  return total;
}
#endif

#if ${FORWARD}
struct Params {
  rows: u32,
  eps: f32,
  _pad0: u32,
  _pad1: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> w: array<V>;
#if ${LAYER}
@group(0) @binding(3) var<storage, read> b: array<V>;
@group(0) @binding(4) var<storage, read_write> y: array<V>;
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;

#if ${ROWS_SHARED}
@compute @workgroup_size(TPR, RPW)
fn layernorm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tx = lid.x;
  let ry = lid.y;
  let row = (wid.x + wid.y * nwg.x) * RPW + ry;
  let valid = row < params.rows;
  var xs: array<V, MAXV>;
  var s = 0.0;
  for (var k = 0u; k < MAXV; k++) {
    let j = tx + k * TPR;
    if (valid && j < CV) {
      let v = x[row * CV + j];
      xs[k] = v;
      s += hsum(v);
    }
  }
  let mu = row_sum(tx, ry, s) / C_F;
  var ss = 0.0;
  for (var k = 0u; k < MAXV; k++) {
    let j = tx + k * TPR;
    if (valid && j < CV) {
      let d = xs[k] - mu;
      ss += hsum(d * d);
    }
  }
  let r = inverseSqrt(row_sum(tx, ry, ss) / C_F + params.eps);
  if (!valid) { return; }
  for (var k = 0u; k < MAXV; k++) {
    let j = tx + k * TPR;
    if (j < CV) { y[row * CV + j] = (xs[k] - mu) * r * w[j] + b[j]; }
  }
  if (tx == 0u) {
    mean[row] = mu;
    rstd[row] = r;
  }
}
#else
@compute @workgroup_size(1, RPW)
fn layernorm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * nwg.x) * RPW + lid.y;
  if (row >= params.rows) { return; }
  let base = row * CV;
  var s = 0.0;
  for (var j = 0u; j < CV; j++) { s += hsum(x[base + j]); }
  let mu = s / C_F;
  var ss = 0.0;
  for (var j = 0u; j < CV; j++) {
    let d = x[base + j] - mu;
    ss += hsum(d * d);
  }
  let r = inverseSqrt(ss / C_F + params.eps);
  for (var j = 0u; j < CV; j++) { y[base + j] = (x[base + j] - mu) * r * w[j] + b[j]; }
  mean[row] = mu;
  rstd[row] = r;
}
#endif
#else
@group(0) @binding(3) var<storage, read_write> y: array<V>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;

#if ${ROWS_SHARED}
@compute @workgroup_size(TPR, RPW)
fn rmsnorm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tx = lid.x;
  let ry = lid.y;
  let row = (wid.x + wid.y * nwg.x) * RPW + ry;
  let valid = row < params.rows;
  var xs: array<V, MAXV>;
  var ss = 0.0;
  for (var k = 0u; k < MAXV; k++) {
    let j = tx + k * TPR;
    if (valid && j < CV) {
      let v = x[row * CV + j];
      xs[k] = v;
      ss += hsum(v * v);
    }
  }
  let r = inverseSqrt(row_sum(tx, ry, ss) / C_F + params.eps);
  if (!valid) { return; }
  for (var k = 0u; k < MAXV; k++) {
    let j = tx + k * TPR;
    if (j < CV) { y[row * CV + j] = xs[k] * r * w[j]; }
  }
  if (tx == 0u) { rstd[row] = r; }
}
#else
@compute @workgroup_size(1, RPW)
fn rmsnorm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * nwg.x) * RPW + lid.y;
  if (row >= params.rows) { return; }
  let base = row * CV;
  var ss = 0.0;
  for (var j = 0u; j < CV; j++) {
    let v = x[base + j];
    ss += hsum(v * v);
  }
  let r = inverseSqrt(ss / C_F + params.eps);
  for (var j = 0u; j < CV; j++) { y[base + j] = x[base + j] * r * w[j]; }
  rstd[row] = r;
}
#endif
#endif
#endif

#if ${BACKWARD}
struct Params {
  rows: u32,
  groups: u32,  // G: workgroups launched
  _pad0: u32,
  _pad1: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> w: array<V>;
#if ${LAYER}
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<V>;
@group(0) @binding(6) var<storage, read_write> dx: array<V>;
@group(0) @binding(7) var<storage, read_write> partial: array<V>;
#else
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<V>;
@group(0) @binding(5) var<storage, read_write> dx: array<V>;
@group(0) @binding(6) var<storage, read_write> partial: array<V>;
#endif

fn store_dx(at: u32, v: V) {
#if ${ACCUM_DX}
  dx[at] = dx[at] + v;
#else
  dx[at] = v;
#endif
}

#if ${COMBINE}
var<workgroup> acc: array<V, TPR * MAXV>;

// Sums v over the RPW row slots of the workgroup, in slot order, into partial[at + j]. Every invocation of the
// workgroup must call it (barriers).
fn combine_partial(tx: u32, ry: u32, at: u32, v: array<V, MAXV>) {
  for (var q = 0u; q < RPW; q++) {
    if (ry == q) {
      for (var k = 0u; k < MAXV; k++) {
        let i = k * TPR + tx;
        if (q == 0u) { acc[i] = v[k]; } else { acc[i] = acc[i] + v[k]; }
      }
    }
    workgroupBarrier();
  }
  if (ry == 0u) {
    for (var k = 0u; k < MAXV; k++) {
      let j = tx + k * TPR;
      if (j < CV) { partial[at + j] = acc[k * TPR + tx]; }
    }
  }
  workgroupBarrier(); // the next call overwrites acc
}
#endif

#if ${LAYER}
#if ${ROWS_SHARED}
@compute @workgroup_size(TPR, RPW)
fn layernorm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tx = lid.x;
  let ry = lid.y;
  let g = wid.x;
  var ws: array<V, MAXV>;
  var dws: array<V, MAXV>;
  var dbs: array<V, MAXV>;
  for (var k = 0u; k < MAXV; k++) {
    let j = tx + k * TPR;
    if (j < CV) { ws[k] = w[j]; }
  }
  let blocks = (params.rows + RPW - 1u) / RPW;
  for (var blk = g; blk < blocks; blk += params.groups) {
    let row = blk * RPW + ry;
    let valid = row < params.rows;
    var mu = 0.0;
    var r = 0.0;
    if (valid) {
      mu = mean[row];
      r = rstd[row];
    }
    var xhs: array<V, MAXV>;
    var dys: array<V, MAXV>;
    var sg = 0.0;
    var sgx = 0.0;
    for (var k = 0u; k < MAXV; k++) {
      let j = tx + k * TPR;
      if (valid && j < CV) {
        xhs[k] = (x[row * CV + j] - mu) * r;
        dys[k] = dy[row * CV + j];
        let gv = ws[k] * dys[k];
        sg += hsum(gv);
        sgx += hsum(gv * xhs[k]);
      }
    }
    let mg = row_sum(tx, ry, sg) / C_F;
    let mgx = row_sum(tx, ry, sgx) / C_F;
    if (valid) {
      for (var k = 0u; k < MAXV; k++) {
        let j = tx + k * TPR;
        if (j < CV) {
          store_dx(row * CV + j, r * (ws[k] * dys[k] - mg - xhs[k] * mgx));
          dws[k] += dys[k] * xhs[k];
          dbs[k] += dys[k];
        }
      }
    }
  }
#if ${COMBINE}
  combine_partial(tx, ry, g * PW, dws);
  combine_partial(tx, ry, g * PW + CV, dbs);
#else
  let slot = (g * RPW + ry) * PW;
  for (var k = 0u; k < MAXV; k++) {
    let j = tx + k * TPR;
    if (j < CV) {
      partial[slot + j] = dws[k];
      partial[slot + CV + j] = dbs[k];
    }
  }
#endif
}
#else
@compute @workgroup_size(1, RPW)
fn layernorm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let g = wid.x;
  let ry = lid.y;
  let slot = (g * RPW + ry) * PW;
  for (var j = 0u; j < PW; j++) { partial[slot + j] = V(0.0); }
  let blocks = (params.rows + RPW - 1u) / RPW;
  for (var blk = g; blk < blocks; blk += params.groups) {
    let row = blk * RPW + ry;
    if (row >= params.rows) { continue; }
    let base = row * CV;
    let mu = mean[row];
    let r = rstd[row];
    var sg = 0.0;
    var sgx = 0.0;
    for (var j = 0u; j < CV; j++) {
      let gv = w[j] * dy[base + j];
      sg += hsum(gv);
      sgx += hsum(gv * (x[base + j] - mu) * r);
    }
    let mg = sg / C_F;
    let mgx = sgx / C_F;
    for (var j = 0u; j < CV; j++) {
      let xh = (x[base + j] - mu) * r;
      let dyv = dy[base + j];
      store_dx(base + j, r * (w[j] * dyv - mg - xh * mgx));
      partial[slot + j] = partial[slot + j] + dyv * xh;
      partial[slot + CV + j] = partial[slot + CV + j] + dyv;
    }
  }
}
#endif
#else
#if ${ROWS_SHARED}
@compute @workgroup_size(TPR, RPW)
fn rmsnorm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tx = lid.x;
  let ry = lid.y;
  let g = wid.x;
  var ws: array<V, MAXV>;
  var dws: array<V, MAXV>;
  for (var k = 0u; k < MAXV; k++) {
    let j = tx + k * TPR;
    if (j < CV) { ws[k] = w[j]; }
  }
  let blocks = (params.rows + RPW - 1u) / RPW;
  for (var blk = g; blk < blocks; blk += params.groups) {
    let row = blk * RPW + ry;
    let valid = row < params.rows;
    var xs: array<V, MAXV>;
    var dys: array<V, MAXV>;
    var d = 0.0;
    for (var k = 0u; k < MAXV; k++) {
      let j = tx + k * TPR;
      if (valid && j < CV) {
        xs[k] = x[row * CV + j];
        dys[k] = dy[row * CV + j];
        d += hsum(ws[k] * dys[k] * xs[k]);
      }
    }
    let total = row_sum(tx, ry, d);
    if (valid) {
      let r = rstd[row];
      let c = r * r * r * total / C_F;
      for (var k = 0u; k < MAXV; k++) {
        let j = tx + k * TPR;
        if (j < CV) {
          store_dx(row * CV + j, r * ws[k] * dys[k] - c * xs[k]);
          dws[k] += dys[k] * xs[k] * r;
        }
      }
    }
  }
#if ${COMBINE}
  combine_partial(tx, ry, g * PW, dws);
#else
  for (var k = 0u; k < MAXV; k++) {
    let j = tx + k * TPR;
    if (j < CV) { partial[(g * RPW + ry) * PW + j] = dws[k]; }
  }
#endif
}
#else
@compute @workgroup_size(1, RPW)
fn rmsnorm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let g = wid.x;
  let ry = lid.y;
  let slot = (g * RPW + ry) * PW;
  for (var j = 0u; j < CV; j++) { partial[slot + j] = V(0.0); }
  let blocks = (params.rows + RPW - 1u) / RPW;
  for (var blk = g; blk < blocks; blk += params.groups) {
    let row = blk * RPW + ry;
    if (row >= params.rows) { continue; }
    let base = row * CV;
    var d = 0.0;
    for (var j = 0u; j < CV; j++) { d += hsum(w[j] * dy[base + j] * x[base + j]); }
    let r = rstd[row];
    let c = r * r * r * d / C_F;
    for (var j = 0u; j < CV; j++) {
      let xv = x[base + j];
      let dyv = dy[base + j];
      store_dx(base + j, r * w[j] * dyv - c * xv);
      partial[slot + j] = partial[slot + j] + dyv * xv * r;
    }
  }
}
#endif
#endif
#endif

#if ${DWEIGHT}
// dweight[j] (+)= sum over p < P of partial[p, j]: DW_Y lanes per column, lane q summing rows q, q + DW_Y, ...,
// then the lanes in order. Columns j >= CV (LayerNorm) are the bias's: dbias[j - CV].
const DW_X: u32 = 32u;
const DW_Y: u32 = 8u;
struct Params {
  partial_rows: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partial: array<V>;
@group(0) @binding(2) var<storage, read_write> dweight: array<V>;
#if ${LAYER}
@group(0) @binding(3) var<storage, read_write> dbias: array<V>;
#endif

var<workgroup> lanes: array<V, DW_X * DW_Y>;

@compute @workgroup_size(DW_X, DW_Y)
fn norm_dweight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let j = wid.x * DW_X + lid.x;
  var s = V(0.0);
  if (j < PW) {
    for (var p = lid.y; p < params.partial_rows; p += DW_Y) { s += partial[p * PW + j]; }
  }
  lanes[lid.y * DW_X + lid.x] = s;
  workgroupBarrier();
  if (lid.y == 0u && j < PW) {
    var t = lanes[lid.x];
    for (var q = 1u; q < DW_Y; q++) { t += lanes[q * DW_X + lid.x]; }
#if ${LAYER}
    if (j >= CV) {
#if ${ACCUM_DW}
      dbias[j - CV] = dbias[j - CV] + t;
#else
      dbias[j - CV] = t;
#endif
      return;
    }
#endif
#if ${ACCUM_DW}
    dweight[j] = dweight[j] + t;
#else
    dweight[j] = t;
#endif
  }
}
#endif
