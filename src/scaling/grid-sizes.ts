/**
 * The size ladder of a scaling sweep and the learning-rate rule between its sizes.
 *
 * Size rule: width and depth grow together. Widths form a geometric ladder, C_i = smallest · growth^i rounded to
 * a multiple of a fixed head size (so the head count grows with the width), and each width gets the fewest layers
 * that keep the aspect ratio C/L at most maxAspect: L = ⌈C / maxAspect⌉. For every width ≥ maxAspect/2 the aspect
 * ratio then stays within [maxAspect/2, maxAspect] (32–64 by default), and non-embedding parameters grow about as
 * C³, roughly 12·L·C².
 */
import { countParams, flopsPerToken, resolveModelConfig, type ModelConfig } from '../model/config';
import { ConfigError, hasOwn, resolve, type Resolved, type Schema } from '../model/validate';
import { FIRST_MERGE_ID } from '../data/specials';

export const sizeSchema = {
  count: { type: 'int', default: 4, min: 4, max: 16, doc: 'model sizes in the ladder; a scaling fit needs at least 4' },
  smallest: { type: 'int', default: 32, min: 2, max: 8192, doc: 'width (C) of the smallest model, a multiple of headSize' },
  growth: { type: 'number', default: 1.5, min: 1.01, max: 4, doc: 'width ratio between neighbouring sizes (before rounding to the head size)' },
  headSize: { type: 'int', default: 16, min: 2, max: 256, doc: 'fixed head size (C/NH) of every size; even, for RoPE' },
  maxAspect: { type: 'int', default: 64, min: 1, max: 8192, doc: 'largest width per layer (C/L); depth is ⌈C / maxAspect⌉' },
  contextLength: { type: 'int', default: 64, min: 1, max: 8192, doc: 'tokens per sequence (T), the same at every size' },
  vocabSize: {
    type: 'int', default: FIRST_MERGE_ID, min: 2, max: 262_144,
    doc: `the tokenizer's vocabulary (${FIRST_MERGE_ID} for the byte tokenizer); the run derives it, the plan needs it to count FLOPs`,
  },
} as const satisfies Schema;

export type SizeRule = Resolved<typeof sizeSchema>;

/** One size of the ladder: its resolved model config and what the sweep counts of it. */
export interface Size {
  index: number;
  model: ModelConfig;
  /** countParams().total minus the token embedding (and an untied head): the N of the size axis. */
  nonEmbedding: number;
  flopsPerToken: number;
}

/**
 * How a recipe sizes its MLP at each width: 'dense' keeps the model's default (4·C for GELU, 8/3·C for SwiGLU, or
 * recipe.model.mlpHidden), so each expert of an MoE is as wide as the dense MLP (equal active parameters at top-1);
 * 'split' gives each of the E experts 1/E of the dense default (equal total parameters, less the router).
 */
export type MlpWidth = 'dense' | 'split';
export const MLP_WIDTHS: readonly MlpWidth[] = ['dense', 'split'];

/** Fields the size rule sets; a recipe stating one would silently lose it, so it is refused instead. */
export const LADDER_MODEL_FIELDS = ['nLayer', 'nEmbd', 'nHead', 'contextLength', 'vocabSize'] as const;

/** Parameters outside the token embedding and an untied output head (Kaplan et al.'s N). */
export function nonEmbeddingParams(c: ModelConfig): number {
  const p = countParams(c);
  return p.total - p.embedding - (c.tiedEmbeddings ? 0 : c.vocabSize * c.nEmbd);
}

/**
 * The ladder of `rule.count` sizes (see the size rule above), each resolved with the recipe's model delta by the
 * model's own resolver: a size it refuses is refused here with its message, prefixed by which size it is.
 */
export function sizeLadder(ruleInput: unknown, recipeModel: Record<string, unknown> = {}, path = 'grid.sizes', mlpWidth: MlpWidth = 'dense'): Size[] {
  const rule = resolve(sizeSchema, ruleInput, path);
  for (const k of LADDER_MODEL_FIELDS) {
    if (hasOwn(recipeModel, k)) throw new ConfigError(`recipe.model.${k} is set by the grid's size rule: remove it from the recipe`, `recipe.model.${k}`);
  }
  if (mlpWidth === 'split') {
    if (hasOwn(recipeModel, 'mlpHidden')) throw new ConfigError("recipe.mlpWidth 'split' sets the experts' width per size: remove recipe.model.mlpHidden", 'recipe.mlpWidth');
    // Split only where every block is MoE: a dense block sharing mlpHidden would shrink too.
    if (recipeModel.moeEvery !== 1) throw new ConfigError("recipe.mlpWidth 'split' divides each block's MLP among its experts: it needs recipe.model.moeEvery 1 (every block MoE)", 'recipe.mlpWidth');
  }
  const hs = rule.headSize;
  if (hs % 2 !== 0) throw new ConfigError(`${path}.headSize ${hs} must be even for RoPE`, `${path}.headSize`);
  if (rule.smallest % hs !== 0) {
    throw new ConfigError(`${path}.smallest ${rule.smallest} is not a multiple of ${path}.headSize ${hs}: every width must be whole heads`, `${path}.smallest`);
  }
  const sizes: Size[] = [];
  for (let i = 0; i < rule.count; i++) {
    const nEmbd = hs * Math.max(1, Math.round((rule.smallest * rule.growth ** i) / hs));
    const prev = sizes[i - 1];
    if (prev && nEmbd <= prev.model.nEmbd) {
      throw new ConfigError(
        `${path}.growth ${rule.growth} repeats width ${nEmbd} at sizes ${i - 1} and ${i} once rounded to the head size ${hs}: raise the growth or lower the head size`,
        `${path}.growth`,
      );
    }
    const nLayer = Math.ceil(nEmbd / rule.maxAspect);
    const input = { ...recipeModel, nLayer, nEmbd, nHead: nEmbd / hs, contextLength: rule.contextLength, vocabSize: rule.vocabSize };
    let model: ModelConfig;
    try {
      model = resolveModelConfig(input, 'model');
      if (mlpWidth === 'split') model = resolveModelConfig({ ...input, mlpHidden: Math.max(1, Math.round(model.mlpHidden / model.moeExperts)) }, 'model');
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      throw new ConfigError(`size ${i} (${nLayer} layers, width ${nEmbd}): ${e.message}`, e.field);
    }
    sizes.push({ index: i, model, nonEmbedding: nonEmbeddingParams(model), flopsPerToken: flopsPerToken(model) });
  }
  return sizes;
}

/** A learning rate chosen by the search at one size (N = non-embedding parameters). */
export interface TunedLr {
  nonEmbedding: number;
  lr: number;
  /** The search picked its lowest or highest rate: the best may lie outside the searched range. */
  atEdge?: boolean;
}

/**
 * The learning rate for each size in `sizes` (non-embedding parameter counts): straight-line interpolation of
 * log(lr) against log(N) between the tuned sizes (the search's smallest and largest, or more). Sizes outside the
 * tuned range are refused, not extrapolated: the search must bracket the grid.
 */
export function interpolateLr(sizes: readonly number[], tuned: readonly TunedLr[]): number[] {
  if (tuned.length < 2) throw new ConfigError(`tuned learning rates: ${tuned.length} given, need the smallest and the largest size's`, 'tunedLr');
  const pts = [...tuned].sort((a, b) => a.nonEmbedding - b.nonEmbedding);
  pts.forEach((p, i) => {
    if (!(p.nonEmbedding > 0 && Number.isFinite(p.nonEmbedding) && p.lr > 0 && Number.isFinite(p.lr))) {
      throw new ConfigError(`tuned learning rate ${i} (N ${p.nonEmbedding}, lr ${p.lr}) must have a positive finite size and rate`, `tunedLr[${i}]`);
    }
    if (i > 0 && p.nonEmbedding === pts[i - 1]!.nonEmbedding) {
      throw new ConfigError(`two tuned learning rates are at the same size N ${p.nonEmbedding}: give one per size`, `tunedLr[${i}]`);
    }
  });
  const lo = pts[0]!.nonEmbedding;
  const hi = pts[pts.length - 1]!.nonEmbedding;
  return sizes.map((n, s) => {
    if (!(n >= lo && n <= hi)) {
      throw new ConfigError(`size ${s} (N ${n}) is outside the tuned range ${lo}–${hi}: search the learning rate at the grid's smallest and largest sizes`, `sizes[${s}]`);
    }
    let j = 1;
    while (pts[j]!.nonEmbedding < n) j++;
    const a = pts[j - 1]!;
    const b = pts[j]!;
    const t = (Math.log(n) - Math.log(a.nonEmbedding)) / (Math.log(b.nonEmbedding) - Math.log(a.nonEmbedding));
    return Math.exp(Math.log(a.lr) + t * (Math.log(b.lr) - Math.log(a.lr)));
  });
}

/** The search's pick at one size: the lowest final loss; `atEdge` when that is the grid's first or last value. */
export function pickLr(results: readonly { lr: number; loss: number }[]): { lr: number; loss: number; atEdge: boolean } {
  if (results.length < 3) throw new ConfigError(`learning-rate search: ${results.length} results, need one per searched value (at least 3)`, 'lrSearch');
  const byLr = [...results].sort((a, b) => a.lr - b.lr);
  let best = 0;
  byLr.forEach((r, i) => {
    if (Number.isFinite(r.loss) && !(r.loss >= byLr[best]!.loss)) best = i; // a diverged (NaN) run never wins
  });
  if (!Number.isFinite(byLr[best]!.loss)) throw new ConfigError('learning-rate search: every run diverged (no finite loss): search lower rates', 'lrSearch');
  return { ...byLr[best]!, atEdge: best === 0 || best === byLr.length - 1 };
}
