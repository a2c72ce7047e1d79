// sample: next-token sampling from logits with temperature, top-k and top-p (in that order), one draw per row.
// Algorithm: one workgroup per row.
//   1. One pass: max m, argmax (ties -> lowest index) and S = sum exp((z - m) / T) (online, rescaled).
//      Temperature 0 stops here: token = argmax.
//   2. Filters as a threshold on the order-preserving u32 key of the raw f32 logit (key(a) >= key(b) iff
//      a >= b, -0 < +0): the kept set is {key >= tau}, so ties with the boundary value are all kept.
//      top-k: tau = the k-th largest key, found exactly by MSB-first bisection on the key bits, 2 bits per
//      pass (3 candidate thresholds counted per pass, 16 passes). top-p: the largest tau whose kept mass
//      sum_{key >= tau} exp((z - m) / T) is >= p * (mass kept by top-k), by the same bisection (17 passes).
//      No sort and no (V) scratch: each pass rereads the row (L2-resident) and reduces in workgroup memory.
//   3. Inverse CDF in index order: each invocation sums the kept mass of a contiguous chunk, the chunk sums
//      are scanned in workgroup memory, and the invocation whose interval holds u * total walks its chunk.
// The uniform u in [0, 1) is 24 bits of pcg3d(pcg3d(seed, row, step)) (Jarzynski & Olano 2020), the same
// u32 arithmetic as tests/reference/sample.ts, so tokens equal the float64 reference except when u * total
// lies within float32 rounding of a CDF boundary or p * mass of a top-p boundary (both flagged there).
// logprob = log softmax(z / T)[token] under the temperature-scaled, unfiltered distribution (T = 1 for greedy).
// Layout: logits (S, V) row-major; settings (S) RowSettings, 32 bytes each; tokens (S) u32; logprobs (S) f32.
// Each row's `step` is read for its draw and incremented afterwards, so successive dispatches draw fresh numbers.

struct Params {
  rows: u32,
  vocab: u32,
  _pad0: u32,
  _pad1: u32,
}

struct RowSettings {
  temperature: f32, // <= 0: greedy
  top_k: u32,       // 0 or >= V: off
  top_p: f32,       // >= 1: off
  seed: u32,
  step: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> settings: array<RowSettings>;
@group(0) @binding(3) var<storage, read_write> tokens: array<u32>;
@group(0) @binding(4) var<storage, read_write> logprobs: array<f32>;

const WG: u32 = ${WG}u;
const LOWEST: f32 = -3.4028234e38;
const NONE: u32 = 0xFFFFFFFFu;

var<workgroup> wg_settings: RowSettings;
var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_s: array<f32, WG>;
var<workgroup> red_i: array<u32, WG>;
var<workgroup> red4: array<vec4<f32>, WG>;
var<workgroup> wg_pick: u32;
var<workgroup> wg_last: atomic<u32>;

fn key_of(z: f32) -> u32 {
  let b = bitcast<u32>(z);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn pcg3d(v0: vec3<u32>) -> vec3<u32> {
  var v = v0 * 1664525u + 1013904223u;
  v.x += v.y * v.z;
  v.y += v.z * v.x;
  v.z += v.x * v.y;
  v ^= v >> vec3<u32>(16u);
  v.x += v.y * v.z;
  v.y += v.z * v.x;
  v.z += v.x * v.y;
  return v;
}

fn uniform01(seed: u32, row: u32, step: u32) -> f32 {
  let h = pcg3d(pcg3d(vec3<u32>(seed, row, step)));
  return f32(h.x >> 8u) * (1.0 / 16777216.0);
}

// s * exp(d), with an empty sum staying 0 even when d is -inf.
fn rescale(s: f32, d: f32) -> f32 {
  return select(0.0, s * exp(d), s > 0.0);
}

// Workgroup sum; the result is uniform. red4 may be reused right after (workgroupUniformLoad ends in a barrier).
fn wg_sum4(v: vec4<f32>, lid: u32) -> vec4<f32> {
  red4[lid] = v;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red4[lid] += red4[lid + stride]; }
  }
  return workgroupUniformLoad(&red4[0]);
}

// Kept mass at three candidate thresholds (each raised to `floor_key`): sum exp((z - m) * inv_t) over key >= max(c, floor_key).
fn mass_at(base: u32, V: u32, lid: u32, c: vec3<u32>, floor_key: u32, m: f32, inv_t: f32) -> vec3<f32> {
  let cc = max(c, vec3<u32>(floor_key));
  var acc = vec3<f32>(0.0);
  for (var j = lid; j < V; j += WG) {
    let z = logits[base + j];
    let k = key_of(z);
    if (k >= cc.x) {
      acc += select(vec3<f32>(0.0), vec3<f32>(exp((z - m) * inv_t)), vec3<u32>(k) >= cc);
    }
  }
  return wg_sum4(vec4<f32>(acc, 0.0), lid).xyz;
}

fn count_at(base: u32, V: u32, lid: u32, c: vec3<u32>) -> vec3<f32> {
  var acc = vec3<f32>(0.0);
  for (var j = lid; j < V; j += WG) {
    acc += select(vec3<f32>(0.0), vec3<f32>(1.0), vec3<u32>(key_of(logits[base + j])) >= c);
  }
  return wg_sum4(vec4<f32>(acc, 0.0), lid).xyz;
}

@compute @workgroup_size(WG)
fn sample(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; }
  let lid = lid3.x;
  let V = params.vocab;
  let base = row * V;
  if (lid == 0u) {
    wg_settings = settings[row];
    wg_pick = NONE;
  }
  let st = workgroupUniformLoad(&wg_settings);
  let greedy = !(st.temperature > 0.0);
  let inv_t = select(1.0 / st.temperature, 1.0, greedy);

  // 1. max, argmax, S over a strided slice, then a tree merge.
  var m = LOWEST;
  var s = 0.0;
  var arg = NONE;
  for (var j = lid; j < V; j += WG) {
    let z = logits[base + j];
    if (z > m) {
      s = rescale(s, (m - z) * inv_t);
      m = z;
      arg = j;
    }
    s += exp((z - m) * inv_t);
  }
  red_m[lid] = m;
  red_s[lid] = s;
  red_i[lid] = arg;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) {
      let ma = red_m[lid];
      let mb = red_m[lid + stride];
      let mm = max(ma, mb);
      red_s[lid] = rescale(red_s[lid], (ma - mm) * inv_t) + rescale(red_s[lid + stride], (mb - mm) * inv_t);
      let ib = red_i[lid + stride];
      if (mb > ma || (mb == ma && ib < red_i[lid])) { red_i[lid] = ib; }
      red_m[lid] = mm;
    }
  }
  // Uniform loads: they also keep the scan below from overwriting red_s[0] before everyone has read it.
  let m_all = workgroupUniformLoad(&red_m[0]);
  let log_s = log(workgroupUniformLoad(&red_s[0]));

  if (greedy) {
    if (lid == 0u) {
      tokens[row] = red_i[0];
      logprobs[row] = -log_s;
      settings[row].step = st.step + 1u;
    }
    return;
  }

  // 2. Filters: keep key >= tau.
  var tau = 0u;
  if (st.top_k > 0u && st.top_k < V) {
    let kf = f32(st.top_k);
    var prefix = 0u;
    for (var b = 30i; b >= 0i; b -= 2i) {
      let sh = u32(b);
      let c = vec3<u32>(prefix | (1u << sh), prefix | (2u << sh), prefix | (3u << sh));
      let n = count_at(base, V, lid, c);
      if (n.z >= kf) { prefix = c.z; } else if (n.y >= kf) { prefix = c.y; } else if (n.x >= kf) { prefix = c.x; }
    }
    tau = prefix;
  }
  if (st.top_p < 1.0) {
    let kept = mass_at(base, V, lid, vec3<u32>(tau), tau, m_all, inv_t).x;
    let need = max(st.top_p * kept, 1e-30);
    var prefix = 0u;
    for (var b = 30i; b >= 0i; b -= 2i) {
      let sh = u32(b);
      let c = vec3<u32>(prefix | (1u << sh), prefix | (2u << sh), prefix | (3u << sh));
      let w = mass_at(base, V, lid, c, tau, m_all, inv_t);
      if (w.z >= need) { prefix = c.z; } else if (w.y >= need) { prefix = c.y; } else if (w.x >= need) { prefix = c.x; }
    }
    tau = max(tau, prefix);
  }

  // 3. Inverse CDF over contiguous chunks, in index order.
  let chunk = (V + WG - 1u) / WG;
  let j0 = min(lid * chunk, V);
  let j1 = min(j0 + chunk, V);
  var cs = 0.0;
  var last = NONE;
  for (var j = j0; j < j1; j++) {
    let z = logits[base + j];
    if (key_of(z) >= tau) {
      cs += exp((z - m_all) * inv_t);
      last = j;
    }
  }
  if (last != NONE) { atomicMax(&wg_last, last + 1u); }
  // Inclusive Hillis-Steele scan of the chunk sums (red_s is free again).
  red_s[lid] = cs;
  for (var off = 1u; off < WG; off <<= 1u) {
    workgroupBarrier();
    var v = 0.0;
    if (lid >= off) { v = red_s[lid - off]; }
    workgroupBarrier();
    red_s[lid] += v;
  }
  let total = workgroupUniformLoad(&red_s[WG - 1u]);
  let incl = red_s[lid];
  var excl = 0.0;
  if (lid > 0u) { excl = red_s[lid - 1u]; }
  let goal = uniform01(st.seed, row, st.step) * total;
  if (cs > 0.0 && excl <= goal && goal < incl) {
    var acc = excl;
    var pick = last; // if rounding leaves goal past the walked sum, the chunk's last kept token
    for (var j = j0; j < j1; j++) {
      let z = logits[base + j];
      if (key_of(z) >= tau) {
        acc += exp((z - m_all) * inv_t);
        if (goal < acc) {
          pick = j;
          break;
        }
      }
    }
    wg_pick = pick;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var pick = wg_pick;
    if (pick == NONE) { pick = atomicLoad(&wg_last) - 1u; } // goal rounded up to total: the last kept token
    tokens[row] = pick;
    logprobs[row] = (logits[base + pick] - m_all) * inv_t - log_s;
    settings[row].step = st.step + 1u;
  }
}
