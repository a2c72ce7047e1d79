// muon: the pointwise steps of Muon that the matmul and elementwise kernels cannot express: the Frobenius
// normalisation of Newton–Schulz (its scale lives on the GPU, in a buffer written by reduce's sumsq), and the
// momentum and update of one matrix region addressed by an element offset into the flat parameter, gradient
// and momentum buffers (bound whole, so a region at any float offset needs no aligned sub-range and no copy).
// Algorithm: one invocation per element of the region (n = rows * cols), 1D grid folded into x/y past the
// per-dimension limit (index = (wid.x + wid.y * nwg.x) * WG + lid.x).
// Entry points (one per module variant, chosen by the flag of the same name):
//   ns_normalize    out[i] = x[i] / (sqrt(norm_sq[0]) + eps)                 (x, out: n floats, dense)
//   muon_momentum   m[o+i] = mu * m[o+i] + g[o+i];  u[i] = g[o+i] + mu * m[o+i]   (Nesterov; u dense)
//   muon_apply      p[o+i] = decay * p[o+i] - step * upd[i]                  (decay = 1 - lr*wd, step = lr*scale)
// A zero matrix normalises to zeros (the eps keeps 0 / 0 away). muon_momentum and muon_apply read the global
// gradient norm² (norm_sq[0], from reduce's sumsq, as AdamW does) and do nothing when it is NaN or Inf: a bad
// gradient leaves m and the weights with their bits, and the step is skipped.

const WG: u32 = ${WG}u;

// Bit test rather than isNan/isInf-style comparisons, which fast-math compilers may fold away.
fn is_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

fn flat_index(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid.x;
}

struct Params {
  n: u32,
  offset: u32,   // first element of the region in the flat buffers (muon_momentum, muon_apply)
  a: f32,        // eps (ns_normalize), mu (muon_momentum), decay (muon_apply)
  b: f32,        // step (muon_apply)
}
@group(0) @binding(0) var<uniform> params: Params;

#if ${NORMALIZE}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> norm_sq: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn ns_normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  if (i < params.n) { out[i] = x[i] / (sqrt(norm_sq[0]) + params.a); }
}
#endif

#if ${MOMENTUM}
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> u: array<f32>;
@group(0) @binding(4) var<storage, read> grad_norm_sq: array<f32>;

@compute @workgroup_size(WG)
fn muon_momentum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.n || !is_finite(grad_norm_sq[0])) { return; }
  let j = params.offset + i;
  let gj = g[j];
  let mj = params.a * m[j] + gj;
  m[j] = mj;
  u[i] = gj + params.a * mj;
}
#endif

#if ${APPLY}
@group(0) @binding(1) var<storage, read> upd: array<f32>;
@group(0) @binding(2) var<storage, read_write> p: array<f32>;
@group(0) @binding(3) var<storage, read> grad_norm_sq: array<f32>;

@compute @workgroup_size(WG)
fn muon_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  if (i >= params.n || !is_finite(grad_norm_sq[0])) { return; }
  let j = params.offset + i;
  p[j] = params.a * p[j] - params.b * upd[i];
}
#endif
