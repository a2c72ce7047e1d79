import { AdamW, PARAM_ALIGN, type AdamWHyper, type ParamSegment } from '../../src/kernels/adamw';
import { SegmentNorms } from '../../src/kernels/reduce';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import type { BenchCase, Suite, Tf } from '../types';
import { randn } from '../../tests/util/random';

/** What Optimizer.applyGradients takes (tfjs-core does not export the type from its index). */
interface NamedTensor {
  name: string;
  tensor: Tensor;
}

/**
 * AdamW over ~n parameters split like a small GPT (an embedding, then per layer 4 matrices with decay and
 * 4 gain/bias vectors without), every tensor at a 64-float boundary of one flat buffer.
 *
 * Bytes (the fewest an optimizer step can move): read p, g, m, v and write p, m, v = 28 bytes per parameter;
 * with clipping, the norm² reads g once more (32 bytes). Our 4-byte-per-64-floats decay table is not counted.
 *
 * Peer: tf.train.adam(lr, β1, β2, eps).applyGradients over one tf.Variable per tensor. TF.js's Adam has no
 * decoupled weight decay, so the peer first does p.assign(p·(1 − lr·λ)) on the decayed tensors with tfjs ops
 * (the same math as ours: decay uses the old p). TF.js runs ~10 elementwise kernels per tensor; ours is one
 * dispatch. The clip row adds the gradient norms on both sides, per tensor and global, as the trainer needs them:
 * ours SegmentNorms (reduce, 3 dispatches) + the in-shader scale; the peer tf.sum(tf.square(g)) per tensor, addN,
 * sqrt, min(1, maxNorm/(norm + 1e-6)) and tf.mul on every gradient.
 */
const C = 512;
const LAYERS = 4;

function modelLike(n: number): { segments: ParamSegment[]; total: number } {
  const vectors = LAYERS * 4; // ln1.g, ln1.b, ln2.g, ln2.b per layer
  const matrix = Math.floor((n - vectors * C) / (4 * LAYERS + 2)); // 4 per layer, the embedding counts double
  const tensors: [string, number, boolean][] = [['wte', n - vectors * C - 4 * LAYERS * matrix, true]];
  for (let l = 0; l < LAYERS; l++) {
    for (const w of ['qkv', 'proj', 'fc', 'fcproj']) tensors.push([`h${l}.${w}`, matrix, true]);
    for (const v of ['ln1.g', 'ln1.b', 'ln2.g', 'ln2.b']) tensors.push([`h${l}.${v}`, C, false]);
  }
  const segments: ParamSegment[] = [];
  let offset = 0;
  for (const [name, length, decay] of tensors) {
    segments.push({ name, offset, length, decay });
    offset = Math.ceil((offset + length) / PARAM_ALIGN) * PARAM_ALIGN;
  }
  return { segments, total: offset };
}

const HYPER: AdamWHyper = { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxNorm: 1, step: 1 };

function adamwCase(n: number, clip: boolean, quick: boolean): BenchCase {
  const { segments, total } = modelLike(n);
  const params = randn(total, 1, 0.02);
  const grads = randn(total, 2, 1e-3);
  let peerId = 0;
  return {
    op: 'adamw',
    shape: `n=${n} (${segments.length} tensors)${clip ? ' +grad norms, clip' : ''}`,
    flops: 0,
    bytes: (clip ? 32 : 28) * n,
    quick,
    ours(gpu) {
      const opt = new AdamW(gpu, { n: total, segments, hyper: HYPER });
      const norms = new SegmentNorms(gpu, { n: total, segments });
      const b = {
        p: gpu.upload(params, 'params'),
        g: gpu.upload(grads, 'grads'),
        m: gpu.createBuffer(4 * total, 'm'),
        v: gpu.createBuffer(4 * total, 'v'),
        normSq: gpu.upload(new Float32Array([0.25]), 'norm²'), // finite: the step is applied
        status: gpu.createBuffer(8, 'status'),
        perTensor: gpu.createBuffer(4 * segments.length, 'norm² per tensor'),
      };
      return {
        record(pass) {
          if (clip) norms.encode(pass, b.g, b.perTensor, b.normSq);
          opt.encode(pass, b.p, b.g, b.m, b.v, b.normSq, b.status);
        },
        dispose() {
          Object.values(b).forEach((x) => gpu.release(x));
          opt.destroy();
          norms.destroy();
        },
      };
    },
    peer(tf: Tf) {
      const run = `adamw${peerId++}`;
      const vars: Variable[] = [];
      const gradList: NamedTensor[] = [];
      const decayed: Variable[] = [];
      for (const s of segments) {
        const v = tf.variable(tf.tensor1d(params.subarray(s.offset, s.offset + s.length)), true, `${run}/${s.name}`);
        vars.push(v);
        gradList.push({ name: v.name, tensor: tf.tensor1d(grads.subarray(s.offset, s.offset + s.length)) });
        if (s.decay) decayed.push(v);
      }
      const opt = tf.train.adam(HYPER.lr, HYPER.beta1, HYPER.beta2, HYPER.eps);
      const keep = 1 - HYPER.lr * HYPER.weightDecay;
      const last = vars[vars.length - 1];
      return {
        run() {
          tf.tidy(() => {
            for (const v of decayed) v.assign(tf.mul(v, keep));
          });
          if (clip) {
            const scale = tf.tidy(() => {
              const norm = tf.sqrt(tf.addN(gradList.map((g) => tf.sum(tf.square(g.tensor)))));
              return tf.minimum(1, tf.div(HYPER.maxNorm, tf.add(norm, 1e-6)));
            });
            const clipped = gradList.map((g): NamedTensor => ({ name: g.name, tensor: tf.mul(g.tensor, scale) }));
            opt.applyGradients(clipped);
            tf.dispose([scale, ...clipped.map((g) => g.tensor)]);
          } else {
            opt.applyGradients(gradList);
          }
          return tf.slice(last, 0, 1); // awaited by the harness: its data is ready once the whole step has run
        },
        dispose() {
          opt.dispose();
          tf.dispose([...vars, ...gradList.map((g) => g.tensor)]);
        },
      };
    },
  };
}

const suite: Suite = () => [adamwCase(1 << 20, false, true), adamwCase(10_000_000, false, false), adamwCase(10_000_000, true, false)];
export default suite;
