/** The run config's own rules: the seed, typed enum fields, sections read as own keys, the derived vocabSize. */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { ModelConfig } from '../../src/model/config';
import { ConfigError } from '../../src/model/validate';
import { resolveRunConfig, seedSpec, settleVocabSize, type RunConfig } from '../../src/train/config';
import { DEFAULT_SEED } from '../../src/ui/url-config';

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('run config seed', () => {
  it('has one default, used by the validator and by links', () => {
    expect(resolveRunConfig({}).seed).toBe(seedSpec.default);
    expect(DEFAULT_SEED).toBe(seedSpec.default);
    expect(resolveRunConfig({ seed: 0 }).seed).toBe(0);
    expect(resolveRunConfig({ seed: 2 ** 32 - 1 }).seed).toBe(2 ** 32 - 1);
  });

  it.each([
    [null, /seed must be a finite number \(fixes initialisation, data order and sampling\), got null/],
    [1.5, /seed must be a whole number/],
    [-1, /seed must be at least 0/],
    [2 ** 32, /seed must be at most 4294967295/],
    ['7', /seed must be a finite number .*got "7"/],
  ])('refuses seed %j like any other field, naming it', (seed, message) => {
    const e = configErrorOf(() => resolveRunConfig({ seed }));
    expect(e.field).toBe('seed');
    expect(e.message).toMatch(message);
  });

  it('reads sections only from own keys', () => {
    const inherited = Object.create({ model: { nLayer: 2 }, seed: 5 }) as object;
    const c = resolveRunConfig(inherited);
    expect(c.model.nLayer).toBe(4);
    expect(c.seed).toBe(seedSpec.default);
  });
});

describe('enum fields', () => {
  it('resolve to the union of their values, not string', () => {
    expectTypeOf<ModelConfig['mlp']>().toEqualTypeOf<'swiglu' | 'gelu'>();
    expectTypeOf<RunConfig['optim']['schedule']>().toEqualTypeOf<'cosine' | 'wsd' | 'constant'>();
    expectTypeOf<RunConfig['data']['tokenizer']>().toEqualTypeOf<'byte' | 'bpe'>();
    expectTypeOf<RunConfig['data']['windows']>().toEqualTypeOf<'random' | 'documents'>();
    expectTypeOf<RunConfig['data']['corpus']>().toEqualTypeOf<string>();
    expect(resolveRunConfig({ optim: { schedule: 'wsd' } }).optim.schedule).toBe('wsd');
  });
});

describe('settleVocabSize', () => {
  it('sets the model vocabulary to the tokenizer’s when the input leaves it out or states the same', () => {
    for (const input of [{}, undefined, null, { model: {} }, { model: { vocabSize: 259 } }]) {
      const config = resolveRunConfig(input ?? {});
      settleVocabSize(input, config, 259);
      expect(config.model.vocabSize).toBe(259);
    }
  });

  it('refuses a stated vocabSize that differs, saying it is derived, and changes nothing', () => {
    for (const [stated, tokenizer] of [[256, 259], [1000, 512], ['259', 259]] as const) {
      const input = { data: { tokenizer: 'bpe' }, model: { vocabSize: stated } };
      const config = resolveRunConfig({ data: { tokenizer: 'bpe' } });
      const before = config.model.vocabSize;
      const e = configErrorOf(() => settleVocabSize(input, config, tokenizer));
      expect(e.field).toBe('model.vocabSize');
      expect(e.message).toMatch(
        new RegExp(`model.vocabSize ${JSON.stringify(stated)} does not match the tokenizer's ${tokenizer}: the vocabulary size is derived from the tokenizer \\(259 for the byte tokenizer, data.bpeVocabSize or fewer for BPE\\), so leave model.vocabSize out`),
      );
      expect(config.model.vocabSize).toBe(before);
    }
  });

  it('refuses a tokenizer size the model cannot take', () => {
    expect(configErrorOf(() => settleVocabSize({}, resolveRunConfig({}), 0)).field).toBe('model.vocabSize');
  });
});
