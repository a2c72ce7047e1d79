/**
 * KV-cache decoding (src/model/decoder.ts): one new token for each of S sequences per iteration, the whole model's
 * forward at Tn = 1 (embedding, every block's projections, cache append, attention over the cached keys, MLP or MoE,
 * final norm and head), for a single stream (S = 1) and a batch of 16 (best-of-N and pass@k sampling decode 16 or
 * more at once). The position cycles through the context (the cache is reset when full), so attention's cost is
 * averaged over positions. Sampling and its readback are not in the row (sample.ts times the sampling kernel).
 * FLOPs per iteration: S · flopsPerToken / 3 (the training count's forward third, attention at full context: an
 * upper bound); tokens/s = S / time. No TF.js peer: TF.js has no KV-cache decoder to compare with.
 */
import { flopsPerToken, resolveModelConfig } from '../../src/model/config';
import { Decoder } from '../../src/model/decoder';
import { buildLayout } from '../../src/model/layout';
import { randn } from '../../tests/util/random';
import type { BenchCase, Suite } from '../types';
import { BENCH_MODELS } from './train';

function decodeCase(kind: string, model: Record<string, unknown>, S: number, quick: boolean): BenchCase {
  const mc = resolveModelConfig(model);
  return {
    op: 'decode',
    shape: `${kind} S${S} C${mc.nEmbd} L${mc.nLayer} T${mc.contextLength}${mc.moeEvery ? ` E${mc.moeExperts} k${mc.moeTopK}` : ''}`,
    flops: (S * flopsPerToken(mc)) / 3,
    tokens: S,
    quick,
    async ours(gpu) {
      const params = gpu.upload(randn(buildLayout(mc).totalLength, 21, 0.05), 'decode bench params');
      const decoder = new Decoder(gpu, mc, params, S);
      await decoder.prepare(1);
      const tokens = new Uint32Array(S).map((_, i) => (7 * i + 3) % mc.vocabSize);
      return {
        work: async (repeats) => {
          for (let i = 0; i < repeats; i++) {
            if (decoder.position >= mc.contextLength) decoder.reset();
            decoder.run(tokens, 1);
          }
          await gpu.queue.onSubmittedWorkDone();
        },
        dispose() {
          decoder.destroy();
          gpu.release(params);
        },
      };
    },
  };
}

const { tinyDense, tinyMoe, dense, moe } = BENCH_MODELS;

const suite: Suite = () => [
  decodeCase('dense', tinyDense, 1, true),
  decodeCase('dense', tinyDense, 16, true),
  decodeCase('moe', tinyMoe, 1, true),
  decodeCase('moe', tinyMoe, 16, true),
  decodeCase('dense', dense, 1, false),
  decodeCase('dense', dense, 16, false),
  decodeCase('moe', moe, 1, false),
  decodeCase('moe', moe, 16, false),
];
export default suite;
