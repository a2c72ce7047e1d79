/**
 * Throughput models for a sweep's time estimate: training tokens per second as a function of the model config.
 * The caller passes one measured on its adapter; these build one from a FLOP rate or from two measured runs.
 */
import { flopsPerToken, type ModelConfig } from '../model/config';
import { ConfigError } from '../model/validate';

/** Training tokens per second of a model on one adapter. */
export type Throughput = (model: ModelConfig) => number;

/**
 * The assumed laptop GPU that the presets are sized for: 50 GFLOP/s sustained on training steps of these toy
 * widths (about 2% of an integrated GPU's ~2.5 TFLOP/s fp32 peak; small matmuls and per-dispatch cost keep a
 * WebGPU trainer far from peak). An assumption, not a measurement: pass a measured model to get this adapter's time.
 */
export const LAPTOP_FLOPS_PER_SECOND = 50e9;

/** tokens/s = rate / flopsPerToken: a fixed FLOP rate at every size. */
export function flopRateThroughput(flopsPerSecond: number): Throughput {
  if (!(flopsPerSecond > 0 && Number.isFinite(flopsPerSecond))) {
    throw new ConfigError(`throughput: a FLOP rate must be positive and finite, got ${flopsPerSecond}`, 'throughput.flopsPerSecond');
  }
  return (model) => flopsPerSecond / flopsPerToken(model);
}

/** One measured training speed. */
export interface MeasuredThroughput {
  model: ModelConfig;
  tokensPerSecond: number;
}

/**
 * Fits seconds per token = overhead + flopsPerToken / rate through two measured sizes: a fixed per-token cost
 * (dispatches, which small models are bound by) plus a FLOP rate; with no overhead it is tokens/s ∝ 1/flopsPerToken.
 * A negative fitted overhead (measurement noise) is dropped: the rate then goes through the larger model's point,
 * the one that dominates a sweep's time.
 */
export function fitThroughput(a: MeasuredThroughput, b: MeasuredThroughput): Throughput & { overheadSeconds: number; flopsPerSecond: number } {
  [a, b].forEach((p, i) => {
    if (!(p.tokensPerSecond > 0 && Number.isFinite(p.tokensPerSecond))) {
      throw new ConfigError(`throughput: measured point ${i} has ${p.tokensPerSecond} tokens/s; a measurement must be positive and finite`, `throughput[${i}].tokensPerSecond`);
    }
  });
  const [small, large] = flopsPerToken(a.model) <= flopsPerToken(b.model) ? [a, b] : [b, a];
  const f1 = flopsPerToken(small.model);
  const f2 = flopsPerToken(large.model);
  if (f1 === f2) throw new ConfigError('throughput: the two measured models have the same FLOPs per token; measure two different sizes', 'throughput');
  const s1 = 1 / small.tokensPerSecond;
  const s2 = 1 / large.tokensPerSecond;
  if (s2 <= s1) {
    throw new ConfigError(
      `throughput: the larger model (${f2} FLOP/token) was measured as fast as or faster than the smaller (${f1}); remeasure (warm up first) or use a FLOP rate`,
      'throughput',
    );
  }
  let perFlop = (s2 - s1) / (f2 - f1);
  let overhead = s1 - perFlop * f1;
  if (overhead < 0) {
    overhead = 0;
    perFlop = s2 / f2;
  }
  const model = (m: ModelConfig): number => 1 / (overhead + perFlop * flopsPerToken(m));
  return Object.assign(model, { overheadSeconds: overhead, flopsPerSecond: 1 / perFlop });
}
