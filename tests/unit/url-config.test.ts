import { describe, expect, it } from 'vitest';
import { resolveRunConfig } from '../../src/train/config';
import { PRESETS } from '../../src/ui/presets';
import { decodeConfigHash, encodeConfigHash, MAX_URL_CONFIG_CHARS, nonDefaultConfig, type PartialRunConfig } from '../../src/ui/url-config';

const b64url = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
const hashOf = (json: string) => `#config=${b64url(json)}`;

function expectFailure(hash: string, pattern: RegExp) {
  const r = decodeConfigHash(hash);
  expect(r?.ok).toBe(false);
  if (r && !r.ok) expect(r.message).toMatch(pattern);
  return r;
}

describe('encodeConfigHash / decodeConfigHash', () => {
  it('round-trips the non-default fields of a config', () => {
    const config: PartialRunConfig = {
      model: { nLayer: 2, nEmbd: 32, nHead: 2, mlp: 'gelu', tiedEmbeddings: false },
      optim: { lr: 0.01 },
      train: { steps: 150 },
      data: { corpus: 'moby-dick' },
      seed: 7,
    };
    const hash = encodeConfigHash(config);
    expect(hash).toMatch(/^config=[A-Za-z0-9_-]+$/);
    const back = decodeConfigHash(`#${hash}`);
    expect(back).toEqual({ ok: true, config, warnings: [] });
  });

  it('encodes a default config as the empty fragment, and a fragment without config as null', () => {
    expect(encodeConfigHash({})).toBe('');
    expect(encodeConfigHash({ model: { nLayer: 4 }, seed: 1337 })).toBe('');
    expect(encodeConfigHash({ data: { corpus: 'user' } })).toBe(''); // a dropped file cannot travel in a link
    expect(decodeConfigHash('')).toBeNull();
    expect(decodeConfigHash('#other=1')).toBeNull();
  });

  it('drops what the resolver derives (vocabSize, nKvHead = nHead, default mlpHidden) from a resolved config', () => {
    const resolved = resolveRunConfig({ model: { nEmbd: 64, nHead: 2 }, train: { steps: 10 } });
    resolved.model.vocabSize = 259;
    expect(nonDefaultConfig(resolved)).toEqual({ model: { nEmbd: 64, nHead: 2 }, train: { steps: 10 } });
  });

  it('rejects text that is not base64url, with a message', () => {
    expectFailure('#config=%%%not-base64!!', /base64url/);
    expectFailure('#config=abcde', /base64url/); // a length no base64 text has
    expectFailure('#config=', /empty/);
  });

  it('rejects bytes that are not UTF-8 and text that is not JSON', () => {
    expectFailure(`#config=${Buffer.from([0xff, 0xfe, 0x80]).toString('base64url')}`, /UTF-8/);
    expectFailure(hashOf('{"model": {"nLayer": 2'), /not valid JSON/);
    expectFailure(hashOf('[1,2,3]'), /JSON object/);
    expectFailure(hashOf('"text"'), /JSON object/);
  });

  it('rejects unknown sections and fields, naming them', () => {
    const r = expectFailure(hashOf('{"model": {"nLayers": 2}}'), /model\.nLayers is not a known setting/);
    expect(r && !r.ok && r.field).toBe('model.nLayers');
    expectFailure(hashOf('{"evil": {}}'), /unknown section "evil"/);
    expectFailure(hashOf('{"model": {"nLayer": {"x": 1}}}'), /model\.nLayer must be a number/);
  });

  it('rejects prototype-pollution keys without touching any prototype', () => {
    for (const json of [
      '{"__proto__": {"polluted": true}}',
      '{"model": {"__proto__": {"polluted": true}}}',
      '{"constructor": {"prototype": {"polluted": true}}}',
      '{"train": {"constructor": 1}}',
    ]) {
      expectFailure(hashOf(json), /not allowed/);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('rejects huge and out-of-range values through the config validator, naming the field', () => {
    const r = expectFailure(hashOf('{"model": {"nLayer": 1e308}}'), /model\.nLayer must be at most 96/);
    expect(r && !r.ok && r.field).toBe('model.nLayer');
    expectFailure(hashOf('{"train": {"steps": -5}}'), /train\.steps must be at least 1/);
    expectFailure(hashOf('{"seed": 1.5}'), /seed must be a whole number/);
    expectFailure(hashOf('{"model": {"nEmbd": 100, "nHead": 3}}'), /not divisible/);
    expectFailure(hashOf('{"model": {"mlp": "relu"}}'), /model\.mlp must be one of/);
  });

  it('rejects an overlong config before decoding it', () => {
    expectFailure(`#config=${'A'.repeat(MAX_URL_CONFIG_CHARS + 4)}`, /more than the 4096/);
  });

  it('loads a config with a corpus that is not built in, without the corpus and with a warning', () => {
    const r = decodeConfigHash(hashOf('{"data": {"corpus": "user", "tokenizer": "bpe"}}'));
    expect(r?.ok).toBe(true);
    if (r?.ok) {
      expect(r.config).toEqual({ data: { tokenizer: 'bpe' } });
      expect(r.warnings[0]).toMatch(/not built in/);
    }
  });

  it('warns about a valid but enormous model', () => {
    const r = decodeConfigHash(hashOf('{"model": {"nLayer": 96, "nEmbd": 8192, "nHead": 64}}'));
    expect(r?.ok).toBe(true);
    if (r?.ok) expect(r.warnings.join(' ')).toMatch(/billion parameters/);
  });

  it('never throws on random fragments', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const alphabet = 'ABCxyz019-_=%{}"#&:,.';
    for (let i = 0; i < 2000; i++) {
      const len = Math.floor(rand() * 60);
      let s = '#config=';
      for (let j = 0; j < len; j++) s += alphabet[Math.floor(rand() * alphabet.length)];
      expect(() => decodeConfigHash(s)).not.toThrow();
    }
  });
});

describe('presets', () => {
  it('every preset survives a link and resolves to a valid run config', () => {
    for (const preset of PRESETS) {
      const back = decodeConfigHash(`#${encodeConfigHash(preset.config)}`);
      expect(back?.ok && back.warnings, preset.id).toEqual([]);
      // the link drops fields equal to their defaults; what it resolves to is the preset's run
      if (back?.ok) expect(resolveRunConfig(back.config), preset.id).toEqual(resolveRunConfig(preset.config));
    }
  });

  it('the reasoning preset trains on windows that start at a document start, as the sweep prompts do', () => {
    const preset = PRESETS.find((p) => p.id === 'tiny-reasoning')!;
    expect(resolveRunConfig(preset.config).data.windows).toBe('documents');
  });
});
