import source from '../../shaders/elementwise.wgsl?raw';
import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import type { ShaderSource } from '../gpu/pipelines';
import { ceilDiv, dispatch, grid1d, packUniform } from './dispatch';

export const elementwiseShader: ShaderSource = { name: 'elementwise', code: source };
const WG = 256;
const VARIANTS = { fill: { FILL: true, ADD: false }, add: { FILL: false, ADD: true } } as const;

function assertHolds(buf: GPUBuffer, n: number, what: string): void {
  check(buf.size >= n * 4, () => `${what}: buffer '${buf.label}' holds ${buf.size / 4} floats, needs ${n}`);
}

/** Uniform layout (16 bytes): n u32, value f32, pad, pad. */
function params(gpu: Gpu, n: number, value: number, label: string): GPUBuffer {
  return gpu.uniform(packUniform([['u32', n], ['f32', value], ['u32', 0], ['u32', 0]]), label);
}

/** out[i] = value for i < n. */
export class Fill {
  private readonly pipeline: GPUComputePipeline;
  private readonly uniform: GPUBuffer;
  constructor(private readonly gpu: Gpu, readonly n: number, readonly value: number) {
    this.pipeline = gpu.pipelines.get(elementwiseShader, 'fill', { WG, ...VARIANTS.fill });
    this.uniform = params(gpu, n, value, `fill n=${n}`);
  }
  encode(pass: GPUComputePassEncoder, out: GPUBuffer): void {
    assertHolds(out, this.n, 'fill');
    dispatch(this.gpu, pass, this.pipeline, [this.uniform, out], grid1d(this.gpu, ceilDiv(this.n, WG)));
  }
}

/** out = a + b over n elements (the residual add). Backward: both inputs receive dout unchanged. */
export class Add {
  private readonly pipeline: GPUComputePipeline;
  private readonly uniform: GPUBuffer;
  constructor(private readonly gpu: Gpu, readonly n: number) {
    this.pipeline = gpu.pipelines.get(elementwiseShader, 'add', { WG, ...VARIANTS.add });
    this.uniform = params(gpu, n, 0, `add n=${n}`);
  }
  encode(pass: GPUComputePassEncoder, a: GPUBuffer, b: GPUBuffer, out: GPUBuffer): void {
    for (const [buf, what] of [[a, 'a'], [b, 'b'], [out, 'out']] as const) assertHolds(buf, this.n, `add ${what}`);
    check(out !== a && out !== b, 'add: out must not alias an input (WebGPU forbids read and read_write bindings of one buffer)');
    dispatch(this.gpu, pass, this.pipeline, [this.uniform, a, b, out], grid1d(this.gpu, ceilDiv(this.n, WG)));
  }
}
