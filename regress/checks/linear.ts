/**
 * Matmul (plain, transposed, a shape that is not a multiple of the tile, bias/accumulate, batched) and causal
 * attention forward + backward (grouped-query heads) against their float64 references.
 */
import { Attention, attentionSizes, type AttentionShape, type AttentionTiles } from '../../src/kernels/attention';
import type { MatmulOptions, MatmulShape } from '../../src/kernels/matmul';
import { attentionBackwardRef, attentionForwardRef } from '../../tests/reference/attention';
import { MATMUL_OFF_TILES, MATMUL_TRANSFORMER, MATMUL_TRANSPOSED, matmulBatched, matmulCase, matmulEpilogues } from '../../tests/util/cases/matmul';
import { poisoned, run } from '../../tests/util/gpu';
import { randn } from '../../tests/util/random';
import { relErrorCheck, seedOf } from '../harness';
import type { CheckResult, RegressContext, Suite, Task } from '../types';
import { caseChecks } from './case-checks';

interface MatmulCase {
  name: string;
  shape: MatmulShape;
  options?: MatmulOptions;
}

const dims = (s: MatmulShape): string => `${s.M}x${s.N}x${s.K}`;

/** Shapes from the GPU tests' tables (tests/util/cases/matmul.ts), and two sizes too large for those. */
function matmulCases(suite: Suite): MatmulCase[] {
  const tiled: MatmulOptions = { variant: 'tiled' };
  const transposed = { ...MATMUL_TRANSPOSED.scalar, transA: true, transB: true };
  const [gradientStep] = matmulEpilogues(false);
  const [experts] = matmulBatched(false);
  const quick: MatmulCase[] = [
    { name: `tiled-${dims(MATMUL_OFF_TILES)}`, shape: MATMUL_OFF_TILES, options: tiled },
    { name: `transA-transB-${dims(transposed)}`, shape: transposed, options: tiled },
    { name: `default-bias-${dims(MATMUL_TRANSFORMER)}`, shape: MATMUL_TRANSFORMER },
    { name: `accumulate-transA-alpha-${dims(gradientStep)}`, shape: gradientStep },
  ];
  if (suite === 'quick') return quick;
  return [
    ...quick,
    { name: `naive-${dims(MATMUL_OFF_TILES)}`, shape: MATMUL_OFF_TILES, options: { variant: 'naive' } },
    { name: 'transB-257x263x129', shape: { M: 257, N: 263, K: 129, transB: true } },
    { name: 'default-512x384x256', shape: { M: 512, N: 384, K: 256 } },
    { name: `batched-strided-${dims(experts)}x${experts.batch}`, shape: experts },
  ];
}

interface AttentionCase extends AttentionShape {
  name: string;
  tiles?: AttentionTiles;
}

async function attentionChecks(ctx: RegressContext, c: AttentionCase): Promise<CheckResult[]> {
  const { gpu } = ctx;
  const base = `correctness/attention/${c.name}`;
  const seed = seedOf(base);
  // Its four pipelines compile in parallel (SwiftShader takes seconds for each).
  const att = await gpu.pipelines.build(() => new Attention(gpu, c, c.tiles));
  const n = attentionSizes(c);
  const host = { q: randn(n.q, seed), k: randn(n.kv, seed + 1), v: randn(n.kv, seed + 2), dy: randn(n.q, seed + 3) };
  const q = gpu.upload(host.q, 'q');
  const k = gpu.upload(host.k, 'k');
  const v = gpu.upload(host.v, 'v');
  const dy = gpu.upload(host.dy, 'dy');
  const y = poisoned(gpu, n.q, 'y');
  const lse = poisoned(gpu, n.lse, 'lse');
  const dq = poisoned(gpu, n.q, 'dq');
  const dk = poisoned(gpu, n.kv, 'dk');
  const dv = poisoned(gpu, n.kv, 'dv');
  const scratch = poisoned(gpu, Attention.scratchFloats(c), 'D');
  try {
    await run(gpu, (p) => att.encodeForward(p, q, k, v, y, lse));
    await run(gpu, (p) => {
      att.encodeBackward(p, q, k, v, y, lse, dy, dq, dk, dv, scratch);
      ctx.perturb(p, 'attention', y, n.q);
      ctx.perturb(p, 'attention', dq, n.q);
    });
    const fwd = attentionForwardRef(host.q, host.k, host.v, c);
    const grads = attentionBackwardRef(host.q, host.k, host.v, host.dy, c);
    const pairs: [string, GPUBuffer, number, ArrayLike<number>][] = [
      ['y', y, n.q, fwd.y], ['lse', lse, n.lse, fwd.lse], ['dq', dq, n.q, grads.dq], ['dk', dk, n.kv, grads.dk], ['dv', dv, n.kv, grads.dv],
    ];
    const out: CheckResult[] = [];
    for (const [name, buf, count, ref] of pairs) out.push(relErrorCheck(`${base}/${name}`, 'attention', await gpu.readFloat32(buf, count), ref));
    return out;
  } finally {
    for (const b of [q, k, v, dy, y, lse, dq, dk, dv, scratch]) gpu.release(b);
    att.destroy();
  }
}

function attentionCases(suite: Suite): AttentionCase[] {
  const quick: AttentionCase[] = [{ name: 'gqa-B2-T33-NH4-KV2-HS16', B: 2, T: 33, NH: 4, NKV: 2, HS: 16 }];
  if (suite === 'quick') return quick;
  return [
    ...quick,
    { name: 'mqa-B1-T40-NH3-KV1-HS16-scale0.3', B: 1, T: 40, NH: 3, NKV: 1, HS: 16, scale: 0.3 },
    { name: 'gqa-B2-T130-NH8-KV2-HS64', B: 2, T: 130, NH: 8, NKV: 2, HS: 64 },
    { name: 'mha-B1-T70-NH2-KV2-HS5-tiles8', B: 1, T: 70, NH: 2, NKV: 2, HS: 5, tiles: { rows: 8, staged: 8 } },
  ];
}

export function linearTasks(suite: Suite): Task[] {
  return [
    ...matmulCases(suite).map((c): Task => ({
      id: `matmul/${c.name}`,
      kernels: ['matmul'],
      run: (ctx) => caseChecks(ctx, `correctness/matmul/${c.name}`, 'matmul', matmulCase(c.shape, c.options)),
    })),
    ...attentionCases(suite).map((c): Task => ({ id: `attention/${c.name}`, kernels: ['attention'], run: (ctx) => attentionChecks(ctx, c) })),
  ];
}
