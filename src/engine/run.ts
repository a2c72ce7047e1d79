/**
 * The library API, the same in the page's worker, in the regression runner and in tests:
 *
 *   const run = await createRun({ model: { nLayer: 2 }, train: { steps: 200 } });
 *   for await (const p of run.train()) if (p.kind === 'progress') console.log(p.step, p.steps.at(-1)?.loss);
 *   console.log(await run.sample('Once upon a time', { maxTokens: 64, temperature: 0.8 }));
 *   const bytes = await run.save();              // a safetensors checkpoint
 *   const again = await loadRun(bytes);          // continues exactly where it stopped
 */
import { checkWindows, makeDataset, unigramEntropy, type Dataset } from '../data/batches';
import { findCorpus } from '../data/corpora';
import { bpeTrainingNotices, buildTokenizer, FIRST_MERGE_ID, tokenizerFromJSON, TokenStreamDecoder, type BpeTrainPhase, type Tokenizer } from '../data/tokenizer';
import { requestGpu, type Gpu } from '../gpu/device';
import { LimitExceededError } from '../gpu/errors';
import { tuneKernels } from '../kernels/autotune';
import { BatchSampler, type StreamOptions } from '../eval/batch-sample';
import { countParams, flopsPerToken } from '../model/config';
import { buildLayout } from '../model/layout';
import { checkFitsDevice, defaultMemoryBudget, estimateTrainingMemory } from '../model/memory';
import { ConfigError } from '../model/validate';
import { CheckpointError, decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../train/checkpoint';
import { resolveRunConfig, settleVocabSize, type RunConfig } from '../train/config';
import { trainerStateFromCheckpoint } from '../train/resume';
import { Trainer, windowStart, type EvalResult, type Progress } from '../train/trainer';

export interface RunOptions {
  /** A device to use (default: request one). */
  gpu?: Gpu;
  /** Training text instead of the configured corpus (a dropped file). */
  text?: string;
  /** A tokenizer to reuse (from a checkpoint) instead of building one. */
  tokenizer?: Tokenizer;
  /** A corpus already tokenized for this data config (tokenizeCorpus): runs that share it skip reading and encoding. */
  corpus?: TokenizedCorpus;
  /**
   * Refuse runs whose estimated training memory exceeds this (bytes); WebGPU does not tell the device's size.
   * Default: defaultMemoryBudget(the device's limits), at most 2 GiB (src/model/memory.ts says why).
   */
  memoryBudgetBytes?: number;
  /** Called while a run is built: training the BPE tokenizer, encoding the corpus, building the model. */
  onProgress?: (p: CreateProgress) => void;
}

/**
 * A step of building a run, for a progress bar: `done` of `total` units of `phase`. Training a BPE tokenizer has two
 * parts, each counted from 0 in its own units: `counting` its sample's characters, then `merging` (merges learned).
 */
export interface CreateProgress { phase: 'tokenizer' | 'encoding' | 'building' | 'compiling'; done: number; total: number; part?: BpeTrainPhase }

export interface RunSummary {
  params: number;
  activeParams: number;
  flopsPerToken: number;
  trainTokens: number;
  validationTokens: number;
  /** Unigram entropy of the training tokens (nats): the loss of a model that knows only token frequencies. */
  unigramEntropy: number;
  /** What the user should know about how the run was built (a BPE learned from a sample, a smaller vocabulary). */
  notices: string[];
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
    notices: string[] = [],
  ) {
    const counts = countParams(config.model);
    this.summary = {
      params: counts.total,
      activeParams: counts.activePerToken,
      flopsPerToken: flopsPerToken(config.model),
      trainTokens: dataset.train.length,
      validationTokens: dataset.validation.length,
      unigramEntropy: unigramEntropy(dataset.train, tokenizer.vocabSize),
      notices,
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

  /**
   * What sampling may allocate beside this run: the memory budget (the caller's, else the device's default) less the
   * training buffers, which stay allocated while the run samples or sweeps.
   */
  decodingBudget(memoryBudgetBytes?: number): number {
    const total = memoryBudgetBytes ?? defaultMemoryBudget(this.gpu.limits);
    return Math.max(0, total - estimateTrainingMemory(this.config).totalBytes);
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

/** What a run is built from, all checked on the CPU: nothing on the GPU exists yet. */
interface PreparedRun {
  gpu: Gpu;
  config: RunConfig;
  tokenizer: Tokenizer;
  dataset: Dataset;
  notices: string[];
}

/** The most ids the run's tokenizer can have, known before it is built (a BPE stops at data.bpeVocabSize). */
function vocabularyBound(config: RunConfig, tokenizer: Tokenizer | undefined): number {
  if (tokenizer) return tokenizer.vocabSize;
  return config.data.tokenizer === 'bpe' ? config.data.bpeVocabSize : FIRST_MERGE_ID; // the byte tokenizer's size
}

/** A corpus tokenized once for every run with the same data config (a scaling study's runs): same tokens, same split. */
export interface TokenizedCorpus {
  data: RunConfig['data'];
  tokenizer: Tokenizer;
  dataset: Dataset;
  notices: string[];
}

function runTokenizer(config: RunConfig, text: string, opts: RunOptions): Tokenizer {
  const progress = opts.onProgress;
  return (
    opts.tokenizer ??
    buildTokenizer(
      config.data.tokenizer === 'bpe' ? { kind: 'bpe', vocabSize: config.data.bpeVocabSize } : { kind: 'byte' },
      text,
      progress && ((done, total, part) => progress({ phase: 'tokenizer', part, done, total })),
    )
  );
}

function encodeCorpus(config: RunConfig, text: string, tokenizer: Tokenizer, opts: RunOptions): Omit<TokenizedCorpus, 'data' | 'tokenizer'> {
  const progress = opts.onProgress;
  const onEncoded = progress && ((done: number, total: number) => progress({ phase: 'encoding', done, total }));
  const dataset = makeDataset(text, tokenizer, config.data.validationFraction, onEncoded);
  const notices = opts.tokenizer || config.data.tokenizer !== 'bpe' ? [] : bpeTrainingNotices(text.length, config.data.bpeVocabSize, tokenizer.vocabSize);
  return { dataset, notices };
}

/** Tokenizes the corpus (or `text`) of `input`'s data config once, as a run would, for createRun's `corpus` option. */
export async function tokenizeCorpus(input: unknown, opts: Pick<RunOptions, 'text' | 'onProgress'> = {}): Promise<TokenizedCorpus> {
  const config = resolveRunConfig(input);
  const text = await corpusText(config, opts);
  const tokenizer = runTokenizer(config, text, opts);
  return { data: config.data, tokenizer, ...encodeCorpus(config, text, tokenizer, opts) };
}

/**
 * Everything before the first GPU buffer, cheapest refusal first: the config; whether the run fits the device (with
 * the vocabulary's bound, before the corpus is read or a tokenizer trained); the corpus, the tokenizer, the fit again
 * with the real vocabulary; the tokens, and whether they hold the windows training and evaluation will draw.
 */
async function prepareRun(input: unknown, opts: RunOptions): Promise<PreparedRun> {
  const config = resolveRunConfig(input);
  const given = opts.corpus;
  if (given && JSON.stringify(given.data) !== JSON.stringify(config.data)) {
    throw new ConfigError('data: the tokenized corpus given was made for another data config; tokenize this one (tokenizeCorpus)', 'data');
  }
  const known = given?.tokenizer ?? opts.tokenizer;
  // A stated model.vocabSize that the tokenizer cannot have is refused now when the vocabulary is known exactly.
  if (known || config.data.tokenizer === 'byte') settleVocabSize(input, config, vocabularyBound(config, known));
  const gpu = opts.gpu ?? (await tunedGpu());
  const budget = opts.memoryBudgetBytes ?? defaultMemoryBudget(gpu.limits);
  checkFitsDevice({ ...config, model: { ...config.model, vocabSize: vocabularyBound(config, known) } }, gpu.limits, budget);
  const text = given ? '' : await corpusText(config, opts);
  const tokenizer = given?.tokenizer ?? runTokenizer(config, text, opts);
  settleVocabSize(input, config, tokenizer.vocabSize); // the vocabulary is the tokenizer's (a derived field)
  checkFitsDevice(config, gpu.limits, budget);
  const { dataset, notices } = given ?? encodeCorpus(config, text, tokenizer, opts);
  checkWindows(dataset, {
    batchSize: config.train.batchSize,
    seqLen: config.model.contextLength,
    startAt: windowStart(config),
    evaluate: config.train.evalEvery > 0,
    validationFraction: config.data.validationFraction,
  });
  return { gpu, config, tokenizer, dataset, notices };
}

/** Allocates the model and trainer; on any failure, releases what was made. */
async function buildRun({ gpu, config, tokenizer, dataset, notices }: PreparedRun, progress?: (p: CreateProgress) => void): Promise<Run> {
  progress?.({ phase: 'building', done: 0, total: 1 });
  let made: Promise<Trainer> | undefined;
  try {
    await gpu.scoped(() => {
      // allocates synchronously, inside the scopes; the compiles it starts report as they finish
      made = Trainer.create(gpu, config, dataset, progress && ((done, total) => progress({ phase: 'compiling', done, total })));
      made.catch(() => undefined); // handled below, once the scopes are popped: not an unhandled rejection meanwhile
    });
  } catch (e) {
    made?.then((t) => t.destroy(), () => undefined);
    throw e;
  }
  const trainer = await made!; // a Trainer that fails to build releases its own buffers
  let run: Run;
  try {
    run = new Run(gpu, config, tokenizer, dataset, trainer, notices);
  } catch (e) {
    trainer.destroy();
    throw e;
  }
  progress?.({ phase: 'building', done: 1, total: 1 });
  return run;
}

/** A device of its own for a run given none (tools, not the engine): with its kernel choices measured, as the engine does. */
async function tunedGpu(): Promise<Gpu> {
  const gpu = await requestGpu();
  await tuneKernels(gpu);
  return gpu;
}

/**
 * Validates the config, loads the corpus, builds the tokenizer and the model, and initialises the weights. A run
 * that cannot fit the device or its data is refused before anything is allocated (LimitExceededError, ConfigError).
 */
export async function createRun(input: unknown, opts: RunOptions = {}): Promise<Run> {
  return buildRun(await prepareRun(input, opts), opts.onProgress);
}

/** decodeCheckpoint, refusing a stored config that is invalid or too big for this device before any tensor is converted. */
function decodeFitting(bytes: Uint8Array, gpu: Gpu, budget: number): Checkpoint {
  let tooBig: LimitExceededError | null = null;
  const expectConfig = (c: unknown) => {
    try {
      checkFitsDevice(resolveRunConfig(c), gpu.limits, budget);
    } catch (e) {
      if (e instanceof LimitExceededError) tooBig = new LimitExceededError(`this checkpoint's run does not fit: ${e.message}`, e.field);
      throw e;
    }
  };
  try {
    return decodeCheckpoint(bytes, { expectConfig });
  } catch (e) {
    throw tooBig ?? e; // decodeCheckpoint wraps errors it does not know as config-mismatch; keep this one's type
  }
}

/** The checkpoint's tokenizer, refused as a CheckpointError (the file's fault) naming the metadata field. */
function checkpointTokenizer(json: unknown): Tokenizer {
  try {
    return tokenizerFromJSON(json);
  } catch (e) {
    throw new CheckpointError('bad-metadata', `checkpoint tokenizer (metadata "tokenizer") is refused: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Rebuilds a run from checkpoint bytes; training continues from the saved step with the same data order. Every
 * tensor, moment and the data order are checked against the stored config before the GPU is touched
 * (trainerStateFromCheckpoint), and a failure after that releases the run.
 */
export async function loadRun(bytes: Uint8Array, opts: RunOptions = {}): Promise<Run> {
  const gpu = opts.gpu ?? (await tunedGpu());
  const memoryBudgetBytes = opts.memoryBudgetBytes ?? defaultMemoryBudget(gpu.limits);
  const ckpt = decodeFitting(bytes, gpu, memoryBudgetBytes);
  const tokenizer = checkpointTokenizer(ckpt.tokenizer);
  const prepared = await prepareRun(ckpt.config, { ...opts, gpu, memoryBudgetBytes, tokenizer });
  const state = trainerStateFromCheckpoint(ckpt, buildLayout(prepared.config.model));
  const run = await buildRun(prepared, opts.onProgress);
  try {
    run.trainer.loadState(state);
  } catch (e) {
    run.destroy();
    throw e;
  }
  return run;
}
