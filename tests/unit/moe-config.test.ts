import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device';
import { MoeRouting, type MoeConfig } from '../../src/kernels/moe';

// The routing kernel's config guards run before it touches the device, so a stand-in device is enough.
const noGpu = {} as Gpu;
const base: MoeConfig = { tokens: 8, width: 4, experts: 4, topK: 2 };

describe('MoeRouting config guards', () => {
  it.each([0, -1, NaN, Infinity])('refuses auxGradScale %s, naming the field', (auxGradScale) => {
    expect(() => new MoeRouting(noGpu, { ...base, auxGradScale })).toThrow(`moe: auxGradScale must be a finite number > 0, got ${auxGradScale}`);
  });
});
