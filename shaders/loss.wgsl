// loss: softmax cross-entropy over the vocabulary, fused forward + backward (as llm.c's fused classifier).
// Algorithm: one workgroup per row. Pass 1 reads the row once with an online softmax: each invocation keeps
// (max m, s = sum exp(z - m)) over a strided slice, rescaling when its max grows, plus the sums that the
// target mode and the stats need, all kept relative to the running max so extreme logits (+-1e4) neither
// overflow nor cancel; the slices are merged by a tree in workgroup memory. Pass 2 (backward variants)
// reads the row again and writes dlogits = coef * (sum_p * softmax - p), coef = gradScale * weight.
// Each element is read and written by the same invocation, so dlogits may overwrite the logits in place.
// Layout: logits, dlogits (N, V) row-major; hard targets (N) u32 (0xFFFFFFFF = ignore); soft targets (N, V);
// weights, losses (N); stats (N, 2) = [max prob, entropy in nats].
// Variants (template flags): SOFT (else hard), WEIGHTED, BACKWARD, IN_PLACE, ACCUMULATE, STATS; binding
// numbers are template parameters so every variant binds 0..k-1 contiguously.
// Entry point: cross_entropy. Grid: one workgroup per row, folded into x/y (row = wid.x + wid.y * nwg.x).

struct Params {
  rows: u32,
  vocab: u32,
  grad_scale: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
#if ${IN_PLACE}
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
#else
@group(0) @binding(1) var<storage, read> logits: array<f32>;
#endif
#if ${SOFT}
@group(0) @binding(2) var<storage, read> soft_targets: array<f32>;
#else
@group(0) @binding(2) var<storage, read> targets: array<u32>;
#endif
#if ${WEIGHTED}
@group(0) @binding(${B_WEIGHTS}) var<storage, read> weights: array<f32>;
#endif
@group(0) @binding(${B_LOSSES}) var<storage, read_write> losses: array<f32>;
#if ${SEPARATE_DLOGITS}
@group(0) @binding(${B_DLOGITS}) var<storage, read_write> dlogits: array<f32>;
#endif
#if ${STATS}
@group(0) @binding(${B_STATS}) var<storage, read_write> stats: array<f32>;
#endif

const WG: u32 = ${WG}u;
const IGNORE: u32 = 0xFFFFFFFFu;
// Lowest finite f32: the running max of an empty slice. Differences with it stay finite and get multiplied by 0.
const LOWEST: f32 = -3.4028234e38;

// Running state of one slice, all relative to its max m:
//   s = sum exp(z - m); h = sum exp(z - m) * (z - m) (entropy);
//   sp = sum p; q = sum p * (z - m) (soft targets).
struct Acc {
  m: f32,
  s: f32,
  h: f32,
  sp: f32,
  q: f32,
}

var<workgroup> red: array<Acc, WG>;
var<workgroup> target_logit: f32;

// Moves `a` to a new max `m2 >= a.m`.
fn rebase(a: Acc, m2: f32) -> Acc {
  let d = a.m - m2;
  let c = exp(d);
  return Acc(m2, a.s * c, c * (a.h + d * a.s), a.sp, a.q + d * a.sp);
}

fn merge(a: Acc, b: Acc) -> Acc {
  let m = max(a.m, b.m);
  let x = rebase(a, m);
  let y = rebase(b, m);
  return Acc(m, x.s + y.s, x.h + y.h, x.sp + y.sp, x.q + y.q);
}

fn nan_f32() -> f32 {
  // A runtime bit pattern, so the compiler cannot fold it away.
  return bitcast<f32>(0x7FC00000u | (params._pad & 0u));
}

@compute @workgroup_size(WG)
fn cross_entropy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; }
  let lid = lid3.x;
  let V = params.vocab;
  let base = row * V;

#if ${SOFT}
  let valid = true;
#else
  let tgt = targets[row];
  let ignored = tgt == IGNORE;
  let valid = tgt < V;
#endif

  // Pass 1: online softmax over this invocation's slice.
  var a = Acc(LOWEST, 0.0, 0.0, 0.0, 0.0);
  for (var j = lid; j < V; j += WG) {
    let z = logits[base + j];
    if (z > a.m) { a = rebase(a, z); }
    let d = z - a.m;
    let e = exp(d);
    a.s += e;
    a.h += e * d;
#if ${SOFT}
    let p = soft_targets[base + j];
    a.sp += p;
    a.q += p * d;
#else
    // Only the owner of the target column reads it, so an in-place overwrite cannot race with it.
    if (j == tgt) { target_logit = z; }
#endif
  }
  red[lid] = a;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] = merge(red[lid], red[lid + stride]); }
  }
  workgroupBarrier();
  let t = red[0];
  let log_s = log(t.s);

#if ${WEIGHTED}
  let w = weights[row];
#else
  let w = 1.0;
#endif

  if (lid == 0u) {
#if ${SOFT}
    // -sum p log softmax(z) = sum p (log S + m - z)
    let ce = t.sp * log_s - t.q;
    losses[row] = w * ce;
#else
    if (ignored) {
      losses[row] = 0.0;
    } else if (!valid) {
      losses[row] = nan_f32();
    } else {
      losses[row] = w * (log_s - (target_logit - t.m));
    }
#endif
#if ${STATS}
    stats[2u * row] = 1.0 / t.s;
    stats[2u * row + 1u] = log_s - t.h / t.s;
#endif
  }

#if ${BACKWARD}
  // Pass 2: d(gradScale * w * ce)/dz_j = coef * (sum_p * softmax_j - p_j); an ignored or invalid row gets 0.
  let coef = select(0.0, params.grad_scale * w, valid);
  let inv_s = 1.0 / t.s;
  for (var j = lid; j < V; j += WG) {
    let z = logits[base + j];
    let prob = exp(z - t.m) * inv_s;
#if ${SOFT}
    let g = coef * (t.sp * prob - soft_targets[base + j]);
#else
    let g = coef * (prob - select(0.0, 1.0, j == tgt));
#endif
#if ${IN_PLACE}
    logits[base + j] = g;
#elif ${ACCUMULATE}
    dlogits[base + j] += g;
#else
    dlogits[base + j] = g;
#endif
  }
#endif
}
