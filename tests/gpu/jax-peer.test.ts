/**
 * The jax-js training peer (bench/peers/jax-transformer.ts) computes the model of tests/reference/model.ts: its
 * loss matches the float64 reference on tiny dense configs, a few jit'ed Adam steps lower the loss, and it refuses
 * models it does not write instead of timing a different one.
 */
import { describe, expect, it } from 'vitest';
import { createJaxTrainer } from '../../bench/peers/jax-transformer';
import { resolveModelConfig } from '../../src/model/config';
import { buildLayout } from '../../src/model/layout';
import { referenceForward } from '../reference/model';
import { expectClose } from '../util/compare';
import { randomPeerParams, refParamsOf } from '../util/peer-params';
import { freshSeed, randint } from '../util/random';

const B = 2;
const T = 5;
const tiny = { vocabSize: 16, contextLength: T, nEmbd: 8, nHead: 2, nKvHead: 1, nLayer: 2 };

const cases: [string, Record<string, unknown>][] = [
  ['swiglu tied, NH 2 NKV 1', { ...tiny }],
  ['gelu untied, NH 4 NKV 2', { ...tiny, nHead: 4, nKvHead: 2, mlp: 'gelu', tiedEmbeddings: false }],
];

describe('jax-js training peer', () => {
  for (const [name, override] of cases) {
    it(`loss matches the float64 reference: ${name}`, async () => {
      const c = resolveModelConfig(override);
      const seed = freshSeed();
      const flat = randomPeerParams(c, seed);
      const tokens = Int32Array.from(randint(B * T, seed + 1, c.vocabSize));
      const targets = Int32Array.from(randint(B * T, seed + 2, c.vocabSize));
      const trainer = await createJaxTrainer(c, { batchSize: B, seqLen: T, lr: 1e-2, seed }, tokens, targets);
      try {
        trainer.loadFlat(flat, buildLayout(c));
        const ref = referenceForward(c, refParamsOf(c, flat), tokens, targets, B, T);
        expectClose('loss', [await trainer.loss()], [ref.loss], 1e-4, `seed ${seed}`);
      } finally {
        trainer.dispose();
      }
    }, 300_000);
  }

  it('Adam steps lower the loss, and the first step equals the loss before it', async () => {
    const c = resolveModelConfig({ ...tiny, initScale: 0.1 });
    const tokens = Int32Array.from(randint(B * T, 7, c.vocabSize));
    const targets = Int32Array.from(randint(B * T, 8, c.vocabSize));
    const trainer = await createJaxTrainer(c, { batchSize: B, seqLen: T, lr: 3e-2, seed: 3 }, tokens, targets);
    try {
      const before = await trainer.loss();
      const losses: number[] = [];
      for (let i = 0; i < 8; i++) {
        trainer.step();
        losses.push(await trainer.lastLoss());
      }
      await trainer.done();
      expect(losses.every(Number.isFinite), `losses ${losses}`).toBe(true);
      expect(Math.abs(losses[0] - before), `first step's loss ${losses[0]} vs ${before}`).toBeLessThan(1e-4 * before);
      expect(losses[7], `losses ${losses.map((v) => v.toFixed(3))}`).toBeLessThan(losses[0] * 0.8);
    } finally {
      trainer.dispose();
    }
  }, 300_000);

  it('refuses a model it does not write', async () => {
    const c = resolveModelConfig({ ...tiny, moeEvery: 1 });
    await expect(createJaxTrainer(c, { batchSize: B, seqLen: T, lr: 1e-2, seed: 1 }, new Int32Array(B * T), new Int32Array(B * T))).rejects.toThrow(/mixture-of-experts/);
  });
});
