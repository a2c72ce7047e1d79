import { IdbTuningStore } from '../../src/engine/tuning-store';
import { requestGpu, type Gpu } from '../../src/gpu/device';
import { tuneKernels } from '../../src/kernels/autotune';

let shared: Promise<Gpu> | null = null;
let noFeatures: Promise<Gpu> | null = null;

/**
 * The kernel choices measured on the test adapter, as the engine measures them; kept in this browser's IndexedDB
 * (the engine's store, its own database) so the test files after the first take them from there.
 */
async function tuned(gpu: Gpu): Promise<Gpu> {
  await tuneKernels(gpu, { store: new IdbTuningStore({ dbName: 'spark-lab-tuning-tests' }) });
  return gpu;
}

/** One device per test file (browser tests only), tuned. Fails loudly if WebGPU is missing. */
export function testGpu(): Promise<Gpu> {
  shared ??= requestGpu({ onError: (e) => console.error(e.message) }).then(tuned);
  return shared;
}

/** A device with no optional features (no subgroups, no f16, no timestamps) to cover the fallback paths. */
export function testGpuWithoutFeatures(): Promise<Gpu> {
  noFeatures ??= requestGpu({ useOptionalFeatures: false, onError: (e) => console.error(e.message) }).then(tuned);
  return noFeatures;
}

/** A buffer of n float32 NaNs: an element the kernel fails to write stays NaN and fails the comparison. */
export function poisoned(gpu: Gpu, n: number, label = 'poisoned'): GPUBuffer {
  return gpu.upload(new Float32Array(n).fill(NaN), label);
}

/** Runs `record` in one pass, submits, and throws if a validation or OOM error was raised. */
export async function run(gpu: Gpu, record: (pass: GPUComputePassEncoder) => void): Promise<void> {
  await gpu.scoped(() => {
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    record(pass);
    pass.end();
    gpu.queue.submit([enc.finish()]);
  });
}
