import type { Gpu } from '../gpu/device';

/**
 * Per-step scalars (loss, grad norm², optimiser status, …) collected on the GPU and read back in batches, so the
 * training loop never waits on a readback per step. Each step copies a small stats buffer into the next slot of a
 * ring; every `capacity` steps (or on flush) the filled slots are copied to a staging buffer and mapped
 * asynchronously. At most `inFlight` readbacks are outstanding: the loop awaits only the oldest one, which by
 * then has usually long finished — that is the only place the loop meets the GPU.
 */
export class MetricsRing {
  private readonly ring: GPUBuffer;
  private readonly staging: GPUBuffer[] = [];
  private readonly busy: (Promise<void> | null)[] = [];
  private slot = 0;
  private firstStepInRing = 0;
  private nextStaging = 0;

  constructor(
    private readonly gpu: Gpu,
    /** Floats per step (the stats buffer's length). */
    readonly floatsPerStep: number,
    /** Steps per readback. */
    readonly capacity = 16,
    inFlight = 2,
  ) {
    const bytes = floatsPerStep * 4 * capacity;
    this.ring = gpu.device.createBuffer({ size: bytes, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: 'metrics ring' });
    for (let i = 0; i < inFlight; i++) {
      this.staging.push(gpu.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: `metrics staging ${i}` }));
      this.busy.push(null);
    }
  }

  /**
   * Records copies of this step's stats into the ring (call once per step, after the step's pass): the
   * sources, each `floats` long from byte `offset`, are laid end to end and must add up to floatsPerStep.
   */
  record(enc: GPUCommandEncoder, sources: readonly { buffer: GPUBuffer; offset?: number; floats: number }[], step: number): void {
    if (this.slot === 0) this.firstStepInRing = step;
    let at = this.slot * this.floatsPerStep * 4;
    let total = 0;
    for (const s of sources) {
      enc.copyBufferToBuffer(s.buffer, s.offset ?? 0, this.ring, at, s.floats * 4);
      at += s.floats * 4;
      total += s.floats;
    }
    if (total !== this.floatsPerStep) throw new RangeError(`metrics ring: a step records ${this.floatsPerStep} floats, got ${total}`);
    this.slot++;
  }

  /** True when the ring is full and should be flushed after this step's submit. */
  get full(): boolean {
    return this.slot >= this.capacity;
  }

  get pending(): number {
    return this.slot;
  }

  /**
   * Starts reading back the filled slots; resolves with one Float32Array of `floatsPerStep` values per step.
   * Waits first for the staging buffer it needs, i.e. for the readback `inFlight` flushes ago.
   */
  async flush(onData: (firstStep: number, rows: Float32Array[]) => void): Promise<void> {
    const count = this.slot;
    if (count === 0) return;
    const first = this.firstStepInRing;
    this.slot = 0;
    const i = this.nextStaging;
    this.nextStaging = (i + 1) % this.staging.length;
    if (this.busy[i]) await this.busy[i];
    const staging = this.staging[i];
    const bytes = count * this.floatsPerStep * 4;
    const enc = this.gpu.device.createCommandEncoder({ label: 'metrics readback' });
    enc.copyBufferToBuffer(this.ring, 0, staging, 0, bytes);
    this.gpu.queue.submit([enc.finish()]);
    this.busy[i] = staging.mapAsync(GPUMapMode.READ, 0, bytes).then(() => {
      const all = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
      staging.unmap();
      this.busy[i] = null;
      const rows: Float32Array[] = [];
      for (let s = 0; s < count; s++) rows.push(all.subarray(s * this.floatsPerStep, (s + 1) * this.floatsPerStep));
      onData(first, rows);
    });
  }

  /** Waits for every outstanding readback. */
  async drain(): Promise<void> {
    await Promise.all(this.busy.filter(Boolean));
  }

  destroy(): void {
    this.ring.destroy();
    for (const s of this.staging) s.destroy();
  }
}
