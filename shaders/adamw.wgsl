// adamw: one fused AdamW step over every parameter of the model, in one dispatch.
// Algorithm: one invocation per float of the flat parameter buffer (1D grid folded into x/y past the
// per-dimension limit). The global gradient norm² comes in as a buffer (written by reduce's sumsq), so
// clipping needs no readback: scale = min(1, max_norm / (sqrt(norm²) + 1e-6)), or 1 when max_norm is 0.
// A NaN or Inf norm² skips the step everywhere (params, m, v untouched) and sets the status word, so a
// trainer keeps its last good weights and reports the NaN. Otherwise, with decoupled weight decay as in
// PyTorch's AdamW (decay uses the old p, and is masked per tensor):
//   g = scale·grad; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²
//   p = p − lr·( (m / bc1) / (sqrt(v / bc2) + eps) + wd·p ),  bc1 = 1 − β1^t, bc2 = 1 − β2^t (from the CPU, float64)
// Layout: params, grads, m, v (n) flat f32, every tensor starting at a multiple of 64 floats. blocks
// (ceil(n / 64)) has one u32 per 64-float block: bits 0..6 = how many leading floats of the block belong to a
// tensor (0..64; the rest is padding between tensors, never touched), bit 7 = apply weight decay.
// norm_sq[0] f32; status[0] = 1 if this step was skipped else 0, status[1] += 1 on each skipped step.

struct Hyper {
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weight_decay: f32,
  max_norm: f32,           // 0: no clipping
  bias_correction1: f32,   // 1 − β1^t
  bias_correction2: f32,   // 1 − β2^t
  n: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> hyper: Hyper;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> blocks: array<u32>;
// read_write although only read: it may then sit in the same buffer as status (another 256-byte-aligned range);
// WebGPU forbids read-only and writable bindings of one buffer in a dispatch.
@group(0) @binding(6) var<storage, read_write> norm_sq: array<f32>;
@group(0) @binding(7) var<storage, read_write> status: array<u32>;

const WG: u32 = ${WG}u;
const BLOCK: u32 = 64u;
const COUNT_MASK: u32 = 0x7fu;
const DECAY_BIT: u32 = 0x80u;

// Bit test rather than isNan/isInf-style comparisons, which fast-math compilers may fold away.
fn is_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(WG)
fn adamw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  let nsq = norm_sq[0];
  let finite = is_finite(nsq);
  if (i == 0u) {
    status[0] = select(1u, 0u, finite);
    if (!finite) {
      status[1] = status[1] + 1u;
    }
  }
  if (!finite || i >= hyper.n) {
    return;
  }
  let info = blocks[i / BLOCK];
  if (i % BLOCK >= (info & COUNT_MASK)) {
    return;
  }
  var scale = 1.0;
  if (hyper.max_norm > 0.0) {
    scale = min(1.0, hyper.max_norm / (sqrt(nsq) + 1e-6));
  }
  let g = grads[i] * scale;
  let mi = hyper.beta1 * m[i] + (1.0 - hyper.beta1) * g;
  let vi = hyper.beta2 * v[i] + (1.0 - hyper.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let wd = select(0.0, hyper.weight_decay, (info & DECAY_BIT) != 0u);
  let p = params[i];
  let m_hat = mi / hyper.bias_correction1;
  let v_hat = vi / hyper.bias_correction2;
  params[i] = p - hyper.lr * (m_hat / (sqrt(v_hat) + hyper.eps) + wd * p);
}
