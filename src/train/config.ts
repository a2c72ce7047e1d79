import { FIRST_MERGE_ID } from '../data/specials';
import { modelSchema, resolveModelConfig, type ModelConfig } from '../model/config';
import { checkField, ConfigError, hasOwn, resolve, type FieldSpec, type Resolved, type Schema } from '../model/validate';

/** Everything about a run except the model: data, optimiser, schedule, loop. */
export const dataSchema = {
  corpus: { type: 'string', default: 'simple-stories', maxLength: 200, doc: "built-in corpus id, or 'user' for dropped text" },
  tokenizer: { type: 'enum', default: 'byte', values: ['byte', 'bpe'], doc: 'byte-level, or BPE trained on the corpus' },
  bpeVocabSize: { type: 'int', default: 512, min: 260, max: 65_536, doc: 'BPE vocabulary size' },
  validationFraction: { type: 'number', default: 0.1, min: 0.001, max: 0.5, doc: 'share of the corpus held out for evaluation' },
  windows: {
    type: 'enum', default: 'random', values: ['random', 'documents'],
    doc: 'training and validation windows start anywhere, or at a document start (its <|endoftext|>, as sampling prompts do)',
  },
} as const satisfies Schema;

export const optimSchema = {
  optimizer: {
    type: 'enum', default: 'adamw', values: ['adamw', 'muon'],
    doc: 'AdamW for every tensor, or Muon for the hidden matrices (attention, MLP, experts) and AdamW for the rest (embeddings, head, norms, biases, MoE router)',
  },
  muonLrScale: {
    type: 'number', default: 8, min: 0, max: 1000,
    doc: "Muon's learning rate as a multiple of the scheduled lr (one rate is searched for both groups); 8 × the default 3e-3 ≈ 0.024, Keller Jordan's Muon range (0.02–0.05) against AdamW's ~3e-3",
  },
  muonMomentum: { type: 'number', default: 0.95, min: 0, max: 0.999, doc: "Muon's momentum (Nesterov); its buffer is AdamW's first moment at Muon's tensors" },
  lr: { type: 'number', default: 3e-3, min: 0, max: 10, doc: 'peak learning rate' },
  beta1: { type: 'number', default: 0.9, min: 0, max: 0.999999, doc: 'AdamW beta1' },
  beta2: { type: 'number', default: 0.95, min: 0, max: 0.999999, doc: 'AdamW beta2' },
  eps: { type: 'number', default: 1e-8, min: 1e-12, max: 1, doc: 'AdamW epsilon' },
  weightDecay: { type: 'number', default: 0.1, min: 0, max: 10, doc: "decoupled weight decay on matrices: W −= lr·weightDecay·W each step, the same pull for AdamW's and Muon's matrices (Muon's λ is weightDecay/muonLrScale at its rate muonLrScale·lr)" },
  gradClip: {
    type: 'number', default: 1, min: 0, max: 1e6,
    doc: "global gradient-norm clip of AdamW's update; 0 turns it off (Muon's orthogonalised update does not scale with the gradient: never clipped)",
  },
  schedule: { type: 'enum', default: 'cosine', values: ['cosine', 'wsd', 'constant'], doc: 'learning-rate schedule after warmup' },
  warmupSteps: { type: 'int', default: 20, min: 0, max: 1e7, doc: 'linear warmup steps' },
  minLrFraction: { type: 'number', default: 0.1, min: 0, max: 1, doc: 'final learning rate as a fraction of the peak' },
  decayFraction: { type: 'number', default: 0.2, min: 0, max: 1, doc: 'warmup-stable-decay: share of steps in the final decay' },
} as const satisfies Schema;

export const trainSchema = {
  batchSize: { type: 'int', default: 8, min: 1, max: 4096, doc: 'sequences per micro-batch (B)' },
  gradAccum: { type: 'int', default: 1, min: 1, max: 1024, doc: 'micro-batches per optimisation step' },
  steps: { type: 'int', default: 500, min: 1, max: 1e7, doc: 'optimisation steps' },
  evalEvery: { type: 'int', default: 50, min: 0, max: 1e7, doc: 'steps between validation evaluations; 0 turns them off' },
  evalBatches: { type: 'int', default: 4, min: 1, max: 10_000, doc: 'validation micro-batches per evaluation' },
  autosaveEvery: { type: 'int', default: 100, min: 0, max: 1e7, doc: 'steps between autosaves; 0 turns them off' },
} as const satisfies Schema;

/** The run's seed, the one field outside the sections; the validator, the config form and shared links all use it. */
export const seedSpec = {
  type: 'int', default: 1337, min: 0, max: 2 ** 32 - 1, doc: 'fixes initialisation, data order and sampling',
} as const satisfies FieldSpec;

export interface RunConfig {
  model: ModelConfig;
  data: Resolved<typeof dataSchema>;
  optim: Resolved<typeof optimSchema>;
  train: Resolved<typeof trainSchema>;
  /** Fixes initialisation, data order and sampling. */
  seed: number;
}

const TOP_LEVEL = ['model', 'data', 'optim', 'train', 'seed'];

/** Validates a (partial) run config once, at the boundary, and fills in defaults. */
export function resolveRunConfig(input: unknown): RunConfig {
  if (input === undefined) input = {};
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new ConfigError('config must be an object', 'config');
  const obj = input as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (!TOP_LEVEL.includes(k)) throw new ConfigError(`config.${k} is not a known section; known: ${TOP_LEVEL.join(', ')}`, k);
  }
  const given = (k: string) => (hasOwn(obj, k) ? obj[k] : undefined);
  const seed = checkField(seedSpec, hasOwn(obj, 'seed') ? obj.seed : seedSpec.default, 'seed'); // null is refused, not defaulted
  const data = resolve(dataSchema, given('data'), 'data');
  const model = resolveModelConfig(given('model'), 'model');
  const optim = resolve(optimSchema, given('optim'), 'optim');
  const train = resolve(trainSchema, given('train'), 'train');
  return { model, data, optim, train, seed };
}

/**
 * Sets `config.model.vocabSize` to the tokenizer's: in a run it is derived, never chosen. A raw `input` (what was
 * given to resolveRunConfig) that states a different model.vocabSize is refused rather than silently overwritten;
 * stating the same value (as a saved run's config does) is accepted.
 */
export function settleVocabSize(input: unknown, config: RunConfig, tokenizerVocabSize: number): void {
  const vocabSize = checkField(modelSchema.vocabSize, tokenizerVocabSize, 'model.vocabSize');
  const section = typeof input === 'object' && input !== null && hasOwn(input, 'model') ? (input as Record<string, unknown>).model : undefined;
  const stated = typeof section === 'object' && section !== null && hasOwn(section, 'vocabSize') ? (section as Record<string, unknown>).vocabSize : undefined;
  if (stated !== undefined && stated !== vocabSize) {
    throw new ConfigError(
      `model.vocabSize ${JSON.stringify(stated)?.slice(0, 40)} does not match the tokenizer's ${vocabSize}: the vocabulary size is derived from ` +
        `the tokenizer (${FIRST_MERGE_ID} for the byte tokenizer, data.bpeVocabSize or fewer for BPE), so leave model.vocabSize out`,
      'model.vocabSize',
    );
  }
  config.model.vocabSize = vocabSize;
}
