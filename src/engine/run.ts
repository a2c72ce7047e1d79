/**
 * The library API, the same in the page's worker, in the regression runner and in tests:
 *
 *   const run = await createRun({ model: { nLayer: 2 }, train: { steps: 200 } });
 *   for await (const p of run.train()) if (p.kind === 'progress') console.log(p.step, p.steps.at(-1)?.loss);
 *   console.log(await run.sample('Once upon a time', { maxTokens: 64, temperature: 0.8 }));
 *   const bytes = await run.save();              // a safetensors checkpoint
 *   const again = await loadRun(bytes);          // continues exactly where it stopped
 */
import { makeDataset, unigramEntropy, type Dataset } from '../data/batches';
import { findCorpus } from '../data/corpora';
import { buildTokenizer, tokenizerFromJSON, TokenStreamDecoder, type Tokenizer } from '../data/tokenizer';
import { requestGpu, type Gpu } from '../gpu/device';
import { BatchSampler, type StreamOptions } from '../eval/batch-sample';
import { countParams, flopsPerToken } from '../model/config';
import { checkFitsDevice } from '../model/memory';
import { ConfigError } from '../model/validate';
import { decodeCheckpoint, encodeCheckpoint } from '../train/checkpoint';
import { resolveRunConfig, type RunConfig } from '../train/config';
import { Trainer, type EvalResult, type Progress } from '../train/trainer';

export interface RunOptions {
  /** A device to use (default: request one). */
  gpu?: Gpu;
  /** Training text instead of the configured corpus (a dropped file). */
  text?: string;
  /** A tokenizer to reuse (from a checkpoint) instead of building one. */
  tokenizer?: Tokenizer;
  /** Refuse configs whose estimated training memory exceeds this (bytes); WebGPU does not tell the device's size. */
  memoryBudgetBytes?: number;
}

export interface RunSummary {
  params: number;
  activeParams: number;
  flopsPerToken: number;
  trainTokens: number;
  validationTokens: number;
  /** Unigram entropy of the training tokens (nats): the loss of a model that knows only token frequencies. */
  unigramEntropy: number;
}

export class Run {
  readonly summary: RunSummary;
  private sampler: BatchSampler | null = null;

  constructor(
    readonly gpu: Gpu,
    readonly config: RunConfig,
    readonly tokenizer: Tokenizer,
    readonly dataset: Dataset,
    readonly trainer: Trainer,
  ) {
    const counts = countParams(config.model);
    this.summary = {
      params: counts.total,
      activeParams: counts.activePerToken,
      flopsPerToken: flopsPerToken(config.model),
      trainTokens: dataset.train.length,
      validationTokens: dataset.validation.length,
      unigramEntropy: unigramEntropy(dataset.train, tokenizer.vocabSize),
    };
  }

  /** Trains `steps` more steps (default: to config.train.steps). */
  train(opts: { steps?: number } = {}): AsyncGenerator<Progress | EvalResult> {
    return this.trainer.train(opts.steps);
  }

  evaluate(): Promise<number> {
    return this.trainer.evaluate();
  }

  /** Streams sampled text after `prompt` (KV-cache decoding; the window slides by half a context when it fills). */
  async *stream(prompt: string, opts: Partial<StreamOptions> = {}): AsyncGenerator<string> {
    const decoder = new TokenStreamDecoder(this.tokenizer);
    const ids = Uint32Array.from(this.tokenizer.encode(prompt));
    for await (const chunk of this.batchSampler().stream(ids, { maxTokens: 64, seed: this.config.seed, ...opts })) {
      let text = '';
      for (const id of chunk.tokens) text += decoder.push(id);
      yield text;
    }
    const rest = decoder.flush();
    if (rest) yield rest;
  }

  /** KV-cache sampling on the run's current weights: the sample box (stream) and test-time sweeps. */
  batchSampler(): BatchSampler {
    this.sampler ??= new BatchSampler(this.gpu, this.config.model, this.trainer.model.params);
    return this.sampler;
  }

  /** The text sampled after `prompt` (the prompt not included). */
  async sample(prompt: string, opts: Partial<StreamOptions> = {}): Promise<string> {
    let out = '';
    for await (const piece of this.stream(prompt, opts)) out += piece;
    return out;
  }

  /** A checkpoint (safetensors bytes): weights, AdamW moments, config, step, data order, tokenizer. */
  async save(): Promise<Uint8Array> {
    const { params, m, v } = await this.trainer.readState();
    const layout = this.trainer.model.layout;
    const pick = (flat: Float32Array) =>
      new Map(layout.specs.map((s) => [s.name, { shape: s.shape, data: flat.slice(s.offset, s.offset + s.length) }]));
    return encodeCheckpoint({
      config: this.config,
      step: this.trainer.step,
      rng: this.trainer.batcherState(),
      tokenizer: this.tokenizer.toJSON(),
      params: pick(params),
      optimizer: { m: pick(m), v: pick(v) },
    });
  }

  destroy(): void {
    this.sampler?.destroy();
    this.trainer.destroy();
  }
}

async function corpusText(config: RunConfig, opts: RunOptions): Promise<string> {
  if (opts.text !== undefined) return opts.text;
  const corpus = findCorpus(config.data.corpus);
  if (!corpus) throw new ConfigError(`data.corpus '${config.data.corpus}' is not a built-in corpus; drop a .txt file or pick a built-in one`, 'data.corpus');
  return corpus.load();
}

/** Validates the config, loads the corpus, builds the tokenizer and the model, and initialises the weights. */
export async function createRun(input: unknown, opts: RunOptions = {}): Promise<Run> {
  const config = resolveRunConfig(input);
  const gpu = opts.gpu ?? (await requestGpu());
  const text = await corpusText(config, opts);
  const tokenizer =
    opts.tokenizer ?? buildTokenizer(config.data.tokenizer === 'bpe' ? { kind: 'bpe', vocabSize: config.data.bpeVocabSize } : { kind: 'byte' }, text);
  // The vocabulary is the tokenizer's: the model's vocabSize follows it.
  config.model.vocabSize = tokenizer.vocabSize;
  const dataset = makeDataset(text, tokenizer, config.data.validationFraction);
  // Refused before any buffer exists when it cannot fit; an allocation that still fails is reported as out of memory.
  checkFitsDevice(config, gpu.limits, opts.memoryBudgetBytes);
  let made: Promise<Trainer> | undefined;
  try {
    await gpu.scoped(() => {
      made = Trainer.create(gpu, config, dataset); // allocates synchronously, inside the scopes
    });
  } catch (e) {
    made?.then((t) => t.destroy(), () => undefined);
    throw e;
  }
  const trainer = await made!;
  return new Run(gpu, config, tokenizer, dataset, trainer);
}

/** Rebuilds a run from checkpoint bytes; training continues from the saved step with the same data order. */
export async function loadRun(bytes: Uint8Array, opts: RunOptions = {}): Promise<Run> {
  const ckpt = decodeCheckpoint(bytes, { expectConfig: (c) => void resolveRunConfig(c) });
  const tokenizer = tokenizerFromJSON(ckpt.tokenizer);
  const run = await createRun(ckpt.config, { ...opts, tokenizer });
  const layout = run.trainer.model.layout;
  const flat = (m: Map<string, { shape: number[]; data: Float32Array }>, what: string) => {
    const out = new Float32Array(layout.totalLength);
    for (const s of layout.specs) {
      const t = m.get(s.name);
      if (!t) throw new ConfigError(`checkpoint has no ${what} '${s.name}' for this model`, s.name);
      if (t.data.length !== s.length) throw new ConfigError(`checkpoint ${what} '${s.name}' has ${t.data.length} values; the model needs ${s.length}`, s.name);
      out.set(t.data, s.offset);
    }
    return out;
  };
  if (!ckpt.optimizer) throw new ConfigError('checkpoint has no optimizer state, so training cannot resume exactly', 'optimizer');
  run.trainer.loadState({
    params: flat(ckpt.params, 'parameter'),
    m: flat(ckpt.optimizer.m, 'AdamW first moment'),
    v: flat(ckpt.optimizer.v, 'AdamW second moment'),
    step: ckpt.step,
    batcher: ckpt.rng as Parameters<Trainer['loadState']>[0]['batcher'],
  });
  return run;
}
