/**
 * What sits at the model's output: fused cross-entropy (hard targets with ignored rows, soft targets, per-row
 * weights), the reductions behind loss sums and gradient norms, and token sampling against the reference RNG.
 */
import { FusedCrossEntropy } from '../../src/kernels/loss';
import { Reduce, type ReduceOp } from '../../src/kernels/reduce';
import { Sampler, type SamplingSettings } from '../../src/kernels/sample';
import { crossEntropyRef } from '../../tests/reference/loss';
import { reduceRef } from '../../tests/reference/reduce';
import { sampleRef } from '../../tests/reference/sample';
import { CROSS_ENTROPY_SHAPES, crossEntropyInputs } from '../../tests/util/cases/loss';
import { poisoned, run } from '../../tests/util/gpu';
import { randn, rng } from '../../tests/util/random';
import { mismatchCheck, relErrorCheck, seedOf, TOL } from '../harness';
import type { CheckResult, RegressContext, Suite, Task } from '../types';
import { pick } from './case-checks';

type CeMode = 'hard' | 'soft' | 'weighted';

async function crossEntropyChecks(ctx: RegressContext, mode: CeMode, N: number, V: number): Promise<CheckResult[]> {
  const { gpu } = ctx;
  const base = `correctness/cross-entropy/${mode}-N${N}-V${V}`;
  const seed = seedOf(base);
  const { logits, targets, soft, weights } = crossEntropyInputs(mode === 'weighted' ? 'hard+weights' : mode, N, V, seed);
  const gradScale = 1 / N;
  const lb = gpu.upload(logits, 'logits');
  const tb = gpu.upload(soft ?? targets!, 'targets');
  const wb = weights ? gpu.upload(weights, 'weights') : undefined;
  const losses = poisoned(gpu, N, 'losses');
  const dlogits = poisoned(gpu, N * V, 'dlogits');
  const k = new FusedCrossEntropy(gpu, { rows: N, vocab: V, targets: soft ? 'soft' : 'hard', weighted: !!weights, gradScale });
  try {
    await run(gpu, (p) => {
      k.encode(p, { logits: lb, targets: tb, weights: wb, losses, dlogits });
      ctx.perturb(p, 'cross-entropy', losses, N);
      ctx.perturb(p, 'cross-entropy', dlogits, N * V);
    });
    const ref = crossEntropyRef({ logits, rows: N, vocab: V, targets, soft, weights, gradScale });
    return [
      relErrorCheck(`${base}/losses`, 'cross-entropy', await gpu.readFloat32(losses, N), ref.losses),
      relErrorCheck(`${base}/dlogits`, 'cross-entropy', await gpu.readFloat32(dlogits, N * V), ref.dlogits),
    ];
  } finally {
    for (const b of [lb, tb, losses, dlogits, ...(wb ? [wb] : [])]) gpu.release(b);
    k.destroy();
  }
}

async function reduceChecks(ctx: RegressContext, n: number): Promise<CheckResult[]> {
  const { gpu } = ctx;
  const base = `correctness/reduce/n${n}`;
  const x = randn(n, seedOf(base));
  const xb = gpu.upload(x, 'x');
  const out: CheckResult[] = [];
  try {
    for (const op of ['sum', 'sumsq', 'maxabs'] as ReduceOp[]) {
      const ob = poisoned(gpu, 4, 'out');
      const k = new Reduce(gpu, { n, op });
      try {
        await run(gpu, (p) => {
          k.encode(p, xb, ob);
          ctx.perturb(p, 'reduce', ob, 1);
        });
        const [got] = await gpu.readFloat32(ob, 1);
        const want = reduceRef[op](x);
        // A sum's float32 error grows with Σ|x|, not with the (cancelled) sum itself.
        const scale = op === 'sum' ? reduceRef.sum(Array.from(x, Math.abs)) : Math.abs(want);
        out.push(relErrorCheck(`${base}/${op}`, 'reduce', [got], [want], TOL, [scale]));
      } finally {
        gpu.release(ob);
        k.destroy();
      }
    }
    return out;
  } finally {
    gpu.release(xb);
  }
}

/** One settings entry per row, cycling temperatures, top-k and top-p (combined too). */
function settingsGrid(S: number, seed: number): SamplingSettings[] {
  const temps = [1, 0.7, 1.8, 0];
  const ks = [0, 1, 5, 50];
  const ps = [1, 0.9, 0.3, 0.999];
  const r = rng(seed);
  return Array.from({ length: S }, (_, i) => ({
    temperature: temps[i % 4],
    topK: ks[Math.floor(i / 4) % 4],
    topP: ps[Math.floor(i / 16) % 4],
    seed: Math.floor(r() * 2 ** 32),
  }));
}

async function sampleChecks(ctx: RegressContext, S: number, V: number, steps: number): Promise<CheckResult[]> {
  const { gpu } = ctx;
  const base = `correctness/sample/S${S}-V${V}-steps${steps}`;
  const seed = seedOf(base);
  const logits = randn(S * V, seed, 2);
  const settings = settingsGrid(S, seed + 1);
  const k = new Sampler(gpu, { rows: S, vocab: V }, settings);
  const lb = gpu.upload(logits, 'logits');
  const outs = Array.from({ length: steps }, (_, i) => ({
    tokens: gpu.upload(new Uint32Array(S).fill(0xdeadbeef), `tokens ${i}`),
    logprobs: poisoned(gpu, S, `logprobs ${i}`),
  }));
  try {
    await run(gpu, (p) => {
      for (const o of outs) k.encode(p, lb, o.tokens, o.logprobs);
      for (const o of outs) ctx.perturb(p, 'sample', o.logprobs, S);
    });
    const gotTokens: number[] = [];
    const wantTokens: number[] = [];
    const flagged: boolean[] = [];
    const gotLp: number[] = [];
    const wantLp: number[] = [];
    for (let step = 0; step < steps; step++) {
      const tokens = await gpu.readUint32(outs[step].tokens, S);
      const lps = await gpu.readFloat32(outs[step].logprobs, S);
      sampleRef(logits, S, V, settings, step).forEach((w, r) => {
        const t = tokens[r];
        // Rows within float32 rounding of a boundary may legitimately differ (see tests/reference/sample.ts).
        const ok = t === w.token || !!w.alternatives?.includes(t) || w.ambiguity === 'top-p';
        gotTokens.push(t);
        wantTokens.push(w.token);
        flagged.push(ok && t !== w.token);
        if (t === w.token) {
          gotLp.push(lps[r]);
          wantLp.push(w.logprob);
        }
      });
    }
    return [
      mismatchCheck(`${base}/tokens`, 'sample', gotTokens, wantTokens, (i) => flagged[i]),
      relErrorCheck(`${base}/logprobs`, 'sample', gotLp, wantLp),
    ];
  } finally {
    for (const o of outs) {
      gpu.release(o.tokens);
      gpu.release(o.logprobs);
    }
    gpu.release(lb);
    k.destroy();
  }
}

export function headTasks(suite: Suite): Task[] {
  const full = suite === 'full';
  // A shape of the GPU tests' table (tests/util/cases/loss.ts) in each mode; the full suite adds large vocabularies.
  const [[N, V]] = pick(CROSS_ENTROPY_SHAPES, ([n, v]) => `N${n}-V${v}`, ['N5-V257']);
  const ce: [CeMode, number, number][] = [
    ...(['hard', 'soft', 'weighted'] as const).map((mode): [CeMode, number, number] => [mode, N, V]),
    ...(full ? ([['hard', 64, 50304], ['soft', 16, 8192]] as [CeMode, number, number][]) : []),
  ];
  const reduces = full ? [100003, 1 << 22] : [100003];
  const samples: [number, number][] = full ? [[64, 257], [64, 50304]] : [[64, 257]];
  return [
    ...ce.map(([mode, N, V]): Task => ({ id: `cross-entropy/${mode}-N${N}-V${V}`, kernels: ['cross-entropy'], run: (ctx) => crossEntropyChecks(ctx, mode, N, V) })),
    ...reduces.map((n): Task => ({ id: `reduce/n${n}`, kernels: ['reduce'], run: (ctx) => reduceChecks(ctx, n) })),
    ...samples.map(([S, V]): Task => ({ id: `sample/S${S}-V${V}`, kernels: ['sample'], run: (ctx) => sampleChecks(ctx, S, V, 2) })),
  ];
}
