// moe: mixture-of-experts routing (Switch / GShard style), forward and backward side by side.
// Legend (row-major): N tokens, C width, E experts (<= 64), K choices per token (1 or 2), cap slots per expert.
//   logits, probs, dlogits (N, E); expert_index, gates, dgates, slots (N, K): pair p = t*K + k;
//   slot_source (E, cap): the pair a slot holds, or NONE; dispatched, expert_out (E, cap, C); x, y (N, C).
//   stats (4E + 2) u32 words: load[E] (pairs routed to e), kept[E] (min(load, cap)), first[E] (first choices),
//   prob_sum[E] (f32 bits, sum over tokens of probs[t, e]), dropped (pairs over capacity), aux (f32 bits).
// Entry points:
//   router            one invocation per token: softmax over E, top-K by logit (softmax is monotone, so float
//                     rounding of probabilities cannot reorder experts); ties go to the lowest expert index.
//   assign            one workgroup per expert walks every pair in rank-major order (all first choices by token,
//                     then all second choices) and prefix-scans its hits: slot = order of arrival, dropped past
//                     capacity. No atomics, so the same routing always gives the same slots.
//   finalize          one workgroup: dropped total and the Switch aux loss E * sum_e (first_e / N) * (prob_sum_e / N).
//   tokens_to_slots   gather over slots (one invocation per slot element): dispatch = token rows into slots, empty
//                     slots zero; with GATED, combine's backward d expert_out[e, s] = gates[p] * dy[token of p].
//   slots_to_tokens   gather over tokens: with GATED, combine y[t] = sum_k gates[t, k] * expert_out[e_k, slot_k];
//                     without, dispatch's backward dx[t] (+)= sum_k d dispatched[e_k, slot_k]. Dropped pairs add 0.
//   combine_backward_gate  one workgroup per token: dgates[t, k] = dot(dy[t], expert_out[e_k, slot_k]).
//   router_backward   one invocation per token: dgates through gate renormalisation and softmax into dlogits,
//                     plus the aux loss gradient aux_grad * first_e on every prob (f_e is a count: no gradient).
//   expert_grid       inference: one invocation per expert turns kept[e] into the row-workgroup count of its
//                     indirect up and down matmuls, so an expert's FFN runs over the rows routed to it only.

struct Params {
  ntok: u32,
  width: u32,
  experts: u32,
  cap: u32,
  // d(aux_weight * aux loss) / d probs[t, e] per first choice of e: aux_weight * E / N^2, times the micro-batch's
  // share of the step (1/G under gradient accumulation; see MoeConfig.auxGradScale).
  aux_grad: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;

const K: u32 = ${K}u;
const NORMALIZE: bool = ${NORMALIZE};
const NONE: u32 = 0xffffffffu;
const WG: u32 = ${WG}u;

fn flat_index(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid.x;
}

// The row of (E, cap, C) that pair p occupies, or NONE if it was dropped.
fn slot_row(e: u32, slot: u32) -> u32 {
  if (slot == NONE) { return NONE; }
  return e * params.cap + slot;
}

#if ${ROUTER}
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;
@group(0) @binding(3) var<storage, read_write> expert_index: array<u32>;
@group(0) @binding(4) var<storage, read_write> gates: array<f32>;

@compute @workgroup_size(WG)
fn router(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = flat_index(wid, nwg, lid);
  if (t >= params.ntok) { return; }
  let E = params.experts;
  let row = t * E;
  // First choice i0 and second choice i1 by logit; strict > keeps the lowest index on ties.
  var i0 = 0u;
  var v0 = logits[row];
  var i1 = NONE;
  var v1 = 0.0;
  for (var e = 1u; e < E; e++) {
    let l = logits[row + e];
    if (l > v0) {
      i1 = i0; v1 = v0; i0 = e; v0 = l;
    } else if (i1 == NONE || l > v1) {
      i1 = e; v1 = l;
    }
  }
  var sum = 0.0;
  for (var e = 0u; e < E; e++) { sum += exp(logits[row + e] - v0); }
  let inv = 1.0 / sum;
  for (var e = 0u; e < E; e++) { probs[row + e] = exp(logits[row + e] - v0) * inv; }
  let p0 = inv;
  if (K == 1u) {
    expert_index[t] = i0;
    gates[t] = select(p0, 1.0, NORMALIZE);
  } else {
    let p1 = exp(v1 - v0) * inv;
    expert_index[t * 2u] = i0;
    expert_index[t * 2u + 1u] = i1;
    if (NORMALIZE) {
      let s = p0 + p1;
      gates[t * 2u] = p0 / s;
      gates[t * 2u + 1u] = p1 / s;
    } else {
      gates[t * 2u] = p0;
      gates[t * 2u + 1u] = p1;
    }
  }
}
#endif

#if ${ASSIGN}
const ITEMS: u32 = 4u;
@group(0) @binding(1) var<storage, read> expert_index: array<u32>;
@group(0) @binding(2) var<storage, read> probs: array<f32>;
@group(0) @binding(3) var<storage, read_write> slots: array<u32>;
@group(0) @binding(4) var<storage, read_write> slot_source: array<u32>;
@group(0) @binding(5) var<storage, read_write> stats: array<u32>;

var<workgroup> scan: array<u32, WG>;
var<workgroup> fsum: array<f32, WG>;

@compute @workgroup_size(WG)
fn assign(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let e = wid.x;
  let lid = lid3.x;
  let n = params.ntok;
  let E = params.experts;
  let cap = params.cap;
  let total = n * K;
  var base = 0u;     // pairs of expert e in earlier chunks: the same value in every invocation
  var first = 0u;    // this invocation's first-choice hits
  var psum = 0.0;    // this invocation's share of prob_sum[e]
  for (var start = 0u; start < total; start += WG * ITEMS) {
    // Rank-major position q = k * N + t; each invocation takes ITEMS consecutive positions.
    let q0 = start + lid * ITEMS;
    var hits = 0u;
    var hit_count = 0u;
    for (var i = 0u; i < ITEMS; i++) {
      let q = q0 + i;
      if (q < total) {
        let k = q / n;
        let t = q - k * n;
        if (expert_index[t * K + k] == e) {
          hits |= 1u << i;
          hit_count++;
          if (k == 0u) { first++; }
        }
        if (k == 0u) { psum += probs[t * E + e]; }
      }
    }
    // Inclusive Hillis-Steele scan of the per-invocation counts.
    scan[lid] = hit_count;
    workgroupBarrier();
    for (var off = 1u; off < WG; off <<= 1u) {
      var v = scan[lid];
      if (lid >= off) { v += scan[lid - off]; }
      workgroupBarrier();
      scan[lid] = v;
      workgroupBarrier();
    }
    var s = base + scan[lid] - hit_count;
    for (var i = 0u; i < ITEMS; i++) {
      if ((hits & (1u << i)) != 0u) {
        let q = q0 + i;
        let k = q / n;
        let p = (q - k * n) * K + k;
        if (s < cap) {
          slots[p] = s;
          slot_source[e * cap + s] = p;
        } else {
          slots[p] = NONE;
        }
        s++;
      }
    }
    base += scan[WG - 1u];
    workgroupBarrier();
  }
  let kept = min(base, cap);
  for (var s = kept + lid; s < cap; s += WG) { slot_source[e * cap + s] = NONE; }
  // Fixed-order tree reductions: deterministic sums.
  scan[lid] = first;
  fsum[lid] = psum;
  workgroupBarrier();
  for (var off = WG / 2u; off > 0u; off >>= 1u) {
    if (lid < off) {
      scan[lid] += scan[lid + off];
      fsum[lid] += fsum[lid + off];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    stats[e] = base;
    stats[E + e] = kept;
    stats[2u * E + e] = scan[0];
    stats[3u * E + e] = bitcast<u32>(fsum[0]);
  }
}
#endif

#if ${FINALIZE}
@group(0) @binding(1) var<storage, read_write> stats: array<u32>;

var<workgroup> dropped_part: array<u32, WG>;
var<workgroup> aux_part: array<f32, WG>;

@compute @workgroup_size(WG)
fn finalize(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let E = params.experts;
  var dropped = 0u;
  var aux = 0.0;
  for (var e = lid; e < E; e += WG) {
    dropped += stats[e] - stats[E + e];
    aux += f32(stats[2u * E + e]) * bitcast<f32>(stats[3u * E + e]);
  }
  dropped_part[lid] = dropped;
  aux_part[lid] = aux;
  workgroupBarrier();
  for (var off = WG / 2u; off > 0u; off >>= 1u) {
    if (lid < off) {
      dropped_part[lid] += dropped_part[lid + off];
      aux_part[lid] += aux_part[lid + off];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let n = f32(params.ntok);
    stats[4u * E] = dropped_part[0];
    stats[4u * E + 1u] = bitcast<u32>(f32(E) * aux_part[0] / (n * n));
  }
}
#endif

#if ${COMBINE_BACKWARD_GATE}
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> expert_out: array<f32>;
@group(0) @binding(3) var<storage, read> expert_index: array<u32>;
@group(0) @binding(4) var<storage, read> slots: array<u32>;
@group(0) @binding(5) var<storage, read_write> dgates: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn combine_backward_gate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let t = wid.x + wid.y * nwg.x;
  if (t >= params.ntok) { return; }
  let lid = lid3.x;
  let C = params.width;
  for (var k = 0u; k < K; k++) {
    let p = t * K + k;
    let r = slot_row(expert_index[p], slots[p]);
    var acc = 0.0;
    if (r != NONE) {
      for (var c = lid; c < C; c += WG) { acc += dy[t * C + c] * expert_out[r * C + c]; }
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var off = WG / 2u; off > 0u; off >>= 1u) {
      if (lid < off) { partial[lid] += partial[lid + off]; }
      workgroupBarrier();
    }
    if (lid == 0u) { dgates[p] = partial[0]; }
    workgroupBarrier();
  }
}
#endif

#if ${ROUTER_BACKWARD}
@group(0) @binding(1) var<storage, read> dgates: array<f32>;
@group(0) @binding(2) var<storage, read> probs: array<f32>;
@group(0) @binding(3) var<storage, read> expert_index: array<u32>;
@group(0) @binding(4) var<storage, read> stats: array<u32>;
@group(0) @binding(5) var<storage, read_write> dlogits: array<f32>;

@compute @workgroup_size(WG)
fn router_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = flat_index(wid, nwg, lid);
  if (t >= params.ntok) { return; }
  let E = params.experts;
  let row = t * E;
  let aux_grad = params.aux_grad;
  // d probs at the chosen experts, through the gate policy.
  let i0 = expert_index[t * K];
  var i1 = NONE;
  var dp0 = 0.0;
  var dp1 = 0.0;
  if (K == 1u) {
    // Normalised top-1 gates are constant 1: no gradient reaches the router through them.
    if (!NORMALIZE) { dp0 = dgates[t]; }
  } else {
    i1 = expert_index[t * 2u + 1u];
    let dg0 = dgates[t * 2u];
    let dg1 = dgates[t * 2u + 1u];
    if (NORMALIZE) {
      // g0 = p0 / (p0 + p1), g1 = p1 / (p0 + p1).
      let p0 = probs[row + i0];
      let p1 = probs[row + i1];
      let s2 = (p0 + p1) * (p0 + p1);
      dp0 = p1 * (dg0 - dg1) / s2;
      dp1 = p0 * (dg1 - dg0) / s2;
    } else {
      dp0 = dg0;
      dp1 = dg1;
    }
  }
  // Softmax backward: dlogit_j = p_j * (dp_j - sum_e p_e dp_e), with dp_e = aux_grad * first_e (+ gate terms).
  var pdot = probs[row + i0] * dp0;
  if (K == 2u) { pdot += probs[row + i1] * dp1; }
  for (var e = 0u; e < E; e++) { pdot += probs[row + e] * aux_grad * f32(stats[2u * E + e]); }
  for (var e = 0u; e < E; e++) {
    var g = aux_grad * f32(stats[2u * E + e]);
    if (e == i0) { g += dp0; }
    if (e == i1) { g += dp1; }
    dlogits[row + e] = probs[row + e] * (g - pdot);
  }
}
#endif

#if ${TOKENS_TO_SLOTS}
// dispatch: out = token rows in slots; combine backward: out = gates[p] * dy rows (GATED). Empty slots get 0.
@group(0) @binding(1) var<storage, read> token_rows: array<f32>;
@group(0) @binding(2) var<storage, read> slot_source: array<u32>;
@group(0) @binding(3) var<storage, read_write> slot_rows: array<f32>;
#if ${GATED}
@group(0) @binding(4) var<storage, read> gates: array<f32>;
#endif

@compute @workgroup_size(WG)
fn tokens_to_slots(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  let C = params.width;
  if (i >= params.experts * params.cap * C) { return; }
  let r = i / C;
  let p = slot_source[r];
  var v = 0.0;
  if (p != NONE) {
    v = token_rows[(p / K) * C + (i - r * C)];
#if ${GATED}
    v *= gates[p];
#endif
  }
  slot_rows[i] = v;
}
#endif

#if ${SLOTS_TO_TOKENS}
// combine: out[t] = sum_k gates[p] * expert rows (GATED); dispatch backward: out[t] (+)= sum_k d dispatched rows.
@group(0) @binding(1) var<storage, read> slot_rows: array<f32>;
@group(0) @binding(2) var<storage, read> expert_index: array<u32>;
@group(0) @binding(3) var<storage, read> slots: array<u32>;
@group(0) @binding(4) var<storage, read_write> token_rows: array<f32>;
#if ${GATED}
@group(0) @binding(5) var<storage, read> gates: array<f32>;
#endif

@compute @workgroup_size(WG)
fn slots_to_tokens(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  let C = params.width;
  if (i >= params.ntok * C) { return; }
  let t = i / C;
  let c = i - t * C;
  var acc = 0.0;
  for (var k = 0u; k < K; k++) {
    let p = t * K + k;
    let r = slot_row(expert_index[p], slots[p]);
    if (r != NONE) {
#if ${GATED}
      acc += gates[p] * slot_rows[r * C + c];
#else
      acc += slot_rows[r * C + c];
#endif
    }
  }
#if ${ACCUMULATE}
  acc += token_rows[i];
#endif
  token_rows[i] = acc;
}
#endif

#if ${EXPERT_GRID}
// args (6E + 1) u32: dispatch args [x, y, z] of expert e's up matmul at 3e, of its down matmul at 3(E + e); x and z
// are written once by the host, y here; word 6E holds the rows one matmul workgroup covers.
@group(0) @binding(1) var<storage, read> stats: array<u32>;
@group(0) @binding(2) var<storage, read_write> args: array<u32>;

@compute @workgroup_size(WG)
fn expert_grid(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let E = params.experts;
  if (e >= E) { return; }
  let rows = args[6u * E];
  let groups = (stats[E + e] + rows - 1u) / rows;
  args[3u * e + 1u] = groups;
  args[3u * (E + e) + 1u] = groups;
}
#endif
