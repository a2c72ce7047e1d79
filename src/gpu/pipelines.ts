import { preprocessWgsl, variantKey, type ShaderParams } from './preprocess';

export interface ShaderSource {
  /** Op family name, e.g. 'matmul'; used in labels and cache keys. */
  name: string;
  /** The WGSL template text (shaders/<name>.wgsl). */
  code: string;
}

/**
 * Compute pipelines keyed by (shader, template parameters, entry point). A pipeline is compiled once per
 * variant; `prepare` compiles asynchronously so start-up does not stall the thread.
 */
export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly pending = new Map<string, Promise<GPUComputePipeline>>();

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
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

  /** The pipeline for this variant, compiled synchronously on first use. */
  get(src: ShaderSource, entryPoint: string, params: ShaderParams = {}): GPUComputePipeline {
    const key = this.key(src, params, entryPoint);
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.device.createComputePipeline({
        layout: 'auto',
        compute: { module: this.module(src, params), entryPoint },
        label: key,
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** Compiles the variant in the background (createComputePipelineAsync); later `get` calls hit the cache. */
  prepare(src: ShaderSource, entryPoint: string, params: ShaderParams = {}): Promise<GPUComputePipeline> {
    const key = this.key(src, params, entryPoint);
    const done = this.pipelines.get(key);
    if (done) return Promise.resolve(done);
    let p = this.pending.get(key);
    if (!p) {
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
