// attention: causal multi-head self-attention with grouped-query heads, flash style (FlashAttention-2 math).
// Layout, all row-major float32: q, y, dy, dq (B, T, NH, HS); k, v, dk, dv (B, KVR, NKV, HS); lse, D (B, NH, T).
// Query head h reads kv head h / group, group = NH / NKV. s_ij = scale q_i.k_j for j <= i + TK - T: training has
// TK = T (and KVR = T); decoding against a cache of KVR >= TK rows puts the T queries after TK - T earlier keys
// (forward only).
//
// Tiling: a workgroup of 64 invocations (an 8 x 8 grid, tr = lid / 8, tc = lid % 8) owns BR rows of one
// (b, head) and walks the other side BC rows at a time. Both sides are staged in workgroup memory as vec4 rows
// (stride TS, zero padded), in blocks of 8 rows: `q_tile@r` is block r (rows 8 r .. 8 r + 7). Score tiles are
// register micro-tiles: invocation (tr, tc) computes owned rows 8 r + tr against staged rows 8 c + tc, so each
// staged vec4 it reads feeds RM or CM multiply-adds. Outputs (BR x HS) are register micro-tiles too: rows
// 8 r + tr, vec4 columns tc + 8 w (w < CW). Scores live in the log2 domain (pre-scaled by scale * log2(e)).
// Template steps after the placeholders and conditionals, done by src/kernels/attention.ts: a loop marked
// `// unroll` becomes copies of its body with the index a constant (so micro-tiles are registers) and `name@r`
// inside it becomes name0, name1, ...; `var<workgroup> name@N` declares name0 .. name(N-1). Many small arrays
// rather than one large one: SwiftShader's cost per workgroup grows faster than linearly with each one's size.
//
// Entry points (one per variant; each declares only its own bindings, numbered from 0):
//   attention_forward  BR queries x BC keys: online softmax; writes y and lse = log sum_j exp(s_ij).
//   attention_row_dot  D_i = dy_i . y_i, one invocation per row.
//   attention_dq       BR queries x BC keys: P from q, k, lse; dq_i = scale sum_j P_ij (dy_i.v_j - D_i) k_j.
//   attention_dkdv     BR keys x BC queries, looping over the group's query heads and the queries at or after
//                      the key block, so dk, dv hold their sums over the group with no atomics.
// Grid: x = row block (heaviest causal blocks first), y = head (query head, or kv head for dkdv), z = batch.

struct Params {
  B: u32,
  T: u32,      // queries
  NH: u32,
  NKV: u32,
  scale: f32,
  group: u32,  // NH / NKV
  TK: u32,     // keys visible (T, or more when decoding)
  KVR: u32,    // rows per batch in the k, v buffers (TK, or a cache's capacity)
}

@group(0) @binding(0) var<uniform> params: Params;

const HS: u32 = ${HS}u;   // head size
const HS4: u32 = ${HS4}u; // ceil(HS / 4): vec4s per row
const CW: u32 = ${CW}u;   // output vec4 columns per invocation: ceil(HS4 / 8)
const TS: u32 = ${TS}u;   // staged row stride in vec4s: 8 CW + 1 (the + 1 spreads rows over banks)
const BR: u32 = ${BR}u;   // rows owned by a workgroup
const BC: u32 = ${BC}u;   // rows staged per step
const RM: u32 = ${RM}u;   // BR / 8: owned rows per invocation (and 8-row blocks of an owned tile)
const CM: u32 = ${CM}u;   // BC / 8: staged rows per invocation in a score micro-tile (and staged blocks)
const LOG2E: f32 = 1.4426950408889634;
const NEG_BIG: f32 = -1.0e30; // finite "minus infinity": exp2(NEG_BIG - m) is 0, and no inf - inf

// Later query blocks see more keys and earlier key blocks more queries: launching the heaviest first
// shortens the tail of the dispatch.
fn row_block(wid_x: u32, nwg_x: u32) -> u32 {
  return nwg_x - 1u - wid_x;
}

fn q_row(b: u32, t: u32, h: u32) -> u32 {
  return ((b * params.T + t) * params.NH + h) * HS;
}

fn kv_row(b: u32, t: u32, g: u32) -> u32 {
  return ((b * params.KVR + t) * params.NKV + g) * HS;
}

fn stat_index(b: u32, h: u32, t: u32) -> u32 {
  return (b * params.NH + h) * params.T + t;
}

fn hsum(x: vec4<f32>) -> f32 {
  return (x.x + x.y) + (x.z + x.w);
}

// Element indices d4 * 4 + (0, 1, 2, 3) of a row, clamped into it, and which of them are real (< HS).
fn lane_index(d4: u32) -> vec4<u32> {
  return min(vec4<u32>(d4 * 4u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(HS - 1u));
}
fn lane_real(d4: u32) -> vec4<bool> {
  return vec4<u32>(d4 * 4u) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(HS);
}

#if ${QKV}
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;

// vec4 d4 of the row starting at `base`, zero past HS.
fn load_q(base: u32, d4: u32) -> vec4<f32> {
  let i = base + lane_index(d4);
  return select(vec4<f32>(0.0), vec4<f32>(q[i.x], q[i.y], q[i.z], q[i.w]), lane_real(d4));
}
fn load_k(base: u32, d4: u32) -> vec4<f32> {
  let i = base + lane_index(d4);
  return select(vec4<f32>(0.0), vec4<f32>(k[i.x], k[i.y], k[i.z], k[i.w]), lane_real(d4));
}
fn load_v(base: u32, d4: u32) -> vec4<f32> {
  let i = base + lane_index(d4);
  return select(vec4<f32>(0.0), vec4<f32>(v[i.x], v[i.y], v[i.z], v[i.w]), lane_real(d4));
}
#endif

#if ${BACKWARD}
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> lse_in: array<f32>;
@group(0) @binding(6) var<storage, read> dsum: array<f32>; // D, (B, NH, T)

fn load_dy(base: u32, d4: u32) -> vec4<f32> {
  let i = base + lane_index(d4);
  return select(vec4<f32>(0.0), vec4<f32>(dy[i.x], dy[i.y], dy[i.z], dy[i.w]), lane_real(d4));
}
#endif

#if ${FORWARD}
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;

var<workgroup> q_tile@${RM}: array<vec4<f32>, 8 * TS>; // queries, pre-scaled
var<workgroup> k_tile@${CM}: array<vec4<f32>, 8 * TS>;
var<workgroup> v_tile@${CM}: array<vec4<f32>, 8 * TS>;
var<workgroup> p_tile@${RM}: array<f32, 8 * BC>;   // probabilities (row, key)
var<workgroup> part@${RM}: array<f32, 64>;         // per-invocation partial row max, then row sum

fn store_y(base: u32, d4: u32, val: vec4<f32>) {
  let d = d4 * 4u;
  if (d < HS) { y[base + d] = val.x; }
  if (d + 1u < HS) { y[base + d + 1u] = val.y; }
  if (d + 2u < HS) { y[base + d + 2u] = val.z; }
  if (d + 3u < HS) { y[base + d + 3u] = val.w; }
}

@compute @workgroup_size(64)
fn attention_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let TK = params.TK;
  let off = TK - T; // query i sits at key position i + off
  let h = wid.y;
  let b = wid.z;
  let g = h / params.group;
  let q0 = row_block(wid.x, nwg.x) * BR;
  let tr = lid / 8u;
  let tc = lid % 8u;
  let qscale = params.scale * LOG2E;

  for (var r = 0u; r < ${RM}u; r++) { // unroll
    for (var e = lid; e < 8u * HS4; e += 64u) {
      let t = q0 + 8u * r + e / HS4;
      let d4 = e % HS4;
      var x = vec4<f32>(0.0);
      if (t < T) { x = load_q(q_row(b, t, h), d4) * qscale; }
      q_tile@r[(e / HS4) * TS + d4] = x;
    }
  }
  // Every invocation of a row group tr keeps the same running max m of rows 8 r + tr (computed from the same
  // shared partials) and its own partial sum l over the keys it scores.
  var m: array<f32, RM>;
  var l: array<f32, RM>;
  var o: array<vec4<f32>, RM * CW>;
  for (var r = 0u; r < ${RM}u; r++) { // unroll
    m[r] = NEG_BIG;
    l[r] = 0.0;
    for (var w = 0u; w < ${CW}u; w++) { // unroll
      o[r * CW + w] = vec4<f32>(0.0);
    }
  }

  let kv_end = min(TK, off + q0 + BR); // keys any row of this block can see
  for (var kb = 0u; kb < kv_end; kb += BC) {
    workgroupBarrier(); // the previous step's tiles are no longer read
    for (var c = 0u; c < ${CM}u; c++) { // unroll
      for (var e = lid; e < 8u * HS4; e += 64u) {
        let t = kb + 8u * c + e / HS4;
        let d4 = e % HS4;
        var kk = vec4<f32>(0.0);
        var vv = vec4<f32>(0.0);
        if (t < TK) {
          let base = kv_row(b, t, g);
          kk = load_k(base, d4);
          vv = load_v(base, d4);
        }
        k_tile@c[(e / HS4) * TS + d4] = kk;
        v_tile@c[(e / HS4) * TS + d4] = vv;
      }
    }
    workgroupBarrier();

    // scores of rows 8 r + tr against keys kb + 8 c + tc
    var sacc: array<vec4<f32>, RM * CM>;
    for (var x = 0u; x < ${RMCM}u; x++) { // unroll
      sacc[x] = vec4<f32>(0.0);
    }
    for (var d4 = 0u; d4 < HS4; d4++) {
      var qv: array<vec4<f32>, RM>;
      var kv: array<vec4<f32>, CM>;
      for (var r = 0u; r < ${RM}u; r++) { // unroll
        qv[r] = q_tile@r[tr * TS + d4];
      }
      for (var c = 0u; c < ${CM}u; c++) { // unroll
        kv[c] = k_tile@c[tc * TS + d4];
      }
      for (var r = 0u; r < ${RM}u; r++) { // unroll
        for (var c = 0u; c < ${CM}u; c++) { // unroll
          sacc[r * CM + c] += qv[r] * kv[c];
        }
      }
    }
    // masked to keys <= query + off (which also hides keys >= TK from real rows); row max over the 8 tc
    var s: array<f32, RM * CM>;
    for (var r = 0u; r < ${RM}u; r++) { // unroll
      var pm = NEG_BIG;
      for (var c = 0u; c < ${CM}u; c++) { // unroll
        s[r * CM + c] = select(NEG_BIG, hsum(sacc[r * CM + c]), kb + 8u * c + tc <= off + q0 + 8u * r + tr);
        pm = max(pm, s[r * CM + c]);
      }
      part@r[lid] = pm;
    }
    workgroupBarrier();
    var a: array<f32, RM>; // this step's rescale of row r
    for (var r = 0u; r < ${RM}u; r++) { // unroll
      var mb = m[r];
      for (var t = 0u; t < 8u; t++) { mb = max(mb, part@r[tr * 8u + t]); }
      a[r] = exp2(m[r] - mb);
      m[r] = mb;
      var sum = 0.0;
      for (var c = 0u; c < ${CM}u; c++) { // unroll
        let p = select(0.0, exp2(s[r * CM + c] - mb), s[r * CM + c] > NEG_BIG);
        p_tile@r[tr * BC + 8u * c + tc] = p;
        sum += p;
      }
      l[r] = l[r] * a[r] + sum;
    }
    workgroupBarrier();

    // o = a o + p v
    for (var r = 0u; r < ${RM}u; r++) { // unroll
      for (var w = 0u; w < ${CW}u; w++) { // unroll
        o[r * CW + w] *= a[r];
      }
    }
    for (var c = 0u; c < ${CM}u; c++) { // unroll
      for (var j = 0u; j < 8u; j++) {
        var vv: array<vec4<f32>, CW>;
        for (var w = 0u; w < ${CW}u; w++) { // unroll
          vv[w] = v_tile@c[j * TS + tc + 8u * w];
        }
        for (var r = 0u; r < ${RM}u; r++) { // unroll
          let p = p_tile@r[tr * BC + 8u * c + j];
          for (var w = 0u; w < ${CW}u; w++) { // unroll
            o[r * CW + w] += p * vv[w];
          }
        }
      }
    }
  }

  // row sums from the 8 partial sums of each row group
  workgroupBarrier(); // everyone is done reading part
  for (var r = 0u; r < ${RM}u; r++) { // unroll
    part@r[lid] = l[r];
  }
  workgroupBarrier();
  for (var r = 0u; r < ${RM}u; r++) { // unroll
    var sum = 0.0;
    for (var t = 0u; t < 8u; t++) { sum += part@r[tr * 8u + t]; }
    let t = q0 + 8u * r + tr;
    if (t < T) {
      for (var w = 0u; w < ${CW}u; w++) { // unroll
        let d4 = tc + 8u * w;
        if (d4 < HS4) { store_y(q_row(b, t, h), d4, o[r * CW + w] / sum); }
      }
      if (tc == 0u) { lse[stat_index(b, h, t)] = (m[r] + log2(sum)) / LOG2E; }
    }
  }
}
#endif

#if ${ROW_DOT}
@group(0) @binding(1) var<storage, read> dy_rd: array<f32>;
@group(0) @binding(2) var<storage, read> y_rd: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_out: array<f32>;

// One invocation per (b, t, h) row; the 1D grid is folded into x and y past the per-dimension limit.
@compute @workgroup_size(64)
fn attention_row_dot(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid; // = (b * T + t) * NH + h
  if (row >= params.B * params.T * params.NH) { return; }
  let h = row % params.NH;
  let bt = row / params.NH;
  let base = row * HS;
  var acc = 0.0;
  for (var d = 0u; d < HS; d++) { acc += dy_rd[base + d] * y_rd[base + d]; }
  d_out[stat_index(bt / params.T, h, bt % params.T)] = acc;
}
#endif

#if ${DQ}
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;

var<workgroup> q_tile@${RM}: array<vec4<f32>, 8 * TS>; // queries, pre-scaled
var<workgroup> dy_tile@${RM}: array<vec4<f32>, 8 * TS>;
var<workgroup> k_tile@${CM}: array<vec4<f32>, 8 * TS>;
var<workgroup> v_tile@${CM}: array<vec4<f32>, 8 * TS>;
var<workgroup> ds_tile@${RM}: array<f32, 8 * BC>;     // (row, key)

fn store_dq(base: u32, d4: u32, val: vec4<f32>) {
  let d = d4 * 4u;
  if (d < HS) { dq[base + d] = val.x; }
  if (d + 1u < HS) { dq[base + d + 1u] = val.y; }
  if (d + 2u < HS) { dq[base + d + 2u] = val.z; }
  if (d + 3u < HS) { dq[base + d + 3u] = val.w; }
}

@compute @workgroup_size(64)
fn attention_dq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let h = wid.y;
  let b = wid.z;
  let g = h / params.group;
  let q0 = row_block(wid.x, nwg.x) * BR;
  let tr = lid / 8u;
  let tc = lid % 8u;
  let qscale = params.scale * LOG2E;

  for (var r = 0u; r < ${RM}u; r++) { // unroll
    for (var e = lid; e < 8u * HS4; e += 64u) {
      let t = q0 + 8u * r + e / HS4;
      let d4 = e % HS4;
      var x = vec4<f32>(0.0);
      var gy = vec4<f32>(0.0);
      if (t < T) {
        let base = q_row(b, t, h);
        x = load_q(base, d4) * qscale;
        gy = load_dy(base, d4);
      }
      q_tile@r[(e / HS4) * TS + d4] = x;
      dy_tile@r[(e / HS4) * TS + d4] = gy;
    }
  }
  var lse2: array<f32, RM>; // rows 8 r + tr: lse (log2 domain) and D
  var drow: array<f32, RM>;
  var acc: array<vec4<f32>, RM * CW>;
  for (var r = 0u; r < ${RM}u; r++) { // unroll
    let st = stat_index(b, h, min(q0 + 8u * r + tr, T - 1u));
    lse2[r] = lse_in[st] * LOG2E;
    drow[r] = dsum[st];
    for (var w = 0u; w < ${CW}u; w++) { // unroll
      acc[r * CW + w] = vec4<f32>(0.0);
    }
  }

  let kv_end = min(T, q0 + BR);
  for (var kb = 0u; kb < kv_end; kb += BC) {
    workgroupBarrier();
    for (var c = 0u; c < ${CM}u; c++) { // unroll
      for (var e = lid; e < 8u * HS4; e += 64u) {
        let t = kb + 8u * c + e / HS4;
        let d4 = e % HS4;
        var kk = vec4<f32>(0.0);
        var vv = vec4<f32>(0.0);
        if (t < T) {
          let base = kv_row(b, t, g);
          kk = load_k(base, d4);
          vv = load_v(base, d4);
        }
        k_tile@c[(e / HS4) * TS + d4] = kk;
        v_tile@c[(e / HS4) * TS + d4] = vv;
      }
    }
    workgroupBarrier();

    // s = q.k and dp = dy.v on the micro-tile, then ds = p (dp - D)
    var sacc: array<vec4<f32>, RM * CM>;
    var pacc: array<vec4<f32>, RM * CM>;
    for (var x = 0u; x < ${RMCM}u; x++) { // unroll
      sacc[x] = vec4<f32>(0.0);
      pacc[x] = vec4<f32>(0.0);
    }
    for (var d4 = 0u; d4 < HS4; d4++) {
      var qv: array<vec4<f32>, RM>;
      var gv: array<vec4<f32>, RM>;
      var kv: array<vec4<f32>, CM>;
      var vv: array<vec4<f32>, CM>;
      for (var r = 0u; r < ${RM}u; r++) { // unroll
        qv[r] = q_tile@r[tr * TS + d4];
        gv[r] = dy_tile@r[tr * TS + d4];
      }
      for (var c = 0u; c < ${CM}u; c++) { // unroll
        kv[c] = k_tile@c[tc * TS + d4];
        vv[c] = v_tile@c[tc * TS + d4];
      }
      for (var r = 0u; r < ${RM}u; r++) { // unroll
        for (var c = 0u; c < ${CM}u; c++) { // unroll
          sacc[r * CM + c] += qv[r] * kv[c];
          pacc[r * CM + c] += gv[r] * vv[c];
        }
      }
    }
    for (var r = 0u; r < ${RM}u; r++) { // unroll
      for (var c = 0u; c < ${CM}u; c++) { // unroll
        let visible = kb + 8u * c + tc <= q0 + 8u * r + tr;
        let p = select(0.0, exp2(hsum(sacc[r * CM + c]) - lse2[r]), visible);
        ds_tile@r[tr * BC + 8u * c + tc] = p * (hsum(pacc[r * CM + c]) - drow[r]);
      }
    }
    workgroupBarrier();

    // dq += ds k
    for (var c = 0u; c < ${CM}u; c++) { // unroll
      for (var j = 0u; j < 8u; j++) {
        var kv: array<vec4<f32>, CW>;
        for (var w = 0u; w < ${CW}u; w++) { // unroll
          kv[w] = k_tile@c[j * TS + tc + 8u * w];
        }
        for (var r = 0u; r < ${RM}u; r++) { // unroll
          let ds = ds_tile@r[tr * BC + 8u * c + j];
          for (var w = 0u; w < ${CW}u; w++) { // unroll
            acc[r * CW + w] += ds * kv[w];
          }
        }
      }
    }
  }

  for (var r = 0u; r < ${RM}u; r++) { // unroll
    let t = q0 + 8u * r + tr;
    if (t < T) {
      for (var w = 0u; w < ${CW}u; w++) { // unroll
        let d4 = tc + 8u * w;
        if (d4 < HS4) { store_dq(q_row(b, t, h), d4, acc[r * CW + w] * params.scale); }
      }
    }
  }
}
#endif

#if ${DKDV}
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;

var<workgroup> k_tile@${RM}: array<vec4<f32>, 8 * TS>; // keys, pre-scaled
var<workgroup> v_tile@${RM}: array<vec4<f32>, 8 * TS>;
var<workgroup> q_tile@${CM}: array<vec4<f32>, 8 * TS>;
var<workgroup> dy_tile@${CM}: array<vec4<f32>, 8 * TS>;
var<workgroup> p_tile@${RM}: array<f32, 8 * BC>;      // (key, query)
var<workgroup> ds_tile@${RM}: array<f32, 8 * BC>;     // (key, query)

fn store_dk(base: u32, d4: u32, val: vec4<f32>) {
  let d = d4 * 4u;
  if (d < HS) { dk[base + d] = val.x; }
  if (d + 1u < HS) { dk[base + d + 1u] = val.y; }
  if (d + 2u < HS) { dk[base + d + 2u] = val.z; }
  if (d + 3u < HS) { dk[base + d + 3u] = val.w; }
}
fn store_dv(base: u32, d4: u32, val: vec4<f32>) {
  let d = d4 * 4u;
  if (d < HS) { dv[base + d] = val.x; }
  if (d + 1u < HS) { dv[base + d + 1u] = val.y; }
  if (d + 2u < HS) { dv[base + d + 2u] = val.z; }
  if (d + 3u < HS) { dv[base + d + 3u] = val.w; }
}

@compute @workgroup_size(64)
fn attention_dkdv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let g = wid.y;
  let b = wid.z;
  let k0 = wid.x * BR; // in launch order: the first key blocks see the most queries
  let tr = lid / 8u;
  let tc = lid % 8u;
  let kscale = params.scale * LOG2E;

  for (var r = 0u; r < ${RM}u; r++) { // unroll
    for (var e = lid; e < 8u * HS4; e += 64u) {
      let t = k0 + 8u * r + e / HS4;
      let d4 = e % HS4;
      var kk = vec4<f32>(0.0);
      var vv = vec4<f32>(0.0);
      if (t < T) {
        let base = kv_row(b, t, g);
        kk = load_k(base, d4) * kscale;
        vv = load_v(base, d4);
      }
      k_tile@r[(e / HS4) * TS + d4] = kk;
      v_tile@r[(e / HS4) * TS + d4] = vv;
    }
  }
  var acc_dk: array<vec4<f32>, RM * CW>;
  var acc_dv: array<vec4<f32>, RM * CW>;
  for (var x = 0u; x < ${RMCW}u; x++) { // unroll
    acc_dk[x] = vec4<f32>(0.0);
    acc_dv[x] = vec4<f32>(0.0);
  }

  for (var hh = 0u; hh < params.group; hh++) {
    let h = g * params.group + hh;
    for (var qb = k0; qb < T; qb += BC) { // queries before k0 see none of these keys
      workgroupBarrier();
      for (var c = 0u; c < ${CM}u; c++) { // unroll
        for (var e = lid; e < 8u * HS4; e += 64u) {
          let t = qb + 8u * c + e / HS4;
          let d4 = e % HS4;
          var x = vec4<f32>(0.0);
          var gy = vec4<f32>(0.0);
          if (t < T) {
            let base = q_row(b, t, h);
            x = load_q(base, d4);
            gy = load_dy(base, d4);
          }
          q_tile@c[(e / HS4) * TS + d4] = x;
          dy_tile@c[(e / HS4) * TS + d4] = gy;
        }
      }
      var lse2: array<f32, CM>; // queries qb + 8 c + tc: lse (log2 domain) and D
      var dcol: array<f32, CM>;
      for (var c = 0u; c < ${CM}u; c++) { // unroll
        let st = stat_index(b, h, min(qb + 8u * c + tc, T - 1u));
        lse2[c] = lse_in[st] * LOG2E;
        dcol[c] = dsum[st];
      }
      workgroupBarrier();

      // s = k.q and dp = v.dy on the micro-tile (keys x queries), then p and ds = p (dp - D)
      var sacc: array<vec4<f32>, RM * CM>;
      var pacc: array<vec4<f32>, RM * CM>;
      for (var x = 0u; x < ${RMCM}u; x++) { // unroll
        sacc[x] = vec4<f32>(0.0);
        pacc[x] = vec4<f32>(0.0);
      }
      for (var d4 = 0u; d4 < HS4; d4++) {
        var kv: array<vec4<f32>, RM>;
        var vv: array<vec4<f32>, RM>;
        var qv: array<vec4<f32>, CM>;
        var gv: array<vec4<f32>, CM>;
        for (var r = 0u; r < ${RM}u; r++) { // unroll
          kv[r] = k_tile@r[tr * TS + d4];
          vv[r] = v_tile@r[tr * TS + d4];
        }
        for (var c = 0u; c < ${CM}u; c++) { // unroll
          qv[c] = q_tile@c[tc * TS + d4];
          gv[c] = dy_tile@c[tc * TS + d4];
        }
        for (var r = 0u; r < ${RM}u; r++) { // unroll
          for (var c = 0u; c < ${CM}u; c++) { // unroll
            sacc[r * CM + c] += kv[r] * qv[c];
            pacc[r * CM + c] += vv[r] * gv[c];
          }
        }
      }
      for (var r = 0u; r < ${RM}u; r++) { // unroll
        for (var c = 0u; c < ${CM}u; c++) { // unroll
          let query = qb + 8u * c + tc;
          let visible = k0 + 8u * r + tr <= query && query < T;
          let p = select(0.0, exp2(hsum(sacc[r * CM + c]) - lse2[c]), visible);
          p_tile@r[tr * BC + 8u * c + tc] = p;
          ds_tile@r[tr * BC + 8u * c + tc] = p * (hsum(pacc[r * CM + c]) - dcol[c]);
        }
      }
      workgroupBarrier();

      // dv += p dy, dk += ds q
      for (var c = 0u; c < ${CM}u; c++) { // unroll
        for (var j = 0u; j < 8u; j++) {
          var gv: array<vec4<f32>, CW>;
          var qv: array<vec4<f32>, CW>;
          for (var w = 0u; w < ${CW}u; w++) { // unroll
            gv[w] = dy_tile@c[j * TS + tc + 8u * w];
            qv[w] = q_tile@c[j * TS + tc + 8u * w];
          }
          for (var r = 0u; r < ${RM}u; r++) { // unroll
            let p = p_tile@r[tr * BC + 8u * c + j];
            let ds = ds_tile@r[tr * BC + 8u * c + j];
            for (var w = 0u; w < ${CW}u; w++) { // unroll
              acc_dv[r * CW + w] += p * gv[w];
              acc_dk[r * CW + w] += ds * qv[w];
            }
          }
        }
      }
    }
  }

  for (var r = 0u; r < ${RM}u; r++) { // unroll
    let t = k0 + 8u * r + tr;
    if (t < T) {
      let base = kv_row(b, t, g);
      for (var w = 0u; w < ${CW}u; w++) { // unroll
        let d4 = tc + 8u * w;
        if (d4 < HS4) {
          store_dk(base, d4, acc_dk[r * CW + w] * params.scale);
          store_dv(base, d4, acc_dv[r * CW + w]);
        }
      }
    }
  }
}
#endif
