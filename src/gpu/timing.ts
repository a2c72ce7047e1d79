import type { Gpu } from './device';

/**
 * Times GPU work. With `timestamp-query` it measures the pass on the GPU; without it, the wall time from
 * submit to `onSubmittedWorkDone` (which includes submission overhead, so it reads a little high).
 */
export class GpuTimer {
  private readonly querySet: GPUQuerySet | null;
  private readonly resolveBuf: GPUBuffer | null;
  private readonly readBuf: GPUBuffer | null;

  constructor(private readonly gpu: Gpu) {
    if (gpu.features.timestampQuery) {
      this.querySet = gpu.device.createQuerySet({ type: 'timestamp', count: 2 });
      this.resolveBuf = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      this.readBuf = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    } else {
      this.querySet = this.resolveBuf = this.readBuf = null;
    }
  }

  get usesTimestamps(): boolean {
    return this.querySet !== null;
  }

  /** Runs `record` `repeats` times in one pass and returns the elapsed milliseconds of the whole pass. */
  async time(record: (pass: GPUComputePassEncoder) => void, repeats = 1): Promise<number> {
    const { device, queue } = this.gpu;
    const enc = device.createCommandEncoder({ label: 'timed' });
    const pass = enc.beginComputePass(
      this.querySet ? { timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {},
    );
    for (let i = 0; i < repeats; i++) record(pass);
    pass.end();
    if (this.querySet && this.resolveBuf && this.readBuf) {
      enc.resolveQuerySet(this.querySet, 0, 2, this.resolveBuf, 0);
      enc.copyBufferToBuffer(this.resolveBuf, 0, this.readBuf, 0, 16);
      queue.submit([enc.finish()]);
      await this.readBuf.mapAsync(GPUMapMode.READ);
      const t = new BigInt64Array(this.readBuf.getMappedRange().slice(0));
      this.readBuf.unmap();
      return Number(t[1] - t[0]) / 1e6;
    }
    const t0 = performance.now();
    queue.submit([enc.finish()]);
    await queue.onSubmittedWorkDone();
    return performance.now() - t0;
  }

  destroy(): void {
    this.querySet?.destroy();
    this.resolveBuf?.destroy();
    this.readBuf?.destroy();
  }
}

/** Median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Median wall time (ms) of one repetition of `record`, encoded `repeats` times back to back in one pass after a
 * warm-up, with `repeats` (at most `maxRepeats`) chosen so one of the `samples` samples lasts about `targetMs`.
 * Wall time from submit to `onSubmittedWorkDone`: comparable with a peer library timed the same way.
 */
export async function medianPassTime(
  gpu: Gpu,
  record: (pass: GPUComputePassEncoder) => void,
  targetMs: number,
  samples: number,
  maxRepeats = 100,
): Promise<number> {
  const once = async (repeats: number): Promise<number> => {
    const enc = gpu.device.createCommandEncoder({ label: 'median pass time' });
    const pass = enc.beginComputePass();
    for (let i = 0; i < repeats; i++) record(pass);
    pass.end();
    const t0 = performance.now();
    gpu.queue.submit([enc.finish()]);
    await gpu.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  await once(1);
  const first = await once(1);
  const repeats = Math.max(1, Math.min(maxRepeats, Math.round(targetMs / Math.max(first, 0.01))));
  const times: number[] = [];
  for (let s = 0; s < samples; s++) times.push((await once(repeats)) / repeats);
  return median(times);
}
