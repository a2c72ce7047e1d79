import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import { noteBindGroupBytes } from '../gpu/profile';

/**
 * Shared plumbing for kernel wrappers: bind groups (cached per pipeline and buffer set, so a training
 * schedule replayed every step creates none) and workgroup grids that respect the per-dimension limit.
 */

/** A whole buffer, or a range of one (offset a multiple of minStorageBufferOffsetAlignment, 256 bytes). */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset: number; size: number };

let nextId = 1;
const bufferIds = new WeakMap<GPUBuffer, number>();
function idOf(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) {
    id = nextId++;
    bufferIds.set(b, id);
  }
  return id;
}

const pipelineIds = new WeakMap<GPUComputePipeline, number>();
function pipelineId(p: GPUComputePipeline): number {
  let id = pipelineIds.get(p);
  if (id === undefined) {
    id = nextId++;
    pipelineIds.set(p, id);
  }
  return id;
}

const MAX_CACHED_BIND_GROUPS = 4096;
const bindGroupCache = new Map<string, GPUBindGroup>();

/** A bind group for group 0 with `buffers[i]` at binding i. */
export function bindGroup(gpu: Gpu, pipelineOrStandIn: GPUComputePipeline, buffers: readonly Binding[]): GPUBindGroup {
  const pipeline = gpu.pipelines.resolve(pipelineOrStandIn);
  const key = `${pipelineId(pipeline)}:${buffers.map((b) => ('buffer' in b ? `${idOf(b.buffer)}@${b.offset}+${b.size}` : idOf(b))).join(',')}`;
  let bg = bindGroupCache.get(key);
  if (bg) {
    // refresh LRU position
    bindGroupCache.delete(key);
    bindGroupCache.set(key, bg);
    return bg;
  }
  bg = gpu.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((b, binding) => ({ binding, resource: 'buffer' in b ? b : { buffer: b } })),
    label: pipeline.label,
  });
  noteBindGroupBytes(bg, buffers.reduce((s, b) => s + b.size, 0)); // a range's size or the whole buffer's
  bindGroupCache.set(key, bg);
  if (bindGroupCache.size > MAX_CACHED_BIND_GROUPS) {
    const oldest = bindGroupCache.keys().next().value as string;
    bindGroupCache.delete(oldest);
  }
  return bg;
}

/** Records one dispatch into `pass`. */
export function dispatch(
  gpu: Gpu,
  pass: GPUComputePassEncoder,
  pipelineOrStandIn: GPUComputePipeline,
  buffers: readonly Binding[],
  workgroups: readonly [number, number?, number?],
): void {
  const pipeline = gpu.pipelines.resolve(pipelineOrStandIn);
  const [x, y = 1, z = 1] = workgroups;
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  check(x <= max && y <= max && z <= max, () => `dispatch of ${pipeline.label} needs ${x}x${y}x${z} workgroups; this device allows ${max} per dimension`);
  if (x === 0 || y === 0 || z === 0) return;
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup(gpu, pipeline, buffers));
  pass.dispatchWorkgroups(x, y, z);
}

/** Records one dispatch whose grid the GPU reads from `args` (three u32 at byte `offset`; INDIRECT usage). */
export function dispatchIndirect(
  gpu: Gpu,
  pass: GPUComputePassEncoder,
  pipelineOrStandIn: GPUComputePipeline,
  buffers: readonly Binding[],
  args: GPUBuffer,
  offset: number,
): void {
  check(offset % 4 === 0 && offset + 12 <= args.size, () => `indirect dispatch: args offset ${offset} must be a multiple of 4 with 12 bytes after it in '${args.label}' (${args.size} bytes)`);
  const pipeline = gpu.pipelines.resolve(pipelineOrStandIn);
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup(gpu, pipeline, buffers));
  pass.dispatchWorkgroupsIndirect(args, offset);
}

/**
 * Spreads `count` workgroups over x and y when it exceeds the per-dimension limit. Shaders that use it
 * linearise with `wid.x + wid.y * num_workgroups.x` and return when the result is >= their count.
 */
export function grid1d(gpu: Gpu, count: number): [number, number] {
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (count <= max) return [Math.max(count, 0), 1];
  const y = Math.ceil(count / max);
  return [Math.ceil(count / y), y];
}

export const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/**
 * Workgroup size for kernels that give one workgroup to each row of `width` elements (loss, sample): a power
 * of two from 32 to 256 with about 8 elements per invocation, so short rows leave few lanes idle and their
 * reductions take few barrier steps (on SwiftShader a 256-wide workgroup costs ~80x a 32-wide one per row).
 */
export function rowWorkgroupSize(width: number): number {
  return Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(Math.max(width / 8, 1)))));
}

/** Packs a uniform struct of u32/i32/f32 fields, each 4 bytes, in the order given. */
export function packUniform(fields: readonly (readonly ['u32' | 'i32' | 'f32', number])[]): ArrayBuffer {
  const buf = new ArrayBuffer(Math.max(16, Math.ceil((fields.length * 4) / 16) * 16));
  const view = new DataView(buf);
  fields.forEach(([type, v], i) => {
    if (type === 'f32') view.setFloat32(i * 4, v, true);
    else if (type === 'i32') view.setInt32(i * 4, v, true);
    else {
      check(Number.isInteger(v) && v >= 0 && v < 2 ** 32, `uniform field ${i} must be a u32, got ${v}`);
      view.setUint32(i * 4, v, true);
    }
  });
  return buf;
}

/** Runs `record` in one compute pass and submits it. */
export function submitPass(gpu: Gpu, record: (pass: GPUComputePassEncoder) => void, label = 'pass'): void {
  const enc = gpu.device.createCommandEncoder({ label });
  const pass = enc.beginComputePass({ label });
  record(pass);
  pass.end();
  gpu.queue.submit([enc.finish()]);
}

// ---- binding checks shared by the kernel wrappers ----

/** The buffer behind a binding. */
export function bufferOf(b: Binding): GPUBuffer {
  return 'buffer' in b ? b.buffer : b;
}

/** 4-byte elements a binding covers. */
export function elementsIn(b: Binding): number {
  return Math.floor(b.size / 4);
}

/** Throws a ShapeError naming the kernel, the binding and its label if it holds fewer than `n` elements. */
export function assertHolds(kernel: string, name: string, b: Binding, n: number, unit = 'floats'): void {
  check(elementsIn(b) >= n, () => `${kernel}: ${name} ('${bufferOf(b).label}') holds ${elementsIn(b)} ${unit}, needs ${n}`);
}

/** Throws unless `out` shares no buffer with any of `inputs` (WebGPU forbids binding a buffer writable and again in one dispatch). */
export function assertNoAlias(kernel: string, outName: string, out: Binding, inputs: Record<string, Binding>): void {
  for (const [name, b] of Object.entries(inputs)) {
    check(bufferOf(b) !== bufferOf(out), () => `${kernel}: ${outName} must not share a buffer with ${name} (WebGPU forbids binding a buffer writable and again in one dispatch)`);
  }
}

export function assertCount(kernel: string, name: string, v: number, min = 1): void {
  check(Number.isInteger(v) && v >= min && v < 2 ** 32, () => `${kernel}: ${name} must be an integer >= ${min}, got ${v}`);
}
