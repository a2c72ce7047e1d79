/**
 * Start-up: the time from asking for a run to its first step's loss, on a device that has compiled nothing (a fresh
 * GPUDevice, so its pipeline cache is empty), for the lab's built-in tiny presets. This is what a user waits for
 * after pressing Train on a first visit, less the kernel tuning, which runs once per adapter and is then read back
 * (the fresh device takes the regression device's tuning). Compared with the baseline, one-sided: only a longer
 * start fails (rule 'time').
 */
import { createRun } from '../../src/engine/run';
import { requestGpu } from '../../src/gpu/device';
import { setTuning, tuningOf } from '../../src/kernels/tuning';
import { PRESETS } from '../../src/ui/presets';
import type { CheckResult, RegressContext, Suite, Task } from '../types';
import { generatedCorpus } from './training';

async function firstStep(ctx: RegressContext, presetId: string): Promise<CheckResult[]> {
  const preset = PRESETS.find((p) => p.id === presetId);
  if (!preset) throw new Error(`startup check: no preset '${presetId}'`);
  const gpu = await requestGpu();
  try {
    const tuning = tuningOf(ctx.gpu);
    if (tuning) setTuning(gpu, tuning);
    const base = preset.config as { train?: Record<string, unknown> };
    const config = { ...base, train: { ...base.train, steps: 1, evalEvery: 0, autosaveEvery: 0 } };
    const t0 = performance.now();
    const run = await createRun(config, { gpu, text: generatedCorpus() });
    const createMs = performance.now() - t0;
    let firstMs = NaN;
    try {
      for await (const p of run.train({ steps: 1 })) if (p.kind === 'progress' && Number.isNaN(firstMs)) firstMs = performance.now() - t0;
    } finally {
      run.destroy();
    }
    return [
      {
        id: `startup/train/${presetId}/first-step`,
        kind: 'startup',
        kernel: 'train',
        value: Number.isFinite(firstMs) ? firstMs : null,
        unit: 'ms',
        tolerance: { rule: 'time', value: ctx.speedTolerance },
        message: `createRun ${createMs.toFixed(0)} ms (pipelines ${gpu.pipelines.size}), first loss read back at ${firstMs.toFixed(0)} ms`,
      },
    ];
  } finally {
    gpu.destroy();
  }
}

export function startupTasks(suite: Suite): Task[] {
  const presets = suite === 'quick' ? ['tiny-dense'] : ['tiny-dense', 'tiny-moe', 'tiny-reasoning'];
  return presets.map((id): Task => ({ id: `startup/${id}`, kernels: ['train'], run: (ctx) => firstStep(ctx, id) }));
}
