import type { Gpu } from './device';

/**
 * Times one pass of GPU work. With `timestamp-query` it measures the pass on the GPU; without it, the wall time from
 * submit to `onSubmittedWorkDone` (which includes submission overhead, so it reads a little high). Comparisons with
 * a peer library use medianPassTimes below, which times both sides by the same wall clock.
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
 * One side of a timed comparison: does its work `repeats` times and resolves when the GPU has finished all of it.
 * The clock runs around the whole call, so the side's JavaScript work (encoding, dispatch) is timed with its GPU
 * work, and no side reads back its results (a bulk readback would time the copy, not the op).
 */
export type TimedWork = (repeats: number) => Promise<void>;

/**
 * Our kernels as a TimedWork: `record` encoded `repeats` times back to back into one pass (the encoding is on the
 * clock), submitted, and done at `onSubmittedWorkDone` (nothing is read back).
 */
export function passWork(gpu: Gpu, record: (pass: GPUComputePassEncoder) => void): TimedWork {
  return async (repeats) => {
    const enc = gpu.device.createCommandEncoder({ label: 'timed passes' });
    const pass = enc.beginComputePass();
    for (let i = 0; i < repeats; i++) record(pass);
    pass.end();
    gpu.queue.submit([enc.finish()]);
    await gpu.queue.onSubmittedWorkDone();
  };
}

export interface PassTimingOptions {
  /** Each sample repeats the work enough times to last about this long (ms). */
  targetMs: number;
  /** Timed samples per side (the bench takes at least 7). */
  samples: number;
  /** Cap on the repeats in one sample. */
  maxRepeats?: number;
}

export interface PassTiming {
  /** Median over the samples of one repetition's wall time (ms). */
  medianMs: number;
  /** Each sample's per-repetition time (ms), in the order taken. */
  samplesMs: number[];
  repeats: number;
}

/**
 * Median per-repetition wall time of each side, the one timing method of the benchmark and the regression speed
 * checks: two warm-up calls per side, then `repeats` chosen per side so one sample lasts about `targetMs`, then
 * `samples` rounds in which every side takes one sample in turn (round r: side 0, side 1, ...), so a change in the
 * machine's speed during the run reaches every side alike.
 */
export async function medianPassTimes(sides: readonly TimedWork[], opts: PassTimingOptions): Promise<PassTiming[]> {
  const maxRepeats = opts.maxRepeats ?? 100;
  const clock = async (work: TimedWork, repeats: number): Promise<number> => {
    const t0 = performance.now();
    await work(repeats);
    return performance.now() - t0;
  };
  const repeats: number[] = [];
  for (const work of sides) {
    await clock(work, 1);
    const first = await clock(work, 1);
    repeats.push(Math.max(1, Math.min(maxRepeats, Math.round(opts.targetMs / Math.max(first, 0.01)))));
  }
  const samples: number[][] = sides.map(() => []);
  for (let r = 0; r < opts.samples; r++) {
    for (const [i, work] of sides.entries()) samples[i].push((await clock(work, repeats[i])) / repeats[i]);
  }
  return samples.map((samplesMs, i) => ({ medianMs: median(samplesMs), samplesMs, repeats: repeats[i] }));
}
