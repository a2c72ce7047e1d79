import { preprocessWgsl, variantKey, type ShaderParams } from './preprocess';

export interface ShaderSource {
  /** Op family name, e.g. 'matmul'; used in labels and cache keys. */
  name: string;
  /** The WGSL template text (shaders/<name>.wgsl). */
  code: string;
}

/** Stand-ins that `get` hands out inside `build`, mapped to their variant key. */
const deferredKeys = new WeakMap<object, string>();

/**
 * Compute pipelines keyed by (shader, template parameters, entry point). A pipeline is compiled once per
 * variant; `prepare` compiles asynchronously so start-up does not stall the thread, and `build` constructs a
 * whole set of kernels with every variant they need compiled in parallel (createComputePipelineAsync).
 */
export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly pending = new Map<string, Promise<GPUComputePipeline>>();
  private readonly specs = new Map<string, { src: ShaderSource; entryPoint: string; params: ShaderParams }>();
  private deferring = 0;

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  /** Variant keys of the compiled pipelines (`shader?params#entry`). */
  keys(): string[] {
    return [...this.pipelines.keys()];
  }

  private module(src: ShaderSource, params: ShaderParams): GPUShaderModule {
    const key = variantKey(src.name, params);
    let m = this.modules.get(key);
    if (!m) {
      m = this.device.createShaderModule({ code: preprocessWgsl(src.code, params), label: key });
      this.modules.set(key, m);
    }
    return m;
  }

  private key(src: ShaderSource, params: ShaderParams, entryPoint: string): string {
    return `${variantKey(src.name, params)}#${entryPoint}`;
  }

  /**
   * The pipeline for this variant, compiled synchronously on first use. Inside `build` it returns a stand-in
   * at once and compiles in the background; `resolve` (called by every dispatch) swaps in the real pipeline.
   */
  get(src: ShaderSource, entryPoint: string, params: ShaderParams = {}): GPUComputePipeline {
    const key = this.key(src, params, entryPoint);
    const done = this.pipelines.get(key);
    if (done) return done;
    if (this.deferring > 0) {
      this.specs.set(key, { src, entryPoint, params });
      void this.prepare(src, entryPoint, params).catch(() => undefined); // build() reports the failure
      const standIn = Object.freeze({ label: key }) as unknown as GPUComputePipeline;
      deferredKeys.set(standIn, key);
      return standIn;
    }
    return this.compileNow(src, entryPoint, params, key);
  }

  /** What a compiled (or compiling) variant was built from: its shader, entry point and template parameters. */
  variant(key: string): { src: ShaderSource; entryPoint: string; params: ShaderParams } | undefined {
    return this.specs.get(key);
  }

  private compileNow(src: ShaderSource, entryPoint: string, params: ShaderParams, key: string): GPUComputePipeline {
    this.specs.set(key, { src, entryPoint, params });
    const p = this.device.createComputePipeline({
      layout: 'auto',
      compute: { module: this.module(src, params), entryPoint },
      label: key,
    });
    this.pipelines.set(key, p);
    return p;
  }

  /**
   * For kernels that pick variants at encode time: inside `build`, starts compiling this variant with the
   * rest; outside, does nothing (the variant compiles on first use).
   */
  warm(src: ShaderSource, entryPoint: string, params: ShaderParams = {}): void {
    if (this.deferring > 0) this.get(src, entryPoint, params);
  }

  /** The real pipeline behind a stand-in from `build` (compiled now if its background compile is not done). */
  resolve(pipeline: GPUComputePipeline): GPUComputePipeline {
    const key = deferredKeys.get(pipeline);
    if (key === undefined) return pipeline;
    const done = this.pipelines.get(key);
    if (done) return done;
    const spec = this.specs.get(key);
    if (!spec) throw new Error(`pipeline ${key} was never requested`);
    return this.compileNow(spec.src, spec.entryPoint, spec.params, key);
  }

  /**
   * Runs `construct` (which builds kernels) with every pipeline it asks for compiled asynchronously and in
   * parallel, and resolves once all of them are ready: start-up costs the slowest compile, not the sum.
   * `onProgress(done, total)` hears each compile finish (total: the compiles pending once `construct` returned,
   * none when every pipeline was already compiled).
   */
  async build<T>(construct: () => T, onProgress?: (done: number, total: number) => void): Promise<T> {
    this.deferring++;
    let out: T;
    try {
      out = construct();
    } finally {
      this.deferring--;
    }
    const pending = [...this.pending.values()];
    let done = 0;
    if (onProgress && pending.length > 0) {
      onProgress(0, pending.length);
      for (const p of pending) p.then(() => onProgress(++done, pending.length), () => undefined);
    }
    await Promise.all(pending);
    return out;
  }

  /** Compiles the variant in the background (createComputePipelineAsync); later `get` calls hit the cache. */
  prepare(src: ShaderSource, entryPoint: string, params: ShaderParams = {}): Promise<GPUComputePipeline> {
    const key = this.key(src, params, entryPoint);
    const done = this.pipelines.get(key);
    if (done) return Promise.resolve(done);
    let p = this.pending.get(key);
    if (!p) {
      this.specs.set(key, { src, entryPoint, params });
      p = this.device
        .createComputePipelineAsync({ layout: 'auto', compute: { module: this.module(src, params), entryPoint }, label: key })
        .then((pipe) => {
          this.pipelines.set(key, pipe);
          this.pending.delete(key);
          return pipe;
        });
      this.pending.set(key, p);
    }
    return p;
  }
}
