// reduce: sum, sum of squares (the global gradient norm²) and max |x| of n floats, in two dispatches.
// Algorithm: stage 1 (reduce_partials, FINAL false) gives workgroup g the contiguous chunk
// [g·chunk, min((g+1)·chunk, n)); invocation l accumulates elements l, l+WG, l+2·WG, ... of it (coalesced,
// four independent accumulators), then the workgroup combines its WG values with a fixed tree, or with
// subgroup operations when SUBGROUPS, into partials[g]. Stage 2 (reduce_final, FINAL true) is one workgroup
// that combines the partials the same way and writes out[out_index]. The partition depends only on n, so the
// order of additions (and the result) is the same on every run; without subgroups, on every device too.
// With RANGES (per-tensor norms of the flat gradient buffer), each stage-1 workgroup reads its [start, end)
// from ranges instead, and stage 2 runs one workgroup per tensor, workgroup s combining partials
// [ranges[s].x, ranges[s].y) into out[out_index + s].
// max |x| works on bit patterns: with the sign cleared, u32 order is float order and NaN sorts above +Inf, so a
// NaN anywhere gives NaN (f32 max() may drop NaNs). Sums propagate NaN and Inf by IEEE arithmetic.
// Layout: x (n) dense f32, a whole buffer or a sub-range; partials (P) one u32 bit pattern per stage-1
// workgroup; out (>= out_index + 1, or + number of tensors) f32; ranges vec2<u32> per workgroup.

#if ${SUBGROUPS}
enable subgroups;
#endif

struct Params {
  n: u32,          // stage 1: elements of x (with RANGES, a bound); stage 2: number of partials (unused with RANGES)
  chunk: u32,      // stage 1 without RANGES: elements per workgroup (a multiple of 4·WG)
  out_index: u32,  // stage 2: where in out the (first) result goes
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;

const WG: u32 = ${WG}u;  // a power of two

#if ${MAXABS}
alias Acc = u32;
const IDENTITY: Acc = 0u;
fn lift(x: f32) -> Acc { return bitcast<u32>(x) & 0x7fffffffu; }
fn combine(a: Acc, b: Acc) -> Acc { return max(a, b); }
fn to_bits(a: Acc) -> u32 { return a; }
fn from_bits(b: u32) -> Acc { return b; }
fn to_f32(a: Acc) -> f32 { return bitcast<f32>(a); }
#else
alias Acc = f32;
const IDENTITY: Acc = 0.0;
fn lift(x: f32) -> Acc {
#if ${SUMSQ}
  return x * x;
#else
  return x;
#endif
}
fn combine(a: Acc, b: Acc) -> Acc { return a + b; }
fn to_bits(a: Acc) -> u32 { return bitcast<u32>(a); }
fn from_bits(b: u32) -> Acc { return bitcast<f32>(b); }
fn to_f32(a: Acc) -> f32 { return a; }
#endif

var<workgroup> scratch: array<Acc, WG>;

#if ${SUBGROUPS}
var<private> sg_lane: u32;
var<private> sg_size: u32;

fn subgroup_combine(v: Acc) -> Acc {
#if ${MAXABS}
  return subgroupMax(v);
#else
  return subgroupAdd(v);
#endif
}

// Which invocations share a subgroup is implementation-defined, so nothing here assumes subgroup k holds
// invocations k·size..: lane 0 of every subgroup leaves its subgroup's value in its own slot (the rest hold
// the identity), and then every subgroup reads all WG slots, lane j taking slots j, j+size, ..., in a fixed
// order. The result is valid in every invocation.
fn workgroup_reduce(v: Acc, lid: u32) -> Acc {
  let s = subgroup_combine(v);
  scratch[lid] = select(IDENTITY, s, sg_lane == 0u);
  workgroupBarrier();
  var t = IDENTITY;
  for (var k = sg_lane; k < WG; k += sg_size) {
    t = combine(t, scratch[k]);
  }
  return subgroup_combine(t);
}
#else
// Pairwise tree in workgroup memory; the result is valid in invocation 0.
fn workgroup_reduce(v: Acc, lid: u32) -> Acc {
  scratch[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      scratch[lid] = combine(scratch[lid], scratch[lid + s]);
    }
    workgroupBarrier();
  }
  return scratch[0];
}
#endif

#if ${RANGES}
@group(0) @binding(3) var<storage, read> ranges: array<vec2<u32>>;
#endif

#if ${FINAL}
@group(0) @binding(1) var<storage, read> partials_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn reduce_final(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
#if ${SUBGROUPS}
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) size: u32,
#endif
) {
#if ${SUBGROUPS}
  sg_lane = lane;
  sg_size = size;
#endif
#if ${RANGES}
  let begin = ranges[wid.x].x;
  let end = ranges[wid.x].y;
#else
  let begin = 0u;
  let end = params.n;
#endif
  var a = IDENTITY;
  for (var i = begin + lid; i < end; i += WG) {
    a = combine(a, from_bits(partials_in[i]));
  }
  let r = workgroup_reduce(a, lid);
  if (lid == 0u) {
    out[params.out_index + wid.x] = to_f32(r);
  }
}
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<u32>;

@compute @workgroup_size(WG)
fn reduce_partials(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
#if ${SUBGROUPS}
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) size: u32,
#endif
) {
#if ${SUBGROUPS}
  sg_lane = lane;
  sg_size = size;
#endif
#if ${RANGES}
  let start = ranges[wid.x].x;
  let end = min(ranges[wid.x].y, params.n);
#else
  let start = wid.x * params.chunk;
  let end = min(start + params.chunk, params.n);
#endif
  var a0 = IDENTITY;
  var a1 = IDENTITY;
  var a2 = IDENTITY;
  var a3 = IDENTITY;
  var i = start + lid;
  for (; i + 3u * WG < end; i += 4u * WG) {
    a0 = combine(a0, lift(x[i]));
    a1 = combine(a1, lift(x[i + WG]));
    a2 = combine(a2, lift(x[i + 2u * WG]));
    a3 = combine(a3, lift(x[i + 3u * WG]));
  }
  for (; i < end; i += WG) {
    a0 = combine(a0, lift(x[i]));
  }
  let r = workgroup_reduce(combine(combine(a0, a1), combine(a2, a3)), lid);
  if (lid == 0u) {
    partials[wid.x] = to_bits(r);
  }
}
#endif
