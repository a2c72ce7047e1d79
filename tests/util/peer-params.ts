/**
 * Parameters for checking a training peer (bench/peers/*) against the float64 reference model: a random flat buffer
 * in the model's layout, and the same values as the reference's per-name float64 arrays.
 */
import { type ModelConfig } from '../../src/model/config';
import { buildLayout } from '../../src/model/layout';
import type { RefParams } from '../reference/model';
import { randn } from './random';

/** Matrices N(0, 0.4) (so attention and routing are decisive), routers 3× that, norms 1 + N(0, 0.1). */
export function randomPeerParams(c: ModelConfig, seed: number): Float32Array {
  const layout = buildLayout(c);
  const flat = randn(layout.totalLength, seed, 0.4);
  for (const s of layout.specs) {
    if (s.init === 'ones') for (let i = s.offset; i < s.offset + s.length; i++) flat[i] = 1 + flat[i] / 4;
    if (s.name.endsWith('moe.router')) for (let i = s.offset; i < s.offset + s.length; i++) flat[i] *= 3;
  }
  return flat;
}

/** The flat buffer's tensors by name, in float64, as referenceForward takes them. */
export function refParamsOf(c: ModelConfig, flat: Float32Array): RefParams {
  return new Map(buildLayout(c).specs.map((s) => [s.name, Float64Array.from(flat.subarray(s.offset, s.offset + s.length))]));
}
