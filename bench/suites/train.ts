/**
 * One full training step (forward, backward, optimiser) of a reference model: ours (fused kernels, AdamW) against
 * the same model written with TensorFlow.js ops and its Adam (bench/peers/tf-transformer.ts), same batch.
 * jax-js's jit'ed step (bench/peers/jax-transformer.ts) is the second peer on the dense rows. Rows: train_gpt (issue
 * 15's tiny GPT), train_dense (~0.8M parameters, T = 128) and train_moe, its mixture-of-experts twin with the same active
 * parameters per token (4 experts of half the width, top-2). FLOPs per step = tokens · flopsPerToken (6·N_active
 * plus the attention term), so GFLOP/s is the achieved training throughput; tokens/s = B·T / time.
 */
import * as tfCore from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { flopsPerToken, resolveModelConfig } from '../../src/model/config';
import { resolveRunConfig } from '../../src/train/config';
import { Trainer } from '../../src/train/trainer';
import { randint } from '../../tests/util/random';
import { createJaxTrainer } from '../peers/jax-transformer';
import { createTfTrainer } from '../peers/tf-transformer';
import type { BenchCase, Suite } from '../types';

function trainCase(op: string, model: Record<string, unknown>, B: number, quick: boolean): BenchCase {
  const mc = resolveModelConfig(model);
  const T = mc.contextLength;
  const tokens = randint(B * T, 11, mc.vocabSize);
  const targets = randint(B * T, 12, mc.vocabSize);
  const shape = `B${B} T${T} C${mc.nEmbd} L${mc.nLayer}${mc.moeEvery ? ` E${mc.moeExperts} k${mc.moeTopK}` : ''}`;
  return {
    op,
    shape,
    flops: B * T * flopsPerToken(mc),
    quick,
    ours(gpu) {
      const config = resolveRunConfig({ model, train: { batchSize: B, steps: 1000 }, optim: { warmupSteps: 0 } });
      // Enough tokens for the batcher; the timed step reuses one uploaded batch.
      const trainer = new Trainer(gpu, config, { train: new Uint32Array(T + 2), validation: new Uint32Array(0) });
      trainer.model.setBatch(tokens, targets);
      return {
        record: (pass) => {
          trainer.encodeMicroBatch(pass, 0);
          trainer.encodeOptimizer(pass);
        },
        dispose: () => trainer.destroy(),
      };
    },
    peer(tf) {
      const t = createTfTrainer(tf as typeof tfCore, mc, { batchSize: B, seqLen: T, lr: 1e-3, seed: 1 });
      const tok = Int32Array.from(tokens);
      const tgt = Int32Array.from(targets);
      return { run: () => t.step(tok, tgt), dispose: () => t.dispose() };
    },
    // jax-js writes dense RMSNorm models only (its peer refuses the rest): the MoE rows have no jax side.
    jax: mc.moeEvery ? undefined : () => createJaxTrainer(mc, { batchSize: B, seqLen: T, lr: 1e-3, seed: 1 }, Int32Array.from(tokens), Int32Array.from(targets)),
  };
}

/** The bench's model shapes (the decode rows use them too): tiny, and the reference ~0.8M-parameter dense and MoE twins. */
export const BENCH_MODELS = (() => {
  const dense = { vocabSize: 259, contextLength: 128, nLayer: 4, nEmbd: 128, nHead: 4, mlp: 'swiglu', mlpHidden: 344 };
  const tinyDense = { vocabSize: 259, contextLength: 32, nLayer: 2, nEmbd: 32, nHead: 2, mlp: 'swiglu', mlpHidden: 88 };
  // issue 15's tiny GPT (its goal: training tokens/s at least 1.5x jax-js's at this shape and at `dense`'s)
  const tinyGpt = { vocabSize: 259, contextLength: 64, nLayer: 2, nEmbd: 64, nHead: 4, mlp: 'gelu', mlpHidden: 256 };
  return {
    dense,
    tinyGpt,
    moe: { ...dense, mlpHidden: 176, moeEvery: 1, moeExperts: 4, moeTopK: 2, moeCapacityFactor: 1.25 },
    tinyDense,
    tinyMoe: { ...tinyDense, mlpHidden: 48, moeEvery: 1, moeExperts: 4, moeTopK: 2 },
  };
})();
const { dense, moe, tinyDense, tinyMoe, tinyGpt } = BENCH_MODELS;

const suite: Suite = () => [
  // issue 15's tiny GPT: 2 layers, width 64, 4 heads, context 64, batch 8, GELU 256, tied head, RMSNorm, RoPE.
  trainCase('train_gpt', tinyGpt, 8, true),
  trainCase('train_dense', tinyDense, 4, true),
  trainCase('train_moe', tinyMoe, 4, true),
  trainCase('train_dense', dense, 8, false),
  trainCase('train_moe', moe, 8, false),
];
export default suite;
