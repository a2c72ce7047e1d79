import { Rng } from '../lib/rng';
import type { ModelConfig } from './config';
import type { ParamLayout } from './layout';

/**
 * Initial weights on the CPU, from the seed alone: normal(0, initScale) for matrices, scaled by 1/sqrt(2·L)
 * for the projections that write into the residual stream (GPT-2's scheme), ones for norm gains, zeros for
 * biases and, with model.zeroInitProjections, for those projections (layout.ts says which). Padding between
 * tensors stays zero.
 */
export function initialParams(c: ModelConfig, layout: ParamLayout, seed: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(layout.totalLength);
  const rng = new Rng(seed ^ 0x5eed1);
  const normal = () => {
    const u = Math.max(rng.nextFloat(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat());
  };
  const residualStd = c.initScale / Math.sqrt(2 * c.nLayer);
  for (const s of layout.specs) {
    const view = out.subarray(s.offset, s.offset + s.length);
    switch (s.init) {
      case 'ones':
        view.fill(1);
        break;
      case 'zeros':
        break;
      case 'normal':
        for (let i = 0; i < view.length; i++) view[i] = c.initScale * normal();
        break;
      case 'residual':
        for (let i = 0; i < view.length; i++) view[i] = residualStd * normal();
        break;
    }
  }
  return out;
}
