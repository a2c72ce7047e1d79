/**
 * Whole-model checks through the library API (createRun / train / sample), as the lab's worker uses it:
 * fixed-seed training of tiny dense and MoE models on a generated corpus (losses at chosen steps, compared with
 * the baseline), sampling determinism (same seed twice, same tokens) and training / sampling throughput.
 */
import { createRun, type Run } from '../../src/engine/run';
import type { StepStats } from '../../src/train/trainer';
import { rng } from '../../tests/util/random';
import type { CheckResult, RegressContext, Suite, Task } from '../types';

/** Relative tolerance of losses after N fixed-seed steps against the baseline (same adapter: normally bit-equal). */
const LOSS_TOL = 1e-3;
/** The last checked step's loss is at most this fraction of step 1's (no baseline needed). */
const FALL_AT_LEAST = 0.9;

/** Seeded sentences over a small vocabulary: structured enough to learn, varied enough not to be trivial. */
export function generatedCorpus(chars = 12_000, seed = 2024): string {
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'dog', 'ran', 'to', 'park', 'and', 'then', 'slept', 'big', 'small', 'red', 'blue', 'saw', 'bird'];
  const r = rng(seed);
  let out = '';
  while (out.length < chars) {
    const n = 4 + Math.floor(r() * 6);
    const sentence = Array.from({ length: n }, () => words[Math.floor(r() * words.length)]).join(' ');
    out += `${sentence[0].toUpperCase()}${sentence.slice(1)}. `;
  }
  return out.slice(0, chars);
}

interface TrainCase {
  /** Case name, part of every check id: it encodes the config, so baselines of other configs never mix. */
  name: string;
  model: Record<string, unknown>;
  batchSize: number;
  /** 1-based steps whose loss is checked; the last one is the number of loss steps. */
  lossAt: number[];
  /** Further steps timed for tokens/s. */
  speedSteps: number;
  /** Sampling checks (determinism, tokens/s) after training. */
  sample?: { maxTokens: number };
}

async function collect(run: Run, steps: number): Promise<{ stats: StepStats[]; tokensPerSecond: number }> {
  const stats: StepStats[] = [];
  let tokensPerSecond = NaN;
  for await (const p of run.train({ steps })) {
    if (p.kind !== 'progress') continue;
    stats.push(...p.steps);
    tokensPerSecond = p.tokensPerSecond;
  }
  return { stats, tokensPerSecond };
}

async function trainChecks(ctx: RegressContext, c: TrainCase): Promise<CheckResult[]> {
  const lossSteps = Math.max(...c.lossAt);
  const config = {
    data: { validationFraction: 0.1 },
    model: c.model,
    optim: { lr: 1e-2, warmupSteps: 2, schedule: 'constant' },
    train: { batchSize: c.batchSize, steps: lossSteps + c.speedSteps, evalEvery: 0, autosaveEvery: 0 },
    seed: 7,
  };
  const run = await createRun(config, { gpu: ctx.gpu, text: generatedCorpus() });
  const out: CheckResult[] = [];
  const speed = { rule: 'slowdown', value: ctx.speedTolerance } as const;
  try {
    const { stats } = await collect(run, lossSteps);
    const bad = stats.filter((s) => !Number.isFinite(s.loss) || s.skipped);
    out.push({
      id: `loss/train/${c.name}/finite`,
      kind: 'loss',
      kernel: 'train',
      value: bad.length + Math.max(0, lossSteps - stats.length),
      unit: 'bad steps',
      tolerance: { rule: 'max', value: 0 },
      message: bad.length ? `steps ${bad.map((s) => `${s.step + 1} (loss ${s.loss}${s.skipped ? `, skipped: ${s.nonFinite.join(', ')}` : ''})`).join('; ')}` : undefined,
    });
    const lossAt = (step: number): number | null => {
      const s = stats.find((x) => x.step === step - 1);
      return s && Number.isFinite(s.loss) ? s.loss : null;
    };
    for (const step of c.lossAt) {
      out.push({ id: `loss/train/${c.name}/step-${step}`, kind: 'loss', kernel: 'train', value: lossAt(step), unit: 'nats', tolerance: { rule: 'relative', value: LOSS_TOL } });
    }
    // What must hold with no baseline at all: the loss falls from the first checked step to the last.
    const first = lossAt(1);
    const last = lossAt(lossSteps);
    out.push({
      id: `loss/train/${c.name}/falls`,
      kind: 'loss',
      kernel: 'train',
      value: first !== null && last !== null ? last / first : null,
      unit: 'loss ratio',
      tolerance: { rule: 'max', value: FALL_AT_LEAST },
      message: `loss at step ${lossSteps} / loss at step 1 = ${last} / ${first} nats`,
    });
    const timed = await collect(run, c.speedSteps);
    out.push({ id: `throughput/train/${c.name}`, kind: 'throughput', kernel: 'train', value: finiteOrNull(timed.tokensPerSecond), unit: 'tokens/s', tolerance: speed });
    if (c.sample) {
      const opts = { maxTokens: c.sample.maxTokens, temperature: 1, seed: 1234 };
      const a = Array.from(await run.sample('The cat', opts));
      const b = Array.from(await run.sample('The cat', opts));
      const differ = Math.max(a.length, b.length) - a.filter((ch, i) => ch === b[i]).length;
      out.push({
        id: `determinism/sample/${c.name}`,
        kind: 'determinism',
        kernel: 'sample',
        value: differ,
        unit: 'differing tokens',
        tolerance: { rule: 'max', value: 0 },
        message: differ ? `same seed, different text: ${JSON.stringify(a.join(''))} vs ${JSON.stringify(b.join(''))}` : undefined,
      });
      const t0 = performance.now();
      const text = await run.sample('The dog', { ...opts, seed: 99, temperature: 0.8 });
      const seconds = (performance.now() - t0) / 1000;
      const tokens = run.tokenizer.encode(text).length;
      out.push({ id: `throughput/sample/${c.name}-${c.sample.maxTokens}tok`, kind: 'throughput', kernel: 'sample', value: finiteOrNull(tokens / seconds), unit: 'tokens/s', tolerance: speed });
    }
    return out;
  } finally {
    run.destroy();
  }
}

const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

const TINY = { contextLength: 16, nLayer: 1, nEmbd: 32, nHead: 2, nKvHead: 1, mlp: 'swiglu' };

function trainCases(suite: Suite): TrainCase[] {
  const quick: TrainCase[] = [
    { name: 'dense-T16-L1-C32-B4', model: TINY, batchSize: 4, lossAt: [1, 5, 10], speedSteps: 6, sample: { maxTokens: 16 } },
    { name: 'moe-E4-k2-T16-L1-C32-B4', model: { ...TINY, moeEvery: 1, moeExperts: 4, moeTopK: 2 }, batchSize: 4, lossAt: [1, 5, 10], speedSteps: 6 },
  ];
  if (suite === 'quick') return quick;
  const small = { contextLength: 128, nLayer: 4, nEmbd: 128, nHead: 4, nKvHead: 2, mlp: 'swiglu' };
  return [
    ...quick,
    { name: 'dense-T128-L4-C128-B8', model: small, batchSize: 8, lossAt: [1, 10, 20], speedSteps: 10, sample: { maxTokens: 32 } },
    { name: 'moe-E8-k2-T128-L4-C128-B8', model: { ...small, moeEvery: 2, moeExperts: 8, moeTopK: 2 }, batchSize: 8, lossAt: [1, 10, 20], speedSteps: 10 },
  ];
}

export function trainingTasks(suite: Suite): Task[] {
  return trainCases(suite).map((c): Task => ({
    id: `train/${c.name}`,
    kernels: c.sample ? ['train', 'sample'] : ['train'],
    run: (ctx) => trainChecks(ctx, c),
  }));
}
