// embed: token embedding lookup and its deterministic scatter-add backward.
//   forward   x[n, :] = wte[tokens[n], :]                     tokens (N) u32, wte (V, C) -> x (N, C)
//   backward  dwte[v, :] += sum over n with tokens[n] = v of dx[n, :], summed in increasing n
// Token ids >= V are skipped: the forward writes a zero row, the backward adds nothing for them.
// Learned positions (GPT-2's wpe), in the forward's epilogue when POSITIONS is set:
//   forward   x[n, :] = wte[tokens[n], :] + wpe[n mod T + offset, :]       wpe (contextLength, C); rows n = b·T + t
//             (an out-of-range token still gets its position: its row is wpe's alone)
//   backward  dwpe[t + offset, :] += sum over b of dx[b·T + t, :]            position_backward, summed in
//             increasing b into a register, then added once: one invocation per (t, column), no atomics.
// Backward without float atomics, in three steps:
//   1. a stable LSD radix sort of (key = min(token, V), value = n), 8 bits per pass (one pass for V < 256,
//      two below 65536). sort_histogram: invocation d of block b counts the block's keys with digit d.
//      sort_scan: invocation d turns row d of the (digit, block) counts into exclusive prefix sums and
//      writes the digit's total. sort_scatter: each key goes to (keys of smaller digits) + (keys of its digit
//      in earlier blocks) + (keys of its digit earlier in its block). Equal tokens end up in increasing n.
//      No barriers and no atomics: each invocation scans at most SORT_BLOCK keys or RADIX totals (L1-cached
//      broadcast reads on a GPU; on SwiftShader a barrier costs more than such a scan).
//   2. segment_partial: the sorted list is cut into pieces of at most PIECE entries that never cross a
//      token boundary; one invocation per (chunk of PIECE entries, column) sums each piece in order into
//      partial[piece start].
//   3. segment_sum: for each token's first entry, one invocation per column adds the token's pieces in
//      order and adds the total to dwte. The summation order depends only on the tokens, never on timing.
// Layout: x, dx, wte, dwte, wpe, dwpe row-major with C / VEC vectors per row (VEC = 4 when C is a multiple of 4).

alias VT = ${VT};
const CV: u32 = ${CV}u;

#if ${FORWARD}
struct Params {
  n: u32,       // N * CV
  vocab: u32,
  t: u32,       // T, positions per sequence (POSITIONS)
  offset: u32,  // position of t = 0 (POSITIONS)
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> wte: array<VT>;
@group(0) @binding(3) var<storage, read_write> x: array<VT>;
#if ${POSITIONS}
@group(0) @binding(4) var<storage, read> wpe: array<VT>;
#endif

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn embed_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid.x;
  if (i >= params.n) { return; }
  let row = i / CV;
  let col = i - row * CV;
  let tok = tokens[row];
  var v = VT(0.0);
  if (tok < params.vocab) { v = wte[tok * CV + col]; }
#if ${POSITIONS}
  v += wpe[(row % params.t + params.offset) * CV + col];
#endif
  x[i] = v;
}
#endif

#if ${POSITION_BACKWARD}
struct PosParams {
  n: u32,       // T * CV
  batch: u32,   // B
  offset: u32,  // position of t = 0
  _pad0: u32,
}
@group(0) @binding(0) var<uniform> pp: PosParams;
@group(0) @binding(1) var<storage, read> dx: array<VT>;
@group(0) @binding(2) var<storage, read_write> dwpe: array<VT>;

const WG: u32 = 256u;

// Invocation i = t * CV + j: column j of position t, summed over the B sequences in order.
@compute @workgroup_size(WG)
fn position_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid.x;
  if (i >= pp.n) { return; }
  var sum = VT(0.0);
  for (var b = 0u; b < pp.batch; b++) { sum += dx[b * pp.n + i]; }
  let at = pp.offset * CV + i;
  dwpe[at] = dwpe[at] + sum;
}
#endif

#if ${SORT}
const SORT_BLOCK: u32 = 256u;
const RADIX: u32 = 256u;
struct SortParams {
  n: u32,
  blocks: u32,  // ceil(n / SORT_BLOCK)
  shift: u32,   // bit position of this pass's digit
  vocab: u32,
}
@group(0) @binding(0) var<uniform> sp: SortParams;
#endif

// Inputs of histogram and scatter. The first pass reads the tokens themselves: key = min(token, V) (V marks
// an out-of-range id), value = n. Later passes read the previous pass's keys, and the scatter its values.
// Bindings after the inputs start at B_NEXT (2, or 3 when the scatter reads values).
#if ${FIRST_PASS}
@group(0) @binding(1) var<storage, read> tokens_in: array<u32>;
fn key_at(i: u32) -> u32 { return min(tokens_in[i], sp.vocab); }
fn value_at(i: u32) -> u32 { return i; }
#elif ${KEYED}
@group(0) @binding(1) var<storage, read> keys_in: array<u32>;
fn key_at(i: u32) -> u32 { return keys_in[i]; }
#endif
#if ${VALUES_IN}
@group(0) @binding(2) var<storage, read> values_in: array<u32>;
fn value_at(i: u32) -> u32 { return values_in[i]; }
#endif

#if ${HISTOGRAM}
@group(0) @binding(${B_NEXT}) var<storage, read_write> hist: array<u32>;  // (RADIX, blocks) digit-major, then RADIX totals

@compute @workgroup_size(RADIX)
fn sort_histogram(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let block = wid.x;
  let d = lid.x;
  let first = block * SORT_BLOCK;
  let end = min(first + SORT_BLOCK, sp.n);
  var count = 0u;
  for (var i = first; i < end; i++) {
    if (((key_at(i) >> sp.shift) & 255u) == d) { count++; }
  }
  hist[d * sp.blocks + block] = count;
}
#endif

#if ${SCAN}
@group(0) @binding(1) var<storage, read_write> hist: array<u32>;

@compute @workgroup_size(RADIX)
fn sort_scan(@builtin(local_invocation_id) lid: vec3<u32>) {
  let start = lid.x * sp.blocks;
  var running = 0u;
  for (var b = 0u; b < sp.blocks; b++) {
    let c = hist[start + b];
    hist[start + b] = running;
    running += c;
  }
  hist[RADIX * sp.blocks + lid.x] = running;
}
#endif

#if ${SCATTER}
@group(0) @binding(${B_NEXT}) var<storage, read> offsets: array<u32>;  // scanned hist, then digit totals
@group(0) @binding(${B_NEXT_1}) var<storage, read_write> keys_out: array<u32>;
@group(0) @binding(${B_NEXT_2}) var<storage, read_write> values_out: array<u32>;

@compute @workgroup_size(SORT_BLOCK)
fn sort_scatter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let block = wid.x;
  let first = block * SORT_BLOCK;
  let i = first + lid.x;
  if (i >= sp.n) { return; }
  let key = key_at(i);
  let digit = (key >> sp.shift) & 255u;
  var dest = offsets[digit * sp.blocks + block];
  for (var d = 0u; d < digit; d++) { dest += offsets[RADIX * sp.blocks + d]; }
  for (var j = first; j < i; j++) {
    if (((key_at(j) >> sp.shift) & 255u) == digit) { dest++; }
  }
  keys_out[dest] = key;
  values_out[dest] = value_at(i);
}
#endif

#if ${SEGMENT}
const PIECE: u32 = ${PIECE}u;
const WG: u32 = 256u;
struct SegParams {
  n: u32,       // N (sorted entries)
  chunks: u32,  // ceil(N / PIECE)
  vocab: u32,
  _pad0: u32,
}
@group(0) @binding(0) var<uniform> sg: SegParams;
@group(0) @binding(1) var<storage, read> sorted_keys: array<u32>;
#endif

#if ${SEGMENT_PARTIAL}
@group(0) @binding(2) var<storage, read> sorted_values: array<u32>;
@group(0) @binding(3) var<storage, read> dx: array<VT>;
@group(0) @binding(4) var<storage, read_write> partial: array<VT>;  // (N, CV): row = piece start

// Invocation (chunk, j): entries [chunk * PIECE, chunk * PIECE + PIECE), column j; a new piece starts at the
// chunk start and wherever the token changes.
@compute @workgroup_size(WG)
fn segment_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let idx = (wid.x + wid.y * nwg.x) * WG + lid.x;
  if (idx >= sg.chunks * CV) { return; }
  let chunk = idx / CV;
  let j = idx - chunk * CV;
  let first = chunk * PIECE;
  let end = min(first + PIECE, sg.n);
  var start = first;
  var key = sorted_keys[first];
  var sum = VT(0.0);
  for (var i = first; i < end; i++) {
    let k = sorted_keys[i];
    if (k != key) {
      partial[start * CV + j] = sum;
      sum = VT(0.0);
      start = i;
      key = k;
    }
    sum += dx[sorted_values[i] * CV + j];
  }
  partial[start * CV + j] = sum;
}
#endif

#if ${SEGMENT_SUM}
@group(0) @binding(2) var<storage, read> partial: array<VT>;
@group(0) @binding(3) var<storage, read_write> dwte: array<VT>;

// Invocation (chunk, j): for every token whose first sorted entry lies in the chunk, add its pieces (at the
// first entry, then at each later chunk start while the token continues) to dwte[token, j].
@compute @workgroup_size(WG)
fn segment_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let idx = (wid.x + wid.y * nwg.x) * WG + lid.x;
  if (idx >= sg.chunks * CV) { return; }
  let chunk = idx / CV;
  let j = idx - chunk * CV;
  let first = chunk * PIECE;
  let end = min(first + PIECE, sg.n);
  for (var i = first; i < end; i++) {
    let key = sorted_keys[i];
    if (key >= sg.vocab) { break; } // out-of-range ids sort last: nothing more to add in this chunk
    if (i > 0u && sorted_keys[i - 1u] == key) { continue; }
    var sum = partial[i * CV + j];
    var p = (i / PIECE + 1u) * PIECE;
    while (p < sg.n && sorted_keys[p] == key) {
      sum += partial[p * CV + j];
      p += PIECE;
    }
    dwte[key * CV + j] = dwte[key * CV + j] + sum;
  }
}
#endif
