// tf.valueAndGrad needs the gradient registry, which the ESM entry of tfjs-core leaves out.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { CrossEntropyForward, FusedCrossEntropy } from '../../src/kernels/loss';
import type { BenchCase, Suite } from '../types';
import { randint, randn } from '../../tests/util/random';

/**
 * Softmax cross-entropy over the vocabulary with hard targets, mean over N rows.
 *
 * Bytes (the fewest the op can move): fused forward + backward reads the logits once and writes dlogits once,
 * 8·N·V bytes (targets and losses are noise). Ours reads the logits twice (online max/sum-exp, then the
 * gradient pass), so at most 12·N·V actually move; the second read often hits L2. Forward only: 4·N·V.
 *
 * Peer: tf.valueAndGrad of tf.losses.softmaxCrossEntropy(oneHot, logits) (mean reduction), which runs
 * logSumExp, sub, mul, sum, the weighted-mean reduction and a custom gradient (exp, sub, mul) as separate
 * kernels, and needs the (N, V) one-hot labels as an input tensor. The forward row times the loss alone.
 */
function crossEntropyCase(N: number, V: number, backward: boolean, quick: boolean): BenchCase {
  const logits = randn(N * V, 1, 2);
  const targets = randint(N, 2, V);
  return {
    op: 'loss',
    shape: `${backward ? 'fused CE fwd+bwd' : 'CE forward'} N=${N} V=${V}`,
    flops: 0,
    bytes: (backward ? 8 : 4) * N * V,
    quick,
    ours(gpu) {
      const b = {
        logits: gpu.upload(logits, 'logits'),
        targets: gpu.upload(targets, 'targets'),
        losses: gpu.createBuffer(4 * N, 'losses'),
        dlogits: gpu.createBuffer(backward ? 4 * N * V : 4, 'dlogits'),
      };
      const dispose = () => Object.values(b).forEach((x) => gpu.release(x));
      if (backward) {
        const k = new FusedCrossEntropy(gpu, { rows: N, vocab: V, targets: 'hard', gradScale: 1 / N });
        return { record: (pass) => k.encode(pass, b), dispose: () => (dispose(), k.destroy()) };
      }
      const k = new CrossEntropyForward(gpu, { rows: N, vocab: V, targets: 'hard' });
      return { record: (pass) => k.encode(pass, { logits: b.logits, targets: b.targets, losses: b.losses }), dispose: () => (dispose(), k.destroy()) };
    },
    peer(tf) {
      const z = tf.tensor2d(logits, [N, V]);
      const labels = tf.tensor1d(Int32Array.from(targets), 'int32');
      const oneHot = tf.oneHot(labels, V);
      const loss = (x: typeof z) => tf.losses.softmaxCrossEntropy(oneHot, x);
      const valueAndGrad = tf.valueAndGrad(loss);
      return {
        run: () => {
          if (!backward) return loss(z);
          const { value, grad } = valueAndGrad(z);
          return [value, grad];
        },
        dispose: () => tf.dispose([z, labels, oneHot]),
      };
    },
  };
}

const suite: Suite = () => [
  crossEntropyCase(512, 256, true, true),
  crossEntropyCase(512, 256, false, true),
  crossEntropyCase(2048, 8192, true, false),
  crossEntropyCase(2048, 8192, false, false),
  crossEntropyCase(512, 50304, true, false),
];
export default suite;
