/**
 * Row and element kernels: RMSNorm forward + backward, embedding forward + backward (repeated and out-of-range
 * token ids), GELU, SwiGLU and RoPE forward + backward, against their float64 references.
 */
import { GeluBackward, GeluForward, Rope, SwigluBackward, SwigluForward, type RopeShape } from '../../src/kernels/elementwise';
import { EmbeddingBackward, EmbeddingForward, type EmbeddingShape } from '../../src/kernels/embed';
import { RmsNormBackward, RmsNormForward } from '../../src/kernels/norm';
import { geluBackwardRef, geluRef, ropeRef, swigluBackwardRef, swigluRef } from '../../tests/reference/elementwise';
import { embeddingBackwardRef, embeddingRef } from '../../tests/reference/embed';
import { rmsnormBackwardRef, rmsnormRef } from '../../tests/reference/norm';
import { poisoned, run } from '../../tests/util/gpu';
import { randint, randn } from '../../tests/util/random';
import { relErrorCheck, seedOf } from '../harness';
import type { CheckResult, RegressContext, Suite, Task } from '../types';

async function rmsnormChecks(ctx: RegressContext, N: number, C: number): Promise<CheckResult[]> {
  const { gpu } = ctx;
  const base = `correctness/rmsnorm/N${N}-C${C}`;
  const seed = seedOf(base);
  const x = randn(N * C, seed, 2);
  const w = randn(C, seed + 1);
  const dy = randn(N * C, seed + 2);
  const bufs = { x: gpu.upload(x, 'x'), w: gpu.upload(w, 'w'), dy: gpu.upload(dy, 'dy') };
  const y = poisoned(gpu, N * C, 'y');
  const rstd = poisoned(gpu, N, 'rstd');
  const dx = poisoned(gpu, N * C, 'dx');
  const dw = poisoned(gpu, C, 'dw');
  const fwd = new RmsNormForward(gpu, { N, C });
  const bwd = new RmsNormBackward(gpu, { N, C });
  try {
    await run(gpu, (p) => {
      fwd.encode(p, bufs.x, bufs.w, y, rstd);
      bwd.encode(p, bufs.x, bufs.w, rstd, bufs.dy, dx, dw);
      ctx.perturb(p, 'rmsnorm', y, N * C);
      ctx.perturb(p, 'rmsnorm', dx, N * C);
    });
    const ref = rmsnormRef(x, w, N, C);
    const back = rmsnormBackwardRef(x, w, ref.rstd, dy, N, C);
    return [
      relErrorCheck(`${base}/y`, 'rmsnorm', await gpu.readFloat32(y, N * C), ref.y),
      relErrorCheck(`${base}/rstd`, 'rmsnorm', await gpu.readFloat32(rstd, N), ref.rstd),
      relErrorCheck(`${base}/dx`, 'rmsnorm', await gpu.readFloat32(dx, N * C), back.dx),
      relErrorCheck(`${base}/dweight`, 'rmsnorm', await gpu.readFloat32(dw, C), back.dweight),
    ];
  } finally {
    for (const b of [bufs.x, bufs.w, bufs.dy, y, rstd, dx, dw]) gpu.release(b);
    fwd.destroy();
    bwd.destroy();
  }
}

async function embeddingChecks(ctx: RegressContext, shape: EmbeddingShape, outOfRange: number): Promise<CheckResult[]> {
  const { gpu } = ctx;
  const { N, V, C } = shape;
  const base = `correctness/embedding/N${N}-V${V}-C${C}${outOfRange ? `-bad${outOfRange}` : ''}`;
  const seed = seedOf(base);
  const tokens = randint(N, seed, V);
  for (let i = 0; i < N; i += 3) tokens[i] = 0; // heavy repetition: a long segment in the backward's sort
  for (let i = 0; i < outOfRange; i++) tokens[(i * 7919) % N] = i % 2 ? V : 0xffffffff;
  const wte = randn(V * C, seed + 1);
  const dxHost = randn(N * C, seed + 2);
  const dwte0 = randn(V * C, seed + 3);
  const tb = gpu.upload(tokens, 'tokens');
  const wb = gpu.upload(wte, 'wte');
  const db = gpu.upload(dxHost, 'dx');
  const x = poisoned(gpu, N * C, 'x');
  const dwte = gpu.upload(dwte0, 'dwte');
  const fwd = new EmbeddingForward(gpu, shape);
  const bwd = new EmbeddingBackward(gpu, shape);
  try {
    await run(gpu, (p) => {
      fwd.encode(p, tb, wb, x);
      bwd.encode(p, tb, db, dwte);
      ctx.perturb(p, 'embedding', x, N * C);
      ctx.perturb(p, 'embedding', dwte, V * C);
    });
    return [
      relErrorCheck(`${base}/forward`, 'embedding', await gpu.readFloat32(x, N * C), embeddingRef(tokens, wte, V, C)),
      relErrorCheck(`${base}/backward`, 'embedding', await gpu.readFloat32(dwte, V * C), embeddingBackwardRef(tokens, dxHost, V, C, dwte0)),
    ];
  } finally {
    for (const b of [tb, wb, db, x, dwte]) gpu.release(b);
  }
}

async function geluChecks(ctx: RegressContext, n: number): Promise<CheckResult[]> {
  const { gpu } = ctx;
  const base = `correctness/gelu/n${n}`;
  const seed = seedOf(base);
  const x = randn(n, seed, 3);
  const dy = randn(n, seed + 1);
  const xb = gpu.upload(x, 'x');
  const dyb = gpu.upload(dy, 'dy');
  const out = poisoned(gpu, n, 'out');
  const dx = poisoned(gpu, n, 'dx');
  const fwd = new GeluForward(gpu, n);
  const bwd = new GeluBackward(gpu, n);
  try {
    await run(gpu, (p) => {
      fwd.encode(p, xb, out);
      bwd.encode(p, xb, dyb, dx);
      ctx.perturb(p, 'gelu', out, n);
      ctx.perturb(p, 'gelu', dx, n);
    });
    return [
      relErrorCheck(`${base}/forward`, 'gelu', await gpu.readFloat32(out, n), geluRef(x)),
      relErrorCheck(`${base}/backward`, 'gelu', await gpu.readFloat32(dx, n), geluBackwardRef(x, dy)),
    ];
  } finally {
    for (const b of [xb, dyb, out, dx]) gpu.release(b);
    fwd.destroy();
    bwd.destroy();
  }
}

async function swigluChecks(ctx: RegressContext, N: number, H: number): Promise<CheckResult[]> {
  const { gpu } = ctx;
  const base = `correctness/swiglu/N${N}-H${H}`;
  const seed = seedOf(base);
  const inp = randn(N * 2 * H, seed, 2);
  const dout = randn(N * H, seed + 1);
  const ib = gpu.upload(inp, 'inp');
  const db = gpu.upload(dout, 'dout');
  const out = poisoned(gpu, N * H, 'out');
  const dinp = poisoned(gpu, N * 2 * H, 'dinp');
  const fwd = new SwigluForward(gpu, { N, H });
  const bwd = new SwigluBackward(gpu, { N, H });
  try {
    await run(gpu, (p) => {
      fwd.encode(p, ib, out);
      bwd.encode(p, ib, db, dinp);
      ctx.perturb(p, 'swiglu', out, N * H);
      ctx.perturb(p, 'swiglu', dinp, N * 2 * H);
    });
    return [
      relErrorCheck(`${base}/forward`, 'swiglu', await gpu.readFloat32(out, N * H), swigluRef(inp, N, H)),
      relErrorCheck(`${base}/backward`, 'swiglu', await gpu.readFloat32(dinp, N * 2 * H), swigluBackwardRef(inp, dout, N, H)),
    ];
  } finally {
    for (const b of [ib, db, out, dinp]) gpu.release(b);
    fwd.destroy();
    bwd.destroy();
  }
}

async function ropeChecks(ctx: RegressContext, shape: RopeShape): Promise<CheckResult[]> {
  const { gpu } = ctx;
  const { B, T, NH, HS } = shape;
  const base = `correctness/rope/B${B}-T${T}-NH${NH}-HS${HS}${shape.posOffset ? `-pos${shape.posOffset}` : ''}`;
  const seed = seedOf(base);
  const n = B * T * NH * HS;
  const x = randn(n, seed);
  const dy = randn(n, seed + 1);
  const xb = gpu.upload(x, 'x');
  const dyb = gpu.upload(dy, 'dy');
  const out = poisoned(gpu, n, 'out');
  const fwd = new Rope(gpu, shape, { inPlace: false });
  const bwd = new Rope(gpu, shape);
  try {
    await run(gpu, (p) => {
      fwd.encodeForward(p, xb, out);
      bwd.encodeBackward(p, dyb);
      ctx.perturb(p, 'rope', out, n);
      ctx.perturb(p, 'rope', dyb, n);
    });
    return [
      relErrorCheck(`${base}/forward`, 'rope', await gpu.readFloat32(out, n), ropeRef(x, shape)),
      relErrorCheck(`${base}/backward`, 'rope', await gpu.readFloat32(dyb, n), ropeRef(dy, shape, true)),
    ];
  } finally {
    for (const b of [xb, dyb, out]) gpu.release(b);
    fwd.destroy();
    bwd.destroy();
  }
}

export function pointwiseTasks(suite: Suite): Task[] {
  const full = suite === 'full';
  const norms: [number, number][] = full ? [[33, 64], [5, 257], [512, 1024], [7, 5000]] : [[33, 64], [5, 257]];
  const embeds: [EmbeddingShape, number][] = full
    ? [[{ N: 300, V: 17, C: 12 }, 0], [{ N: 1337, V: 1000, C: 12 }, 9], [{ N: 2048, V: 50304, C: 64 }, 0]]
    : [[{ N: 300, V: 17, C: 12 }, 0], [{ N: 257, V: 300, C: 7 }, 3]];
  const gelus = full ? [1001, 1 << 20] : [1001];
  const swiglus: [number, number][] = full ? [[5, 257], [1024, 344]] : [[5, 257]];
  const ropes: RopeShape[] = full
    ? [{ B: 2, T: 5, NH: 3, HS: 6 }, { B: 2, T: 16, NH: 4, HS: 64, posOffset: 37 }, { B: 4, T: 256, NH: 8, HS: 64 }]
    : [{ B: 2, T: 5, NH: 3, HS: 6 }, { B: 2, T: 16, NH: 4, HS: 16, posOffset: 37 }];
  return [
    ...norms.map(([N, C]): Task => ({ id: `rmsnorm/N${N}-C${C}`, kernels: ['rmsnorm'], run: (ctx) => rmsnormChecks(ctx, N, C) })),
    ...embeds.map(([s, bad]): Task => ({ id: `embedding/N${s.N}-V${s.V}-C${s.C}`, kernels: ['embedding'], run: (ctx) => embeddingChecks(ctx, s, bad) })),
    ...gelus.map((n): Task => ({ id: `gelu/n${n}`, kernels: ['gelu'], run: (ctx) => geluChecks(ctx, n) })),
    ...swiglus.map(([N, H]): Task => ({ id: `swiglu/N${N}-H${H}`, kernels: ['swiglu'], run: (ctx) => swigluChecks(ctx, N, H) })),
    ...ropes.map((s): Task => ({ id: `rope/B${s.B}-T${s.T}-NH${s.NH}-HS${s.HS}`, kernels: ['rope'], run: (ctx) => ropeChecks(ctx, s) })),
  ];
}
