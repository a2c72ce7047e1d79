import { describe, expect, it } from 'vitest';
import { requestGpu } from '../../src/gpu/device';
import { GpuOutOfMemoryError, GpuValidationError, WebGPUUnavailableError } from '../../src/gpu/errors';
import { GpuTimer } from '../../src/gpu/timing';
import { Fill } from '../../src/kernels/elementwise';
import { run, testGpu, testGpuWithoutFeatures } from '../util/gpu';

describe('gpu runtime', () => {
  it('describes the adapter and raises limits to the adapter maximum', async () => {
    const gpu = await testGpu();
    expect(gpu.adapter.vendor + gpu.adapter.architecture).not.toBe('');
    expect(gpu.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
  });

  it('explains a missing WebGPU', async () => {
    const noGpu = { requestAdapter: async () => null } as unknown as GPU;
    await expect(requestGpu({ gpu: noGpu })).rejects.toThrow(WebGPUUnavailableError);
    await expect(requestGpu({ gpu: noGpu })).rejects.toThrow(/no GPU adapter was found/);
  });

  it('uploads and reads back', async () => {
    const gpu = await testGpu();
    const buf = gpu.upload(new Float32Array([1, 2, 3, 4.5]), 'x');
    expect(Array.from(await gpu.readFloat32(buf))).toEqual([1, 2, 3, 4.5]);
    const before = gpu.allocatedBytes;
    gpu.release(buf);
    expect(gpu.allocatedBytes).toBe(before - 16);
  });

  it('refuses a buffer over the device limit with a specific error', async () => {
    const gpu = await testGpu();
    expect(() => gpu.createBuffer(gpu.limits.maxBufferSize + 4, 'huge')).toThrow(GpuOutOfMemoryError);
  });

  it('turns a validation error into a typed exception', async () => {
    const gpu = await testGpu();
    const mapRead = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    await expect(
      gpu.scoped(() => {
        const k = new Fill(gpu, 4, 1);
        const enc = gpu.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        k.encode(pass, mapRead); // a MAP_READ buffer cannot be bound as storage
        pass.end();
        gpu.queue.submit([enc.finish()]);
      }),
    ).rejects.toThrow(GpuValidationError);
  });

  it('caches pipelines per variant', async () => {
    const gpu = await testGpu();
    const src = {
      name: 'cache-test',
      code: '@group(0) @binding(0) var<storage, read_write> o: array<f32>;\n' +
        '@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < arrayLength(&o)) { o[g.x] = ${VALUE}; } }',
    };
    const a = gpu.pipelines.get(src, 'main', { WG: 64, VALUE: '1.0' });
    const b = gpu.pipelines.get(src, 'main', { VALUE: '1.0', WG: 64 });
    const c = await gpu.pipelines.prepare(src, 'main', { WG: 128, VALUE: '1.0' });
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(gpu.pipelines.get(src, 'main', { WG: 128, VALUE: '1.0' })).toBe(c);
  });

  it('times work with and without timestamp queries', async () => {
    for (const gpu of [await testGpu(), await testGpuWithoutFeatures()]) {
      const timer = new GpuTimer(gpu);
      const out = gpu.createBuffer(4 * 4096, 'out');
      const k = new Fill(gpu, 4096, 3);
      const ms = await timer.time((p) => k.encode(p, out), 4);
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThan(10_000);
      timer.destroy();
    }
    expect((await testGpuWithoutFeatures()).features.timestampQuery).toBe(false);
  });

  it('reports device loss with its reason', async () => {
    let reported: Error | null = null;
    const gpu = await requestGpu({ onLost: (e) => (reported = e) });
    gpu.destroy();
    await gpu.device.lost;
    await new Promise((r) => setTimeout(r, 0));
    expect(gpu.isLost).toBe(true);
    expect(gpu.lostError?.reason).toBe('destroyed');
    expect(reported).not.toBeNull();
  });

  it('run() surfaces errors from kernels', async () => {
    const gpu = await testGpu();
    const k = new Fill(gpu, 8, 0);
    await expect(run(gpu, (p) => k.encode(p, gpu.createBuffer(8, 'tiny')))).rejects.toThrow(/holds 2 floats, needs 8/);
  });
});
