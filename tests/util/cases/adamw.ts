/** The AdamW parameter layout shared by tests/gpu/adamw.test.ts and regress/checks/moe-adamw.ts. */
import { PARAM_ALIGN, type ParamSegment } from '../../../src/kernels/adamw';

/**
 * A model-like flat layout: tensors of awkward lengths (one of a single float) at PARAM_ALIGN boundaries, decay on
 * the matrices only, tail padding. `scale` multiplies the matrices' lengths (the full regression suite's size).
 */
export function adamwLayout(scale = 1): { n: number; segments: ParamSegment[] } {
  const tensors: [string, number, boolean][] = [
    ['wte', 1000 * scale, true], ['ln1.g', 64, false], ['ln1.b', 1, false],
    ['attn.w', 5000 * scale, true], ['attn.b', 300, false], ['mlp.w', 2049 * scale, true],
  ];
  const segments: ParamSegment[] = [];
  let offset = 0;
  for (const [name, length, decay] of tensors) {
    segments.push({ name, offset, length, decay });
    offset = Math.ceil((offset + length) / PARAM_ALIGN) * PARAM_ALIGN;
  }
  return { n: offset + 37, segments };
}
