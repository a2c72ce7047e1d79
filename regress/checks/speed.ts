/**
 * Kernel throughput: matmul GFLOP/s on square products with the default (fastest eligible) variant, timed as the
 * benchmark does (back-to-back repeats in one pass, median of several samples). Compared with the baseline,
 * one-sided: only slower is a regression.
 */
import { Matmul } from '../../src/kernels/matmul';
import { randn } from '../../tests/util/random';
import { medianPassTimes, passWork } from '../../src/gpu/timing';
import type { CheckResult, RegressContext, Suite, Task } from '../types';

async function matmulSpeed(ctx: RegressContext, size: number): Promise<CheckResult[]> {
  const { gpu } = ctx;
  const M = size;
  const k = new Matmul(gpu, { M, N: M, K: M });
  const a = gpu.upload(randn(M * M, 1), 'a');
  const b = gpu.upload(randn(M * M, 2), 'b');
  const c = gpu.createBuffer(4 * M * M, 'c');
  try {
    const quick = ctx.suite === 'quick';
    const [{ medianMs: ms }] = await medianPassTimes([passWork(gpu, (pass) => k.encode(pass, a, b, c))], { targetMs: quick ? 100 : 300, samples: quick ? 3 : 5, maxRepeats: 200 });
    const gflops = k.flops / (ms * 1e6);
    return [
      {
        id: `throughput/matmul/${M}x${M}x${M}`,
        kind: 'throughput',
        kernel: 'matmul',
        value: Number.isFinite(gflops) ? gflops : null,
        unit: 'GFLOP/s',
        tolerance: { rule: 'slowdown', value: ctx.speedTolerance },
        message: `${k.variant}, ${ms.toFixed(3)} ms per product`,
      },
    ];
  } finally {
    for (const x of [a, b, c]) gpu.release(x);
    k.destroy();
  }
}

export function speedTasks(suite: Suite): Task[] {
  const sizes = suite === 'quick' ? [256] : [1024, 2048];
  return sizes.map((s): Task => ({ id: `speed/matmul-${s}`, kernels: ['matmul'], run: (ctx) => matmulSpeed(ctx, s) }));
}
