import { describe, expect, it } from 'vitest';
import { makeDataset } from '../../src/data/batches';
import { END_OF_TEXT_ID } from '../../src/data/specials';
import { buildTokenizer } from '../../src/data/tokenizer';
import { Matmul } from '../../src/kernels/matmul';
import { resolveRunConfig } from '../../src/train/config';
import { Trainer, type StepStats } from '../../src/train/trainer';
import { matmulRef } from '../reference/matmul';
import { expectClose } from '../util/compare';
import { poisoned, run, testGpu } from '../util/gpu';
import { freshSeed, randn } from '../util/random';

const TEXT = 'the cat sat on the mat. '.repeat(400);

function setup(seed: number) {
  const config = resolveRunConfig({
    model: { contextLength: 16, nLayer: 1, nEmbd: 32, nHead: 2, nKvHead: 1, mlp: 'gelu', moeEvery: 1, moeExperts: 3, moeTopK: 2, tiedEmbeddings: false },
    optim: { lr: 1e-2, warmupSteps: 2 },
    train: { batchSize: 4, steps: 3, evalEvery: 0 },
    seed,
  });
  const tok = buildTokenizer({ kind: 'byte' }, TEXT);
  config.model.vocabSize = tok.vocabSize;
  return { config, data: makeDataset(TEXT, tok, 0.1) };
}

async function steps(t: Trainer): Promise<StepStats[]> {
  const out: StepStats[] = [];
  for await (const p of t.train()) if (p.kind === 'progress') out.push(...p.steps);
  return out;
}

describe('start-up: pipelines compiled asynchronously, in parallel, before the first step', () => {
  it('a kernel built inside PipelineCache.build encodes with its real pipeline and computes the right thing', async () => {
    const gpu = await testGpu();
    const seed = freshSeed();
    const [M, N, K] = [7, 13, 5];
    const mm = await gpu.pipelines.build(() => new Matmul(gpu, { M, N, K, transB: true, alpha: 0.5 }));
    const a = randn(M * K, seed);
    const b = randn(N * K, seed + 1);
    const c = poisoned(gpu, M * N);
    await run(gpu, (p) => mm.encode(p, gpu.upload(a, 'a'), gpu.upload(b, 'b'), c));
    const ref = matmulRef({ M, N, K, transB: true, alpha: 0.5 }, a, b, new Float32Array(M * N));
    expectClose('matmul built asynchronously', await gpu.readFloat32(c, M * N), ref, 1e-5, `seed ${seed}`);
  });

  it('PipelineCache.build reports each compile as it finishes, and nothing when every pipeline is compiled', async () => {
    const gpu = await testGpu();
    // tilings no other test uses: their pipelines are compiled here for the first time
    const tilings = [{ wgX: 4, wgY: 4, tm: 4, tn: 4, bk: 8, subgroupA: false }, { wgX: 4, wgY: 8, tm: 4, tn: 4, bk: 8, subgroupA: false }] as const;
    const seen: [number, number][] = [];
    const make = () => tilings.map((tiling) => new Matmul(gpu, { M: 9, N: 11, K: 6 }, { tiling }));
    const made = await gpu.pipelines.build(make, (done, total) => seen.push([done, total]));
    expect(seen).toEqual([[0, 2], [1, 2], [2, 2]]);
    const again: [number, number][] = [];
    const cached = await gpu.pipelines.build(make, (done, total) => again.push([done, total]));
    expect(again).toEqual([]);
    [...made, ...cached].forEach((m) => m.destroy());
  });

  it('Trainer.create compiles every pipeline the steps use, and trains exactly like the synchronous constructor', async () => {
    const gpu = await testGpu();
    const { config, data } = setup(11);
    const built = await Trainer.create(gpu, config, data);
    const compiled = gpu.pipelines.size;
    const before = new Set(gpu.pipelines.keys());
    const a = await steps(built);
    expect([...gpu.pipelines.keys()].filter((k) => !before.has(k))).toEqual([]); // nothing compiled on the hot path
    const p = { setupMs: built.setupMs };
    const plain = new Trainer(gpu, config, data);
    const b = await steps(plain);
    expect(a.map((s) => s.loss)).toEqual(b.map((s) => s.loss));
    expect(a.map((s) => s.gradNorm)).toEqual(b.map((s) => s.gradNorm));
    expect(a.every((s) => Number.isFinite(s.loss))).toBe(true);
    console.log(`Trainer.create: ${compiled} pipelines, setup ${p.setupMs.toFixed(0)} ms (allocation + parallel compiles)`);
    built.destroy();
    plain.destroy();
  });

  it("data.windows 'documents' starts every training window at <|endoftext|>; 'random' does not", async () => {
    const gpu = await testGpu();
    const text = Array.from({ length: 300 }, (_, i) => `${i}+${i % 7}=${i + (i % 7)}<|endoftext|>`).join('');
    const tok = buildTokenizer({ kind: 'byte' }, text);
    const data = makeDataset(text, tok, 0.1);
    const firsts = async (windows: 'random' | 'documents') => {
      const config = resolveRunConfig({ model: { contextLength: 16, nLayer: 1, nEmbd: 16, nHead: 2 }, train: { batchSize: 8, steps: 1, evalEvery: 0 }, data: { windows } });
      config.model.vocabSize = tok.vocabSize;
      const t = new Trainer(gpu, config, data);
      const { inputs } = t.batcher.next();
      expect(Number.isFinite(await t.evaluate())).toBe(true); // validation windows start at documents too (unit-tested)
      t.destroy();
      return Array.from({ length: 8 }, (_, r) => inputs[r * 16]);
    };
    expect(await firsts('documents')).toEqual(new Array(8).fill(END_OF_TEXT_ID));
    expect((await firsts('random')).some((id) => id !== END_OF_TEXT_ID)).toBe(true);
  });

  it('reports the time to the first finished step, setup included', async () => {
    const gpu = await testGpu();
    const { config, data } = setup(12);
    const t = await Trainer.create(gpu, config, data);
    const it = t.train();
    let first: number | null = null;
    for await (const p of it) {
      if (p.kind !== 'progress') continue;
      first ??= p.firstStepMs;
      expect(p.setupMs).toBe(t.setupMs);
    }
    expect(first).not.toBeNull();
    expect(first!).toBeGreaterThanOrEqual(t.setupMs);
    console.log(`time to first step ${first!.toFixed(0)} ms (setup ${t.setupMs.toFixed(0)} ms)`);
    t.destroy();
  });
});
