/**
 * From a decoded checkpoint to the trainer's state, checked against the model it will load into before anything
 * is allocated: every tensor of the layout present with exactly its shape (a transposed [8, 259] for [259, 8] is
 * refused, not loaded scrambled), no tensor the model lacks, finite weights and moments, no negative second moment,
 * the AdamW state present and a valid data order. Each refusal is a CheckpointError naming the tensor (and the
 * first bad index) and what to do.
 */
import { validateBatcherState, type BatcherState } from '../data/batches';
import type { ParamLayout } from '../model/layout';
import { CheckpointError, type Checkpoint, type ParamTensor } from './checkpoint';
import { show } from './safetensors';

/** What Trainer.loadState restores: flat (layout-ordered, padded) weights and moments, step, data order. */
export interface TrainerState {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  step: number;
  batcher: BatcherState;
}

const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Throws unless `tensors` holds exactly the layout's tensors, each with its shape. */
function checkTensors(tensors: Map<string, ParamTensor>, layout: ParamLayout, what: string): void {
  const unexpected = [...tensors.keys()].filter((name) => !layout.byName.has(name));
  if (unexpected.length) {
    const names = unexpected.slice(0, 3).map((n) => show(n, 40)).join(', ') + (unexpected.length > 3 ? `, and ${unexpected.length - 3} more` : '');
    throw new CheckpointError(
      'unexpected-tensor',
      `checkpoint ${what} ${names} ${unexpected.length === 1 ? 'is' : 'are'} not in the model its config describes; the file was saved by a different build or edited: load a checkpoint Spark Lab saved`,
    );
  }
  for (const spec of layout.specs) {
    const t = tensors.get(spec.name);
    if (!t) {
      throw new CheckpointError(
        'missing-tensor',
        `checkpoint has no ${what} ${show(spec.name)} ${shapeText(spec.shape)}, which the model its config describes needs; the file is incomplete or its config was edited: load a checkpoint Spark Lab saved`,
      );
    }
    if (!sameShape(t.shape, spec.shape)) {
      const transposed = sameShape([...t.shape].reverse(), spec.shape) ? ' (transposed)' : '';
      throw new CheckpointError('shape', `checkpoint ${what} ${show(spec.name)} has shape ${shapeText(t.shape)}${transposed}; the model its config describes needs ${shapeText(spec.shape)}`);
    }
  }
}

/** The layout's tensors laid into one flat array (padding zero), refusing non-finite (or, for `nonNegative`, negative) values. */
function flatten(tensors: Map<string, ParamTensor>, layout: ParamLayout, what: string, nonNegative = false): Float32Array {
  const out = new Float32Array(layout.totalLength);
  for (const spec of layout.specs) {
    const data = tensors.get(spec.name)!.data;
    for (let i = 0; i < data.length; i++) {
      const x = data[i];
      if (!Number.isFinite(x) || (nonNegative && x < 0)) {
        const why = Number.isFinite(x)
          ? 'AdamW second moments are never negative (its update would be NaN)'
          : 'a non-finite value makes every loss non-finite, so every step would be skipped';
        throw new CheckpointError('bad-values', `checkpoint ${what} ${show(spec.name)} holds ${x} at index ${i} (the first bad one of ${data.length}); ${why}: load another checkpoint`);
      }
    }
    out.set(data, spec.offset);
  }
  return out;
}

/** The trainer state in `ckpt`, for a model with this layout; throws CheckpointError on anything that does not fit. */
export function trainerStateFromCheckpoint(ckpt: Checkpoint, layout: ParamLayout): TrainerState {
  let batcher: BatcherState;
  try {
    batcher = validateBatcherState(ckpt.rng);
  } catch (e) {
    throw new CheckpointError('bad-metadata', `checkpoint rng (the data order) is invalid: ${(e as Error).message}`);
  }
  checkTensors(ckpt.params, layout, 'parameter');
  if (!ckpt.optimizer) {
    throw new CheckpointError('optimizer-mismatch', 'checkpoint has no AdamW state (optim.m.*, optim.v.*), so training cannot resume exactly: load a checkpoint Spark Lab saved');
  }
  checkTensors(ckpt.optimizer.m, layout, 'AdamW first moment');
  checkTensors(ckpt.optimizer.v, layout, 'AdamW second moment');
  return {
    params: flatten(ckpt.params, layout, 'parameter'),
    m: flatten(ckpt.optimizer.m, layout, 'AdamW first moment'),
    v: flatten(ckpt.optimizer.v, layout, 'AdamW second moment', true),
    step: ckpt.step,
    batcher,
  };
}
