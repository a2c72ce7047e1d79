// The kernel tuning's data (pure): shape classes, the device key, the untuned defaults, and the checks a stored
// record must pass before kernels use it (storage is not trusted).
import { clearlyFaster } from '../../src/kernels/autotune';
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device';
import {
  choicesOf, GENERIC_CHOICES, matmulClass, setTuning, SMALL_MATMUL_FLOPS, tuningKey, tuningOf, TUNING_VERSION, validTuning, type KernelTuning,
} from '../../src/kernels/tuning';

const fakeGpu = (subgroups = true, description = 'x'): Gpu =>
  ({
    adapter: { vendor: 'v', architecture: 'a', device: 'd', description },
    features: { subgroups, shaderF16: false, timestampQuery: true },
    limits: { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupStorageSize: 16384 },
  }) as unknown as Gpu;

function record(gpu: Gpu, over: Record<string, unknown> = {}): KernelTuning {
  return {
    version: TUNING_VERSION, key: tuningKey(gpu),
    choices: { matmul: { small: { wgX: 8, wgY: 8, tm: 16, tn: 8, bk: 16, subgroupA: true }, large: { ...GENERIC_CHOICES.matmul.large } }, norm: 'row', reduceMaxPartials: 64 },
    measured: [], tunedAt: 1, ms: 5, ...over,
  } as KernelTuning;
}

describe('kernel tuning', () => {
  it('classes matmuls by their work and keys a tuning by adapter and features', () => {
    expect(matmulClass(SMALL_MATMUL_FLOPS - 1)).toBe('small');
    expect(matmulClass(SMALL_MATMUL_FLOPS)).toBe('large');
    expect(matmulClass(Infinity)).toBe('large');
    expect(tuningKey(fakeGpu(true))).not.toBe(tuningKey(fakeGpu(false)));
    expect(tuningKey(fakeGpu(true, 'x'))).not.toBe(tuningKey(fakeGpu(true, 'y')));
    expect(tuningKey(fakeGpu())).toBe(tuningKey(fakeGpu()));
    expect(JSON.parse(tuningKey(fakeGpu()))[0]).toBe(TUNING_VERSION);
  });

  it("gives an untuned device a GPU's choices, and a tuned one its own", () => {
    const gpu = fakeGpu();
    expect(tuningOf(gpu)).toBeUndefined();
    expect(choicesOf(gpu)).toEqual(GENERIC_CHOICES);
    const t = record(gpu);
    setTuning(gpu, t);
    expect(tuningOf(gpu)).toBe(t);
    expect(choicesOf(gpu).norm).toBe('row');
    expect(choicesOf(fakeGpu())).toEqual(GENERIC_CHOICES); // per device, not global
  });

  it('accepts a stored record only when it is whole, of this version, for this device, and fits its limits', () => {
    const gpu = fakeGpu();
    expect(validTuning(record(gpu), gpu)).not.toBeNull();
    const bad: [string, unknown][] = [
      ['null', null],
      ['a string', 'tuning'],
      ['another version', record(gpu, { version: TUNING_VERSION + 1 })],
      ['another device', record(fakeGpu(true, 'other'))],
      ['no choices', record(gpu, { choices: null })],
      ['a tile size the shader has not', record(gpu, { choices: { ...record(gpu).choices, matmul: { small: { wgX: 8, wgY: 8, tm: 12, tn: 8, bk: 16, subgroupA: false }, large: GENERIC_CHOICES.matmul.large } } })],
      ['a workgroup over the limit', record(gpu, { choices: { ...record(gpu).choices, matmul: { small: { wgX: 32, wgY: 32, tm: 4, tn: 4, bk: 16, subgroupA: false }, large: GENERIC_CHOICES.matmul.large } } })],
      ['staging over workgroup memory', record(gpu, { choices: { ...record(gpu).choices, matmul: { small: { wgX: 16, wgY: 16, tm: 16, tn: 8, bk: 32, subgroupA: false }, large: GENERIC_CHOICES.matmul.large } } })],
      ['an unknown norm mapping', record(gpu, { choices: { ...record(gpu).choices, norm: 'diagonal' } })],
      ['a partial count out of range', record(gpu, { choices: { ...record(gpu).choices, reduceMaxPartials: 0 } })],
      ['a fractional partial count', record(gpu, { choices: { ...record(gpu).choices, reduceMaxPartials: 64.5 } })],
      ['no measurements', record(gpu, { measured: undefined })],
    ];
    for (const [why, v] of bad) expect(validTuning(v, gpu), why).toBeNull();
    // the subgroup tiling is refused on the same adapter without the subgroups feature (another key too)
    const noSub = fakeGpu(false);
    expect(validTuning({ ...record(gpu), key: tuningKey(noSub) }, noSub)).toBeNull();
    expect(validTuning({ ...record(gpu), key: tuningKey(noSub), choices: { ...record(gpu).choices, matmul: { small: GENERIC_CHOICES.matmul.small, large: GENERIC_CHOICES.matmul.large } } }, noSub)).not.toBeNull();
  });
});

describe('clearlyFaster (a small matmul keeps the large class tiling unless another wins clearly)', () => {
  it('needs the margin in the median and in every round', () => {
    expect(clearlyFaster([8, 8, 8], [10, 10, 10])).toBe(true);
    expect(clearlyFaster([8, 8, 9.8], [10, 10, 10])).toBe(false); // one round within the noise
    expect(clearlyFaster([9.7, 9.7, 9.7], [10, 10, 10])).toBe(false); // 3% is a near-tie
    expect(clearlyFaster([8, 8, 8], [10, 10])).toBe(false); // rounds do not line up
    expect(clearlyFaster([], [])).toBe(false);
  });
});
