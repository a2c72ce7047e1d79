/**
 * The TF.js training peer (bench/peers/tf-transformer.ts) computes the model of tests/reference/model.ts: its
 * logits and loss match the float64 reference on tiny dense and MoE configs, and a few Adam steps lower the loss.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTfTrainer } from '../../bench/peers/tf-transformer';
import { resolveModelConfig } from '../../src/model/config';
import { buildLayout } from '../../src/model/layout';
import { referenceForward } from '../reference/model';
import { expectClose } from '../util/compare';
import { randomPeerParams, refParamsOf } from '../util/peer-params';
import { freshSeed, randint } from '../util/random';

const B = 2;
const T = 5;
const STEPS = 8;
const tiny = { vocabSize: 16, contextLength: T, nEmbd: 8, nHead: 2, nKvHead: 1, nLayer: 2 };

const cases: [string, Record<string, unknown>][] = [
  ['dense swiglu tied', { ...tiny }],
  ['dense gelu untied, NH 4 NKV 2', { ...tiny, nHead: 4, nKvHead: 2, mlp: 'gelu', tiedEmbeddings: false }],
  // N·K/E = 5 per expert and capacity 5 (K 2) or 2 (K 1): some choices are dropped.
  ['moe K2 every 2nd block', { ...tiny, moeEvery: 2, moeExperts: 4, moeTopK: 2, moeCapacityFactor: 1, moeAuxLossWeight: 0.1 }],
  ['moe K1 gelu every block', { ...tiny, mlp: 'gelu', moeEvery: 1, moeExperts: 4, moeTopK: 1, moeCapacityFactor: 0.8, moeAuxLossWeight: 0.1 }],
];

describe('TF.js training peer', () => {
  beforeAll(async () => {
    await tf.setBackend('webgpu');
    await tf.ready();
  });

  for (const [name, override] of cases) {
    it(`forward matches the float64 reference: ${name}`, async () => {
      const c = resolveModelConfig(override);
      const seed = freshSeed();
      const flat = randomPeerParams(c, seed);
      const tokens = Int32Array.from(randint(B * T, seed + 1, c.vocabSize));
      const targets = Int32Array.from(randint(B * T, seed + 2, c.vocabSize));
      const trainer = createTfTrainer(tf, c, { batchSize: B, seqLen: T, lr: 1e-2, seed });
      try {
        trainer.loadFlat(flat, buildLayout(c));
        const out = trainer.forward(tokens, targets);
        const [logits, loss, aux] = await Promise.all([out.logits.data(), out.loss.data(), out.auxLoss.data()]);
        tf.dispose(Object.values(out));
        const ref = referenceForward(c, refParamsOf(c, flat), tokens, targets, B, T);
        const ctx = `seed ${seed}`;
        expectClose('logits', logits, ref.logits, 1e-4, ctx);
        expectClose('loss', [loss[0]], [ref.loss], 1e-4, ctx);
        if (c.moeEvery > 0) expectClose('aux loss', [aux[0]], [ref.auxLoss], 1e-4, ctx);
      } finally {
        trainer.dispose();
      }
    });
  }

  // One Adam run (dense) keeps CI short: on SwiftShader its first step compiles every TF.js shader (minutes).
  for (const [name, override] of [cases[0]]) {
    it(`Adam steps lower the loss: ${name}`, async () => {
      const c = resolveModelConfig({ ...override, initScale: 0.1 });
      const tokens = Int32Array.from(randint(B * T, 7, c.vocabSize));
      const targets = Int32Array.from(randint(B * T, 8, c.vocabSize));
      const trainer = createTfTrainer(tf, c, { batchSize: B, seqLen: T, lr: 3e-2, seed: 3 });
      try {
        const before = tf.memory().numTensors;
        const losses: tf.Scalar[] = [];
        const t0 = performance.now();
        losses.push(trainer.step(tokens, targets));
        await losses[0].data(); // the first step compiles every shader: SwiftShader spends most of the test here
        const t1 = performance.now();
        for (let i = 1; i < STEPS; i++) losses.push(trainer.step(tokens, targets));
        const values = (await Promise.all(losses.map((l) => l.data()))).map((d) => d[0]);
        tf.dispose(losses);
        console.log(`${name}: first step ${(t1 - t0).toFixed(0)} ms, next ${STEPS - 1} ${(performance.now() - t1).toFixed(0)} ms; losses ${values.map((v) => v.toFixed(3))}`);
        expect(values.every(Number.isFinite), `losses ${values}`).toBe(true);
        expect(values[values.length - 1], `losses ${values.map((v) => v.toFixed(3))}`).toBeLessThan(values[0] * 0.8);
        // Only Adam's moments (2 per variable, made on the first step) may remain.
        expect(tf.memory().numTensors - before).toBe(2 * trainer.params().size);
      } finally {
        trainer.dispose();
      }
    }, 300_000);
  }
});
