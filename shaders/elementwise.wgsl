// elementwise: pointwise ops over flat float32 arrays.
// Algorithm: one invocation per element (or per pair for RoPE), 1D grid folded into x/y when the
// count exceeds the per-dimension workgroup limit (index = wid.x + wid.y * nwg.x).
// Layout: every tensor is a dense row-major array; `n` elements.
// Entry points: fill, add (residual, out = a + b; out may alias nothing).

struct Params {
  n: u32,
  value: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;

const WG: u32 = ${WG}u;

fn flat_index(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid.x;
}

#if ${FILL}
@group(0) @binding(1) var<storage, read_write> out_fill: array<f32>;

@compute @workgroup_size(WG)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  if (i < params.n) { out_fill[i] = params.value; }
}
#endif

#if ${ADD}
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_add: array<f32>;

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wid, nwg, lid);
  if (i < params.n) { out_add[i] = a[i] + b[i]; }
}
#endif
