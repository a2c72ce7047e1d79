/** The expert-load view's data (the 'progress' event's `moe`), read from the MoE layers' routing stats. */
import type { Gpu } from '../gpu/device';
import { decodeRoutingStats, statsWords } from '../kernels/moe';
import type { MoeLayer } from '../model/moe-layer';
import type { MoeLayerLoad } from './protocol';

/**
 * Expert loads of the model's MoE layers without stalling training: each progress message starts one readback
 * of the routing stats (they hold the last forward's routing) and carries the newest readback that has finished.
 */
export class MoeLoads {
  private latest: MoeLayerLoad[] | undefined;
  private inFlight = false;

  constructor(private readonly gpu: Gpu, private readonly layers: { layer: number; moe: MoeLayer }[], private readonly onError: (e: unknown) => void) {}

  take(): MoeLayerLoad[] | undefined {
    const out = this.latest;
    this.latest = undefined;
    if (!this.inFlight) this.start();
    return out;
  }

  private start(): void {
    const { device } = this.gpu;
    // One staging buffer holds every layer's stats, end to end.
    const bytes = this.layers.map(({ moe }) => 4 * statsWords(moe.routing.experts));
    const offsets = bytes.map((_, i) => bytes.slice(0, i).reduce((a, b) => a + b, 0));
    const size = offsets[offsets.length - 1] + bytes[bytes.length - 1];
    const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'moe loads' });
    const enc = device.createCommandEncoder({ label: 'moe loads' });
    this.layers.forEach(({ moe }, i) => enc.copyBufferToBuffer(moe.buffers.stats, 0, staging, offsets[i], bytes[i]));
    this.gpu.queue.submit([enc.finish()]);
    this.inFlight = true;
    staging.mapAsync(GPUMapMode.READ).then(() => {
      const all = staging.getMappedRange().slice(0);
      this.latest = this.layers.map(({ layer, moe: { routing: r } }, i) => {
        const s = decodeRoutingStats(all.slice(offsets[i], offsets[i] + bytes[i]), r.experts);
        return { layer, load: Array.from(s.load), dropped: s.dropped, routed: r.tokens * r.topK };
      });
    }, this.onError).finally(() => {
      staging.destroy();
      this.inFlight = false;
    });
  }
}
