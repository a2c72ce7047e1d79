import { describe, expect, it } from 'vitest';
import { resolveModelConfig } from '../../src/model/config';
import { buildLayout } from '../../src/model/layout';
import { CheckpointError, type Checkpoint, type ParamTensor } from '../../src/train/checkpoint';
import { resolveRunConfig } from '../../src/train/config';
import { trainerStateFromCheckpoint } from '../../src/train/resume';

const layout = buildLayout(resolveModelConfig({ vocabSize: 259, contextLength: 8, nLayer: 1, nEmbd: 8, nHead: 2 }));
const rng = { rng: { kind: 'xoshiro128**', s: [1, 2, 3, 4] }, step: 3 };

/** A checkpoint of this layout whose values tell where they came from: tensor k, element i holds k + i / 1e4 (+ 0.5 for m, + 1 for v). */
function checkpoint(): Checkpoint {
  const tensors = (shift: number) =>
    new Map<string, ParamTensor>(layout.specs.map((s, k) => [s.name, { shape: s.shape.slice(), data: Float32Array.from({ length: s.length }, (_, i) => k + i / 1e4 + shift) }]));
  return { config: {}, step: 7, rng, tokenizer: {}, params: tensors(0), optimizer: { m: tensors(0.5), v: tensors(1) }, createdAt: '2026-01-01T00:00:00Z' };
}

function refusal(edit: (c: Checkpoint) => void): CheckpointError {
  const c = checkpoint();
  edit(c);
  try {
    trainerStateFromCheckpoint(c, layout);
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return e as CheckpointError;
  }
  throw new Error('expected a CheckpointError');
}

describe('trainerStateFromCheckpoint', () => {
  it('lays every tensor at its offset in the flat buffers, padding zero, with step and data order', () => {
    const s = trainerStateFromCheckpoint(checkpoint(), layout);
    expect(s.params.length).toBe(layout.totalLength);
    layout.specs.forEach((spec, k) => {
      expect(s.params[spec.offset]).toBeCloseTo(k);
      expect(s.m[spec.offset + spec.length - 1]).toBeCloseTo(k + (spec.length - 1) / 1e4 + 0.5);
      expect(s.v[spec.offset]).toBeCloseTo(k + 1);
    });
    const wte = layout.byName.get('wte')!;
    expect(s.params[wte.offset + wte.length]).toBe(0); // 259·8 = 2072, padded to 2112
    expect(s).toMatchObject({ step: 7, batcher: rng });
  });

  it('refuses a missing tensor, naming it and its shape', () => {
    const e = refusal((c) => c.params.delete('h.0.wq'));
    expect(e.code).toBe('missing-tensor');
    expect(e.message).toBe(
      'checkpoint has no parameter "h.0.wq" [8, 8], which the model its config describes needs; the file is incomplete or its config was edited: load a checkpoint Spark Lab saved',
    );
  });

  it('refuses a transposed tensor (same element count, other shape)', () => {
    const e = refusal((c) => (c.params.get('wte')!.shape = [8, 259]));
    expect(e.code).toBe('shape');
    expect(e.message).toBe('checkpoint parameter "wte" has shape [8, 259] (transposed); the model its config describes needs [259, 8]');
    expect(refusal((c) => (c.optimizer!.v.get('h.0.wo')!.shape = [64])).message).toMatch(/^checkpoint AdamW second moment "h\.0\.wo" has shape \[64\]; .* needs \[8, 8\]$/);
  });

  it('matches linear biases by name: a config with model.bias needs them, one without (older checkpoints) refuses them', () => {
    const base = { vocabSize: 259, contextLength: 8, nLayer: 1, nEmbd: 8, nHead: 2 };
    const biased = buildLayout(resolveModelConfig({ ...base, bias: true }));
    const tensors = (l: typeof biased) => new Map<string, ParamTensor>(l.specs.map((s) => [s.name, { shape: s.shape.slice(), data: new Float32Array(s.length).fill(0.25) }]));
    const saved = (l: typeof biased): Checkpoint => ({ ...checkpoint(), params: tensors(l), optimizer: { m: tensors(l), v: tensors(l) } });
    const s = trainerStateFromCheckpoint(saved(biased), biased);
    const b = biased.byName.get('h.0.mlp.wi.bias')!;
    expect(s.params[b.offset + b.length - 1]).toBe(0.25);
    // a config saved before model.bias existed resolves to false: the unbiased layout, which its tensors fill
    expect(() => trainerStateFromCheckpoint(saved(layout), buildLayout(resolveModelConfig(base)))).not.toThrow();
    const missing = saved(biased);
    missing.params.delete('h.0.wq.bias');
    expect(() => trainerStateFromCheckpoint(missing, biased)).toThrow(expect.objectContaining({ code: 'missing-tensor', message: expect.stringContaining('"h.0.wq.bias" [8]') }));
    expect(() => trainerStateFromCheckpoint(saved(biased), layout)).toThrow(expect.objectContaining({ code: 'unexpected-tensor', message: expect.stringContaining('"h.0.wq.bias"') }));
  });

  it('names tensors the model does not have', () => {
    const e = refusal((c) => {
      c.params.set('h.1.wq', { shape: [8, 8], data: new Float32Array(64) });
      c.params.set('h.1.wk', { shape: [8, 8], data: new Float32Array(64) });
    });
    expect(e.code).toBe('unexpected-tensor');
    expect(e.message).toMatch(/^checkpoint parameter "h\.1\.wq", "h\.1\.wk" are not in the model its config describes/);
  });

  it('refuses non-finite weights and moments and negative second moments, with the tensor and the first bad index', () => {
    const poke = (which: 'params' | 'm' | 'v', name: string, i: number, x: number) => (c: Checkpoint) => {
      const t = which === 'params' ? c.params : c.optimizer![which];
      t.get(name)!.data[i] = x;
      t.get(name)!.data[i + 1] = x;
    };
    let e = refusal(poke('params', 'h.0.ln1', 5, NaN));
    expect(e.code).toBe('bad-values');
    expect(e.message).toBe('checkpoint parameter "h.0.ln1" holds NaN at index 5 (the first bad one of 8); a non-finite value makes every loss non-finite, so every step would be skipped: load another checkpoint');
    e = refusal(poke('m', 'wte', 2071, Infinity));
    expect(e.message).toMatch(/^checkpoint AdamW first moment "wte" holds Infinity at index 2071 \(the first bad one of 2072\)/);
    e = refusal(poke('v', 'lnf', 0, -0.25));
    expect(e.message).toMatch(/^checkpoint AdamW second moment "lnf" holds -0\.25 at index 0 .*never negative/);
    const negativeFirstMoment = checkpoint();
    negativeFirstMoment.optimizer!.m.get('wte')!.data[0] = -3; // first moments may be negative
    expect(() => trainerStateFromCheckpoint(negativeFirstMoment, layout)).not.toThrow();
  });

  it('refuses a checkpoint without optimizer state, or with an invalid data order', () => {
    expect(refusal((c) => (c.optimizer = null))).toMatchObject({ code: 'optimizer-mismatch', message: expect.stringMatching(/no AdamW state .* cannot resume exactly/) });
    expect(refusal((c) => (c.rng = { rng: { kind: 'xoshiro128**', s: [0, 0, 0, 0] }, step: 1 }))).toMatchObject({
      code: 'bad-metadata',
      message: 'checkpoint rng (the data order) is invalid: RNG state: all-zero state is invalid for xoshiro128**',
    });
    expect(refusal((c) => (c.rng = { rng: rng.rng, step: -1 }))).toMatchObject({ code: 'bad-metadata', message: expect.stringMatching(/step a non-negative integer/) });
  });
});

describe('checkpoints and model.qkNorm', () => {
  /** A checkpoint of `model`'s layout (the values do not matter here) with `config` stored as its run config. */
  const saved = (model: Record<string, unknown>, config: unknown = { model }): Checkpoint => {
    const l = buildLayout(resolveModelConfig(model));
    const tensors = () => new Map<string, ParamTensor>(l.specs.map((s) => [s.name, { shape: s.shape.slice(), data: new Float32Array(s.length).fill(1) }]));
    return { config, step: 1, rng, tokenizer: {}, params: tensors(), optimizer: { m: tensors(), v: tensors() }, createdAt: '2026-01-01T00:00:00Z' };
  };
  const base = { vocabSize: 259, contextLength: 8, nLayer: 1, nEmbd: 8, nHead: 2 };
  /** The layout loadRun checks a checkpoint against: its stored run config, resolved (defaults filled). */
  const layoutOf = (c: Checkpoint) => buildLayout(resolveRunConfig(c.config).model);

  it('an older checkpoint, saved before the field existed, loads as qkNorm off', () => {
    const old = saved(base);
    expect(resolveModelConfig(base).qkNorm).toBe(false);
    expect(() => trainerStateFromCheckpoint(old, layoutOf(old))).not.toThrow();
  });

  it('one saved with qkNorm round-trips its gains; without them, or with gains its config lacks, it is refused by name', () => {
    const qk = saved({ ...base, qkNorm: true });
    const s = trainerStateFromCheckpoint(qk, layoutOf(qk));
    const spec = layoutOf(qk).byName.get('h.0.k_norm')!;
    expect(s.params[spec.offset + spec.length - 1]).toBe(1);
    qk.params.delete('h.0.q_norm');
    expect(() => trainerStateFromCheckpoint(qk, layoutOf(qk))).toThrow(expect.objectContaining({ code: 'missing-tensor', message: expect.stringMatching(/^checkpoint has no parameter "h\.0\.q_norm" \[4\]/) }));
    // gains in a checkpoint whose config says qkNorm is off (an edited config)
    const edited = saved({ ...base, qkNorm: true }, { model: base });
    expect(() => trainerStateFromCheckpoint(edited, layoutOf(edited))).toThrow(expect.objectContaining({ code: 'unexpected-tensor', message: expect.stringMatching(/"h\.0\.q_norm", "h\.0\.k_norm" are not in the model/) }));
  });
});
