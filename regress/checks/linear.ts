/**
 * Matmul (plain, transposed, a shape that is not a multiple of the tile, bias/accumulate, batched) and causal
 * attention forward + backward (grouped-query heads) against their float64 references.
 */
import { Attention, attentionSizes, type AttentionShape, type AttentionTiles } from '../../src/kernels/attention';
import { Matmul, type MatmulOptions, type MatmulShape } from '../../src/kernels/matmul';
import { attentionBackwardRef, attentionForwardRef } from '../../tests/reference/attention';
import { matmulRef } from '../../tests/reference/matmul';
import { poisoned, run } from '../../tests/util/gpu';
import { randn } from '../../tests/util/random';
import { relErrorCheck, seedOf } from '../harness';
import type { CheckResult, RegressContext, Suite, Task } from '../types';

/** Elements the C binding spans for `s`. */
function spanC(s: MatmulShape): number {
  const batch = s.batch ?? 1;
  return (s.offsetC ?? 0) + (batch - 1) * (s.strideC ?? s.M * s.N) + s.M * s.N;
}

function spanAB(s: MatmulShape): { a: number; b: number; bias: number } {
  const last = (s.batch ?? 1) - 1;
  return {
    a: (s.offsetA ?? 0) + last * (s.strideA ?? s.M * s.K) + s.M * s.K,
    b: (s.offsetB ?? 0) + last * (s.strideB ?? s.K * s.N) + s.K * s.N,
    bias: (s.offsetBias ?? 0) + last * (s.strideBias ?? 0) + s.N,
  };
}

interface MatmulCase {
  name: string;
  shape: MatmulShape;
  options?: MatmulOptions;
}

async function matmulCheck(ctx: RegressContext, c: MatmulCase): Promise<CheckResult> {
  const { gpu } = ctx;
  const id = `correctness/matmul/${c.name}`;
  const seed = seedOf(id);
  const n = spanAB(c.shape);
  const nC = spanC(c.shape);
  const a = randn(n.a, seed);
  const b = randn(n.b, seed + 1);
  const bias = c.shape.bias ? randn(n.bias, seed + 3) : undefined;
  // Accumulating products start from random C; the others from NaN, so an unwritten element fails.
  const c0 = c.shape.accumulate ? randn(nC, seed + 2) : new Float32Array(nC).fill(NaN);
  const k = new Matmul(gpu, c.shape, c.options);
  const bufs = [gpu.upload(a, 'a'), gpu.upload(b, 'b'), gpu.upload(c0, 'c'), ...(bias ? [gpu.upload(bias, 'bias')] : [])];
  try {
    await run(gpu, (pass) => {
      k.encode(pass, bufs[0], bufs[1], bufs[2], bufs[3]);
      ctx.perturb(pass, 'matmul', bufs[2], nC);
    });
    const out = await gpu.readFloat32(bufs[2], nC);
    const ref = matmulRef(c.shape, a, b, c.shape.accumulate ? c0 : new Float32Array(nC), bias);
    const r = relErrorCheck(id, 'matmul', out, ref);
    if (r.message) r.message = `${k.variant}, seed ${seed}: ${r.message}`;
    return r;
  } finally {
    bufs.forEach((x) => gpu.release(x));
    k.destroy();
  }
}

function matmulCases(suite: Suite): MatmulCase[] {
  const quick: MatmulCase[] = [
    { name: 'tiled-65x67x33', shape: { M: 65, N: 67, K: 33 }, options: { variant: 'tiled' } },
    { name: 'transA-transB-37x29x45', shape: { M: 37, N: 29, K: 45, transA: true, transB: true }, options: { variant: 'tiled' } },
    { name: 'default-bias-96x160x64', shape: { M: 96, N: 160, K: 64, bias: true } },
    { name: 'accumulate-transA-alpha-19x23x41', shape: { M: 19, N: 23, K: 41, transA: true, accumulate: true, alpha: 0.5 } },
  ];
  if (suite === 'quick') return quick;
  return [
    ...quick,
    { name: 'naive-65x67x33', shape: { M: 65, N: 67, K: 33 }, options: { variant: 'naive' } },
    { name: 'transB-257x263x129', shape: { M: 257, N: 263, K: 129, transB: true } },
    { name: 'default-512x384x256', shape: { M: 512, N: 384, K: 256 } },
    {
      name: 'batched-strided-9x14x11x3',
      shape: { M: 9, N: 14, K: 11, batch: 3, strideA: 9 * 11 + 3, strideB: 0, strideC: 9 * 14 + 7, offsetA: 2, offsetB: 5, offsetC: 1, accumulate: true },
    },
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
    ...matmulCases(suite).map((c): Task => ({ id: `matmul/${c.name}`, kernels: ['matmul'], run: async (ctx) => [await matmulCheck(ctx, c)] })),
    ...attentionCases(suite).map((c): Task => ({ id: `attention/${c.name}`, kernels: ['attention'], run: (ctx) => attentionChecks(ctx, c) })),
  ];
}
