/**
 * The config panel's presets. The tiny ones are sized for SwiftShader (software WebGPU, a few hundred ms per
 * step at B·T = 128, C = 32): the loss falls visibly within a minute. 'Bigger' is for a real GPU.
 */
import { countParams } from '../model/config';
import { estimateTrainingMemory } from '../model/memory';
import { resolveRunConfig } from '../train/config';
import type { PartialRunConfig } from './url-config';

export interface Preset {
  id: string;
  title: string;
  description: string;
  config: PartialRunConfig;
}

const TINY_TRAIN = { batchSize: 4, steps: 150, evalEvery: 25, evalBatches: 2, autosaveEvery: 50 };
const TINY_OPTIM = { lr: 0.01, warmupSteps: 10 };

export const PRESETS: readonly Preset[] = [
  {
    id: 'tiny-dense',
    title: 'Tiny dense',
    description: '2 layers, width 32, 32-token context on simple stories: the loss falls within a minute, even without a GPU.',
    config: { model: { contextLength: 32, nLayer: 2, nEmbd: 32, nHead: 2 }, optim: TINY_OPTIM, train: TINY_TRAIN },
  },
  {
    id: 'tiny-moe',
    title: 'Tiny MoE',
    description: 'The tiny model with a 4-expert, top-2 mixture-of-experts MLP in every block: watch the expert load.',
    config: {
      model: { contextLength: 32, nLayer: 2, nEmbd: 32, nHead: 2, moeEvery: 1, moeExperts: 4, moeTopK: 2 },
      optim: TINY_OPTIM,
      train: TINY_TRAIN,
    },
  },
  {
    id: 'tiny-reasoning',
    title: 'Tiny reasoning',
    description: 'Learns addition, multiplication and countdown with worked <think> steps; then sweep best-of-N and thinking budgets below.',
    config: {
      model: { contextLength: 48, nLayer: 2, nEmbd: 48, nHead: 4, nKvHead: 2 },
      // Windows start at a document start, as the sweep's prompts do: with random windows the same 2,600-step
      // addition run solved 6% of 3-digit sums at N=1, with document windows 64% (experiments/tts-sweep.test.ts).
      data: { corpus: 'reasoning', windows: 'documents' },
      optim: { lr: 6e-3, warmupSteps: 20 },
      train: { batchSize: 8, steps: 600, evalEvery: 50, evalBatches: 2, autosaveEvery: 100 },
    },
  },
  {
    id: 'bigger',
    title: 'Bigger',
    description: '6 layers, width 384, 256-token context on Moby Dick (about 11M parameters): for a real GPU.',
    config: {
      model: { contextLength: 256, nLayer: 6, nEmbd: 384, nHead: 6 },
      data: { corpus: 'moby-dick' },
      optim: { lr: 0.001, warmupSteps: 100 },
      train: { batchSize: 16, steps: 2000, evalEvery: 100, evalBatches: 8, autosaveEvery: 200 },
    },
  },
];

/** A run's size: parameters, and the training memory estimateTrainingMemory gives for it (bytes). */
export interface RunSize {
  params: number;
  memoryBytes: number;
}

/** The size of a (partial) config, or null when it is not valid. */
export function runSize(config: PartialRunConfig | object): RunSize | null {
  try {
    const c = resolveRunConfig(config);
    return { params: countParams(c.model).total, memoryBytes: estimateTrainingMemory(c).totalBytes };
  } catch {
    return null;
  }
}

/** A linked config this many times the largest preset, in parameters or memory, is confirmed before it trains. */
export const LINK_CONFIRM_FACTOR = 4;

let largest: RunSize | null = null;
/** The largest preset's parameters and memory (each the largest over the presets). */
export function largestPreset(): RunSize {
  largest ??= PRESETS.map((p) => runSize(p.config)!).reduce((a, b) => ({ params: Math.max(a.params, b.params), memoryBytes: Math.max(a.memoryBytes, b.memoryBytes) }));
  return largest;
}

/** True for a run far beyond every preset: a link asking for it gets a confirmation that states its size. */
export function farBeyondPresets(size: RunSize): boolean {
  const top = largestPreset();
  return size.params > LINK_CONFIRM_FACTOR * top.params || size.memoryBytes > LINK_CONFIRM_FACTOR * top.memoryBytes;
}
