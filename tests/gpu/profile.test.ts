import { describe, expect, it } from 'vitest';
import { createRun } from '../../src/engine/run';
import { Add } from '../../src/kernels/elementwise';
import { PassProfiler } from '../../src/gpu/profile';
import { summarise, type StepProfile } from '../../src/lib/step-profile';
import type { Gpu } from '../../src/gpu/device';
import { testGpu, testGpuWithoutFeatures } from '../util/gpu';

const PERIODIC = 'abcdefghij'.repeat(600);
const tiny = (model: Record<string, unknown> = {}) => ({
  data: { validationFraction: 0.1 },
  model: { contextLength: 16, nLayer: 2, nEmbd: 16, nHead: 2, ...model },
  optim: { lr: 1e-2, warmupSteps: 1 },
  train: { batchSize: 4, steps: 4, evalEvery: 0, evalBatches: 1, autosaveEvery: 0 },
  seed: 3,
});

type Run = Awaited<ReturnType<typeof createRun>>;

/** Trains 4 steps; with `profiled` set, requests a profile after that many steps (so of that step) and returns it with the final weights. */
async function trainProfiling(run: Run, profiled: number | null): Promise<{ profile: StepProfile | null; params: Float32Array }> {
  let profile: Promise<StepProfile> | null = null;
  if (profiled !== null) {
    // progress arrives in batches (the metrics ring reads back late, on purpose), so train up to the step first
    if (profiled > 0) for await (const _ of run.train({ steps: profiled })) void _;
    profile = run.trainer.requestProfile();
  }
  for await (const _ of run.train({ steps: 4 - (profiled ?? 0) })) void _;
  return { profile: profile ? await profile : null, params: (await run.trainer.readState()).params };
}

describe('the step profiler', () => {
  it('a profiled step trains exactly as a plain one (same weights after it, bitwise), and its times add up', async () => {
    const gpu = await testGpu();
    const plain = await createRun(tiny(), { gpu, text: PERIODIC });
    const profiled = await createRun(tiny(), { gpu, text: PERIODIC });
    const a = await trainProfiling(plain, null);
    const b = await trainProfiling(profiled, 0);
    expect(b.params).toEqual(a.params);
    const p = b.profile!;
    console.log(`profile: ${p.dispatches} dispatches, GPU ${p.gpuMs?.toFixed(1)} ms, wall ${p.wallMs.toFixed(1)} ms, encode ${p.encodeMs.toFixed(1)} ms; ` +
      p.byFamily.slice(0, 5).map((r) => `${r.key} ${(100 * r.share!).toFixed(0)}%`).join(', '));
    expect(p.step).toBe(0);
    expect(p.flops).toBe(profiled.trainer.tokensPerStep * profiled.trainer.flopsPerToken);
    expect(p.dispatches).toBeGreaterThan(20);
    expect(p.encodeMs).toBeGreaterThan(0);
    if (gpu.features.timestampQuery) {
      expect(p.timing).toBe('timestamp-query');
      expect(p.gpuMs!).toBeGreaterThan(0);
      expect(p.gpuMs!).toBeLessThanOrEqual(p.wallMs * 1.05 + 1); // the passes ran inside the step's wall time
      for (const rows of [p.byFamily, p.byEntry, p.byScope]) {
        expect(rows.reduce((s, r) => s + r.dispatches, 0)).toBe(p.dispatches);
        expect(rows.reduce((s, r) => s + r.ms!, 0)).toBeCloseTo(p.gpuMs!, 6);
        expect(rows.reduce((s, r) => s + r.share!, 0)).toBeCloseTo(1, 9);
        for (let i = 1; i < rows.length; i++) expect(rows[i - 1]!.ms!).toBeGreaterThanOrEqual(rows[i]!.ms!);
      }
    }
    const scopes = p.byScope.map((r) => r.key);
    for (const s of ['forward', 'forward/h.0', 'forward/h.1', 'loss', 'backward', 'backward/h.0', 'backward/h.1', 'optimizer']) expect(scopes).toContain(s);
    expect(scopes).not.toContain('optimizer/muon'); // AdamW only
    const families = p.byFamily.map((r) => r.key);
    for (const f of ['matmul', 'attention', 'adamw']) expect(families).toContain(f);
    expect(families).not.toContain('unlabelled');
    // each layer does the same work: the same dispatches in its forward scope
    const count = (k: string) => p.byScope.find((r) => r.key === k)!.dispatches;
    expect(count('forward/h.0')).toBe(count('forward/h.1'));
    expect(p.bytesBound).toBeGreaterThan(4 * profiled.trainer.paramCount); // the optimizer alone binds the weights
    plain.destroy();
    profiled.destroy();
  });

  it('profiles a later step and a Muon step (its own scope); a device without timestamps counts its dispatches without times', async () => {
    const gpu = await testGpu();
    const muon = await createRun({ ...tiny(), optim: { lr: 1e-2, warmupSteps: 1, optimizer: 'muon' } }, { gpu, text: PERIODIC });
    const m = (await trainProfiling(muon, 1)).profile!;
    expect(m.step).toBe(1);
    expect(m.byScope.map((r) => r.key)).toContain('optimizer/muon');
    expect(m.byFamily.map((r) => r.key)).toContain('muon');
    muon.destroy();

    // Without timestamp-query (a device without optional features): the same passes, counted, no times; the work is
    // still done. (Kernel-level here: a whole trainer would compile every pipeline again on the second device.)
    const bare = await testGpuWithoutFeatures();
    expect(bare.features.timestampQuery).toBe(false);
    const n = 256;
    const add = new Add(bare, n);
    const x = bare.upload(new Float32Array(n).fill(1.5), 'x');
    const out = bare.createBuffer(4 * n, 'out');
    const out2 = bare.createBuffer(4 * n, 'out2');
    const profiler = new PassProfiler(bare);
    const enc = bare.device.createCommandEncoder();
    const pass = profiler.pass(enc, 'untimed');
    add.encode(pass, x, x, out);
    add.encode(pass, out, x, out2); // reads the first dispatch's output: the passes keep their order
    pass.end();
    profiler.resolve(enc);
    bare.queue.submit([enc.finish()]);
    const records = await profiler.read();
    expect(records.map((r) => [r.family, r.scope, r.ms])).toEqual([['elementwise', 'untimed', null], ['elementwise', 'untimed', null]]);
    const p = summarise(records, { step: 0, wallMs: 1, encodeMs: 0, flops: 0 });
    expect(p.timing).toBe('none');
    expect(p.gpuMs).toBeNull();
    expect(Array.from(await bare.readFloat32(out))).toEqual(new Array(n).fill(3));
    expect(Array.from(await bare.readFloat32(out2))).toEqual(new Array(n).fill(4.5));
    profiler.destroy();
    add.destroy();
    for (const b of [x, out, out2]) bare.release(b);
  });

  it('times more dispatches than one query set holds, refuses past its capacity, and a stopped run fails its request', async () => {
    const gpu: Gpu = await testGpu();
    const n = 64;
    const add = new Add(gpu, n);
    const x = gpu.upload(new Float32Array(n).fill(1), 'x');
    const y = gpu.upload(new Float32Array(n).fill(2), 'y');
    const out = gpu.createBuffer(4 * n, 'out');
    const count = PassProfiler.PER_SET + 5;
    const profiler = new PassProfiler(gpu);
    const enc = gpu.device.createCommandEncoder();
    const pass = profiler.pass(enc, 'outer');
    pass.pushDebugGroup('inner');
    for (let i = 0; i < count; i++) add.encode(pass, x, y, out);
    pass.popDebugGroup();
    pass.end();
    profiler.resolve(enc);
    gpu.queue.submit([enc.finish()]);
    const records = await profiler.read();
    expect(records.length).toBe(count);
    expect(records.every((r) => r.family === 'elementwise' && r.scope === 'outer/inner' && r.workgroups! >= 1 && r.bytesBound >= 3 * 4 * n)).toBe(true);
    if (gpu.features.timestampQuery) expect(records.every((r) => r.ms !== null && r.ms >= 0)).toBe(true);
    expect(Array.from(await gpu.readFloat32(out))).toEqual(new Array(n).fill(3));
    profiler.destroy();

    const small = new PassProfiler(gpu, 2);
    const e2 = gpu.device.createCommandEncoder();
    const p2 = small.pass(e2);
    add.encode(p2, x, y, out);
    add.encode(p2, x, y, out);
    expect(() => add.encode(p2, x, y, out)).toThrow(/more than 2 dispatches/);
    expect(() => p2.popDebugGroup()).toThrow(/without a matching push/);
    small.destroy();
    add.destroy();
    for (const b of [x, y, out]) gpu.release(b);

    const run = await createRun(tiny(), { gpu, text: PERIODIC });
    const pending = run.trainer.requestProfile();
    run.destroy();
    await expect(pending).rejects.toThrow(/destroyed before its next step/);
  });
});
