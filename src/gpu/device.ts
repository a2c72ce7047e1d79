import { DeviceLostError, GpuOutOfMemoryError, GpuValidationError, WebGPUUnavailableError } from './errors';
import { PipelineCache } from './pipelines';

export interface GpuOptions {
  powerPreference?: GPUPowerPreference;
  /** Ask for optional features when the adapter has them (default true). Tests turn them off to cover the fallback path. */
  useOptionalFeatures?: boolean;
  /** Called once if the device is lost, with the reason. */
  onLost?: (err: DeviceLostError) => void;
  /** Called for every uncaptured GPU error (validation or out-of-memory) instead of letting it vanish into the console. */
  onError?: (err: Error) => void;
  /** Injected for environments where navigator.gpu is not the entry point (Node + Dawn). */
  gpu?: GPU;
}

export interface GpuFeatures {
  shaderF16: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

const NO_WEBGPU_HELP =
  'Spark Lab needs WebGPU. Use a recent Chrome or Edge (version 113 or later) on a page served over https or from localhost; ' +
  'if it is already recent, check chrome://gpu for "WebGPU: Hardware accelerated", turn on "Use graphics acceleration when available" in chrome://settings/system, ' +
  'and on Linux start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan.';

// Limits raised to the adapter's maximum: the model decides what it needs, and validation
// (src/model) compares against these before anything is allocated.
const RAISED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

/** The one owner of a WebGPU device: limits, features, pipeline cache, error and loss reporting. */
export class Gpu {
  readonly pipelines: PipelineCache;
  readonly features: GpuFeatures;
  readonly limits: GPUSupportedLimits;
  /** Set once the device is lost. */
  lostError: DeviceLostError | null = null;
  /** Uncaptured errors seen so far (also passed to onError). */
  readonly errors: Error[] = [];
  private bytesAllocated = 0;
  /** Open {@link trackAllocations} records: every buffer made while one is open is added to it. */
  private readonly records = new Set<Set<GPUBuffer>>();

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterDescription,
    private readonly options: GpuOptions = {},
  ) {
    this.limits = device.limits;
    this.features = {
      shaderF16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
      timestampQuery: device.features.has('timestamp-query'),
    };
    this.pipelines = new PipelineCache(device);
    device.lost.then((info) => {
      const reason = (info.reason ?? 'unknown') as GPUDeviceLostReason | 'unknown';
      this.lostError = new DeviceLostError(
        reason === 'destroyed'
          ? 'The GPU device was destroyed.'
          : `The GPU device was lost (${reason}${info.message ? `: ${info.message}` : ''}). ` +
              'This happens when the driver resets or the tab was in the background too long; the run can resume from its last autosave.',
        reason,
      );
      options.onLost?.(this.lostError);
    });
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      const err =
        e instanceof GPUOutOfMemoryError
          ? new GpuOutOfMemoryError(`GPU out of memory: ${e.message}`)
          : new GpuValidationError(`GPU error: ${e.message}`);
      this.errors.push(err);
      options.onError?.(err);
    });
  }

  get queue(): GPUQueue {
    return this.device.queue;
  }

  /** Bytes currently held in storage and uniform buffers made through this object (for leak checks). */
  get allocatedBytes(): number {
    return this.bytesAllocated;
  }

  /**
   * Records the buffers made through this object from now until `stop()`, so a constructor that fails halfway
   * (after some allocations) can `releaseAll()` of them and leak nothing:
   *
   *   const made = gpu.trackAllocations();
   *   try { ...allocate... } catch (e) { made.releaseAll(); throw e; } finally { made.stop(); }
   */
  trackAllocations(): { releaseAll(): void; stop(): void } {
    const made = new Set<GPUBuffer>();
    this.records.add(made);
    return {
      releaseAll: () => {
        for (const b of [...made]) this.release(b);
      },
      stop: () => void this.records.delete(made),
    };
  }

  private made(buf: GPUBuffer): GPUBuffer {
    for (const r of this.records) r.add(buf);
    return buf;
  }

  /** A storage buffer of `byteLength` bytes (rounded up to 4), usable as copy source and destination. */
  createBuffer(byteLength: number, label: string, extraUsage = 0): GPUBuffer {
    const size = Math.max(4, Math.ceil(byteLength / 4) * 4);
    if (size > this.limits.maxBufferSize) {
      throw new GpuOutOfMemoryError(
        `buffer '${label}' needs ${size} bytes but this device allows at most ${this.limits.maxBufferSize} per buffer`,
      );
    }
    const buf = this.device.createBuffer({
      size,
      label,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | extraUsage,
    });
    this.bytesAllocated += size;
    return this.made(buf);
  }

  /** Releases a buffer made with createBuffer/upload and updates the byte count. */
  release(buf: GPUBuffer): void {
    this.bytesAllocated -= buf.size;
    for (const r of this.records) r.delete(buf);
    buf.destroy();
  }

  /** A new storage buffer holding `data`. */
  upload(data: Float32Array | Uint32Array | Int32Array, label: string): GPUBuffer {
    const buf = this.createBuffer(data.byteLength, label);
    this.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    return buf;
  }

  /** A uniform buffer holding `data` (a packed struct; see each kernel's layout comment). */
  uniform(data: ArrayBuffer, label: string): GPUBuffer {
    const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    const buf = this.device.createBuffer({ size, label, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.bytesAllocated += size;
    this.queue.writeBuffer(buf, 0, data);
    return this.made(buf);
  }

  /** Copies `buf` (or `byteLength` bytes of it) back to the CPU. Asynchronous; never call it per step in a hot loop. */
  async readback(buf: GPUBuffer, byteLength = buf.size, byteOffset = 0): Promise<ArrayBuffer> {
    const staging = this.device.createBuffer({
      size: byteLength,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: `readback of ${buf.label}`,
    });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buf, byteOffset, staging, 0, byteLength);
    this.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0);
    staging.destroy();
    return out;
  }

  async readFloat32(buf: GPUBuffer, count?: number): Promise<Float32Array> {
    return new Float32Array(await this.readback(buf, count === undefined ? buf.size : count * 4));
  }

  async readUint32(buf: GPUBuffer, count?: number): Promise<Uint32Array> {
    return new Uint32Array(await this.readback(buf, count === undefined ? buf.size : count * 4));
  }

  /**
   * Runs `fn` inside validation and out-of-memory error scopes and throws the first error as a typed
   * exception, so a failed allocation is reported as such instead of as a cascade of invalid objects.
   */
  async scoped<T>(fn: () => T): Promise<T> {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let result: T;
    try {
      result = fn();
    } finally {
      const validation = await this.device.popErrorScope();
      const oom = await this.device.popErrorScope();
      if (oom) throw new GpuOutOfMemoryError(`GPU out of memory: ${oom.message}`);
      if (validation) throw new GpuValidationError(`GPU validation error: ${validation.message}`);
    }
    return result;
  }

  destroy(): void {
    this.device.destroy();
  }

  get isLost(): boolean {
    return this.lostError !== null;
  }

  get wantsOptionalFeatures(): boolean {
    return this.options.useOptionalFeatures !== false;
  }
}

/** Acquires an adapter and device, or throws WebGPUUnavailableError with what to do. */
export async function requestGpu(options: GpuOptions = {}): Promise<Gpu> {
  const gpu = options.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined);
  if (!gpu) {
    const insecure = typeof globalThis.isSecureContext === 'boolean' && !globalThis.isSecureContext;
    throw new WebGPUUnavailableError(
      insecure
        ? 'WebGPU is only available on secure pages: open Spark Lab over https or from http://localhost. ' + NO_WEBGPU_HELP
        : `This browser has no WebGPU (navigator.gpu is missing). ${NO_WEBGPU_HELP}`,
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new WebGPUUnavailableError(`WebGPU is present but no GPU adapter was found (blocked or disabled driver). ${NO_WEBGPU_HELP}`);
  }
  const wanted: GPUFeatureName[] = [];
  if (options.useOptionalFeatures !== false) {
    for (const f of ['shader-f16', 'subgroups', 'timestamp-query'] as GPUFeatureName[]) {
      if (adapter.features.has(f)) wanted.push(f);
    }
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const v = adapter.limits[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const device = await adapter.requestDevice({ requiredFeatures: wanted, requiredLimits, label: 'spark-lab' });
  const info = adapter.info;
  const desc: AdapterDescription = {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
  };
  return new Gpu(device, desc, options);
}
