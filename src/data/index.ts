/** The data layer: tokenizers, corpora, batching, seeded randomness. Pure TypeScript, no GPU, browser and Node. */
export * from './tokenizer';
export * from './bpe';
export * from './bpe-train';
export * from './corpora';
export * from './batches';
export * from '../lib/rng';
