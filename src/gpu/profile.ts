import type { Gpu } from './device';
import { parseLabel, type DispatchRecord } from '../lib/step-profile';

/**
 * The step profiler: where one training step's GPU time goes, per dispatch, aggregated by op family (the shader
 * file), by entry point and by scope (the debug group the dispatch was recorded in: `h.3` for block 3, `optimizer`...).
 *
 * How: a stand-in compute pass (PassProfiler.pass) that the step's code records into as if it were one pass. Each
 * dispatch becomes its own real compute pass on the same command encoder, in the same order, with `timestamp-query`
 * writes at its beginning and end; so the step computes exactly what it computes unprofiled (same dispatches, same
 * buffers, same order), and each dispatch's GPU time is the difference of its two timestamps. Passes cost a little
 * each, so a profiled step takes somewhat longer than a plain one: the profile reports both sums.
 *
 * Without `timestamp-query` the dispatches are still counted (with the bytes they bind and their scopes) and the
 * step's wall time is kept, but per-dispatch times are null: the page and the bench say so. The records' types and
 * their aggregation (by family, entry point, scope) are pure and live in src/lib/step-profile.ts.
 *
 * Chrome quantises timestamps (to 100 µs unless chrome://flags "WebGPU Developer Features" is on) so that pages
 * cannot time side channels: a dispatch shorter than the quantum reads as 0 or one quantum. On SwiftShader every
 * dispatch lasts far longer; on a fast GPU turn the flag on for per-kernel figures.
 */

/** The bytes bound by each bind group the kernels made (kernels/dispatch.ts records them). */
const boundBytes = new WeakMap<GPUBindGroup, number>();

/** Records how many bytes of buffers `group` binds, for profiles. */
export function noteBindGroupBytes(group: GPUBindGroup, bytes: number): void {
  boundBytes.set(group, bytes);
}

interface Pending {
  label: string;
  scope: string;
  workgroups: number | null;
  bytesBound: number;
}

/**
 * Records the dispatches of one step through stand-in passes (see the file's comment). Make one per profiled step:
 * `pass(encoder)` wherever the step would begin a compute pass, `resolve(encoder)` on the last encoder before it is
 * submitted, then `read()` once the GPU is done. Capacity bounds the dispatches (2 timestamps each).
 */
export class PassProfiler {
  /** Dispatches per query set: WebGPU allows 4096 queries in one set, two per dispatch. */
  static readonly PER_SET = 2048;
  readonly timed: boolean;
  private readonly sets: { query: GPUQuerySet; resolve: GPUBuffer; read: GPUBuffer }[] = [];
  private readonly records: Pending[] = [];
  private resolved = false;

  /** `capacity` bounds the dispatches of the step (a query set per 2048 of them, made as needed). */
  constructor(
    private readonly gpu: Gpu,
    readonly capacity = 16_384,
  ) {
    this.timed = gpu.features.timestampQuery;
  }

  /** The query set for dispatch `i` and the index of its first timestamp in it. */
  private slot(i: number): { query: GPUQuerySet; index: number } {
    const k = Math.floor(i / PassProfiler.PER_SET);
    while (this.sets.length <= k) {
      const bytes = 16 * PassProfiler.PER_SET;
      const { device } = this.gpu;
      this.sets.push({
        query: device.createQuerySet({ type: 'timestamp', count: 2 * PassProfiler.PER_SET, label: `profile ${k}` }),
        resolve: device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: `profile resolve ${k}` }),
        read: device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: `profile read ${k}` }),
      });
    }
    return { query: this.sets[k]!.query, index: 2 * (i % PassProfiler.PER_SET) };
  }

  get dispatches(): number {
    return this.records.length;
  }

  /** A stand-in for `encoder.beginComputePass()`: every dispatch recorded into it runs in its own timed pass. */
  pass(encoder: GPUCommandEncoder, scope = ''): GPUComputePassEncoder {
    const self = this;
    const stack: string[] = scope ? [scope] : [];
    let pipeline: GPUComputePipeline | null = null;
    const groups: [number, GPUBindGroup | null, number[]][] = [];
    let ended = false;
    const run = (workgroups: number | null, record: (p: GPUComputePassEncoder) => void) => {
      if (ended) throw new Error('profile: a dispatch was recorded after the pass ended');
      if (!pipeline) throw new Error('profile: dispatch without a pipeline');
      const i = self.records.length;
      if (i >= self.capacity) throw new RangeError(`profile: the step has more than ${self.capacity} dispatches; raise the profiler's capacity`);
      let desc: GPUComputePassDescriptor = {};
      if (self.timed) {
        const { query, index } = self.slot(i);
        desc = { timestampWrites: { querySet: query, beginningOfPassWriteIndex: index, endOfPassWriteIndex: index + 1 } };
      }
      const real = encoder.beginComputePass(desc);
      real.setPipeline(pipeline);
      let bytesBound = 0;
      for (const [index, group, offsets] of groups) {
        if (!group) continue;
        real.setBindGroup(index, group, offsets);
        bytesBound += boundBytes.get(group) ?? 0;
      }
      record(real);
      real.end();
      self.records.push({ label: pipeline.label, scope: stack.join('/'), workgroups, bytesBound });
    };
    const stand = {
      label: 'profiled pass',
      setPipeline(p: GPUComputePipeline) {
        pipeline = p;
      },
      setBindGroup(index: number, group: GPUBindGroup | null, offsets: Iterable<number> = []) {
        groups[index] = [index, group, [...offsets]];
      },
      dispatchWorkgroups(x: number, y = 1, z = 1) {
        run(x * y * z, (p) => p.dispatchWorkgroups(x, y, z));
      },
      dispatchWorkgroupsIndirect(buffer: GPUBuffer, offset: number) {
        run(null, (p) => p.dispatchWorkgroupsIndirect(buffer, offset));
      },
      pushDebugGroup(name: string) {
        stack.push(name);
      },
      popDebugGroup() {
        if (stack.length === 0) throw new Error('profile: popDebugGroup without a matching push');
        stack.pop();
      },
      insertDebugMarker() {},
      end() {
        ended = true;
      },
    };
    return stand as unknown as GPUComputePassEncoder;
  }

  /** Copies the timestamps out; call on the step's last encoder, after its last profiled pass. */
  resolve(encoder: GPUCommandEncoder): void {
    this.resolved = true;
    const n = this.records.length;
    this.sets.forEach((set, k) => {
      const count = Math.min(PassProfiler.PER_SET, n - k * PassProfiler.PER_SET);
      encoder.resolveQuerySet(set.query, 0, 2 * count, set.resolve, 0);
      encoder.copyBufferToBuffer(set.resolve, 0, set.read, 0, 16 * count);
    });
  }

  /** The dispatches with their times (null without timestamp-query); after the resolving encoder was submitted. */
  async read(): Promise<DispatchRecord[]> {
    if (!this.resolved) throw new Error('profile: read() before resolve()');
    const n = this.records.length;
    const times = await Promise.all(this.sets.map(async (set, k) => {
      const bytes = 16 * Math.min(PassProfiler.PER_SET, n - k * PassProfiler.PER_SET);
      await set.read.mapAsync(GPUMapMode.READ, 0, bytes);
      const t = new BigInt64Array(set.read.getMappedRange(0, bytes).slice(0));
      set.read.unmap();
      return t;
    }));
    return this.records.map((r, i) => {
      const t = times[Math.floor(i / PassProfiler.PER_SET)];
      const j = 2 * (i % PassProfiler.PER_SET);
      const ms = this.timed && t ? Math.max(0, Number(t[j + 1]! - t[j]!) / 1e6) : null;
      return { ...r, ...parseLabel(r.label), ms };
    });
  }

  destroy(): void {
    for (const set of this.sets) {
      set.query.destroy();
      set.resolve.destroy();
      set.read.destroy();
    }
    this.sets.length = 0;
  }
}

