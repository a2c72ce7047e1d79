import { describe, expect, it } from 'vitest';
import { checkWindows, makeDataset, type WindowNeeds } from '../../src/data/batches';
import { ByteTokenizer, END_OF_TEXT_ID } from '../../src/data/tokenizer';
import { resolveRunConfig } from '../../src/train/config';
import { ConfigError } from '../../src/model/validate';

const tok = new ByteTokenizer();
const text = (bytes: number) => 'the quick brown fox jumps over the lazy dog. '.repeat(Math.ceil(bytes / 45)).slice(0, bytes);

/** What createRun checks for this config and text (the same call, without a GPU). */
function check(input: unknown, body: string): void {
  const c = resolveRunConfig(input);
  const d = makeDataset(body, tok, c.data.validationFraction);
  const needs: WindowNeeds = {
    batchSize: c.train.batchSize,
    seqLen: c.model.contextLength,
    startAt: c.data.windows === 'documents' ? END_OF_TEXT_ID : undefined,
    evaluate: c.train.evalEvery > 0,
    validationFraction: c.data.validationFraction,
  };
  checkWindows(d, needs);
}

function refusal(input: unknown, body: string): ConfigError {
  try {
    check(input, body);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('checkWindows: a run whose data cannot serve training or evaluation is refused at create time', () => {
  it.each([2048, 5000, 9216])('a %i-byte text with default settings (first evaluation would fail) is refused, and the suggested fix works', (bytes) => {
    const e = refusal({}, text(bytes));
    expect(e.message).toMatch(/the validation split \(the last \d+ of the text's \d+ tokens, data\.validationFraction 0\.1\) holds \d evaluation windows? of model\.contextLength \+ 1 = 129 tokens, fewer than one batch of train\.batchSize 8/);
    expect(e.message).toMatch(/set train\.evalEvery to 0/);
    if (e.field === 'data.validationFraction') {
      const f = Number(/raise data\.validationFraction to ([0-9.]+)/.exec(e.message)![1]);
      expect(() => check({ data: { validationFraction: f } }, text(bytes))).not.toThrow();
      expect(() => check({ data: { validationFraction: f - 0.001 } }, text(bytes))).toThrow(ConfigError);
    } else {
      expect(e.field).toBe('train.batchSize');
      const b = Number(/lower train\.batchSize to (\d+)/.exec(e.message)![1]);
      expect(() => check({ train: { batchSize: b } }, text(bytes))).not.toThrow();
    }
    expect(() => check({ train: { evalEvery: 0 } }, text(bytes))).not.toThrow();
  });

  it('names the exact fraction for a 9 KB text and the batch size for a 2 KB one', () => {
    expect(refusal({}, text(9216))).toMatchObject({ field: 'data.validationFraction', message: expect.stringMatching(/raise data\.validationFraction to 0\.112, lower train\.batchSize to 7,/) });
    expect(refusal({}, text(2048))).toMatchObject({ field: 'train.batchSize', message: expect.stringMatching(/holds 1 evaluation window of .*: lower train\.batchSize to 1,/) });
  });

  it('a text long enough for one evaluation batch passes (8 windows of 128 + 1 token)', () => {
    expect(() => check({}, text(10_250))).not.toThrow();
    expect(() => check({}, text(10_240))).toThrow(ConfigError);
  });

  it('a text too short for any window, or a training split too short, names the field', () => {
    expect(refusal({}, text(100))).toMatchObject({ field: 'model.contextLength', message: expect.stringMatching(/the text has 100 tokens, fewer than one training window of model\.contextLength \+ 1 = 129/) });
    expect(refusal({ data: { validationFraction: 0.5 }, train: { evalEvery: 0 } }, text(200))).toMatchObject({
      field: 'data.validationFraction',
      message: expect.stringMatching(/the training split has 100 of the text's 200 tokens .* fewer than one window .*: lower data\.validationFraction/),
    });
  });

  it('a validation split too short even at the largest fraction points at train.evalEvery', () => {
    const e = refusal({ model: { contextLength: 64 } }, text(200));
    expect(e).toMatchObject({ field: 'train.evalEvery', message: expect.stringMatching(/holds 0 evaluation windows.*the text is too short to hold both/) });
  });

  it("data.windows 'documents': a text without <|endoftext|> is refused; a validation split with too few documents names the batch size", () => {
    const docs = { data: { windows: 'documents' }, model: { contextLength: 16 }, train: { batchSize: 4 } };
    expect(refusal(docs, text(5000))).toMatchObject({ field: 'data.windows', message: expect.stringMatching(/no document start \(token 256, <\|endoftext\|>\) in the training split's \d+ tokens/) });
    const story = '<|endoftext|>' + 'a short story of some words. '.repeat(2);
    const e = refusal(docs, story.repeat(30)); // the last 10%: 3 documents
    expect(e).toMatchObject({ field: 'train.batchSize', message: expect.stringMatching(/holds 3 evaluation windows .* starting at a document start.*lower train\.batchSize to 3/) });
    expect(() => check({ ...docs, train: { batchSize: 3 } }, story.repeat(30))).not.toThrow();
  });

  it('with evaluations off, a small validation split is fine', () => {
    expect(() => check({ train: { evalEvery: 0 } }, text(2048))).not.toThrow();
  });
});
