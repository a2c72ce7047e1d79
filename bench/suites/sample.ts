import { Sampler, type SamplingSettings } from '../../src/kernels/sample';
import type { BenchCase, Suite } from '../types';
import { randn } from '../../tests/util/random';

/**
 * Next-token sampling: S rows of V logits -> S tokens (and, ours, their log-probabilities).
 *
 * Bytes: the logits once, 4·S·V. Ours reads them twice without filters (max/sum-exp, then the inverse CDF);
 * with top-k and top-p each filter's bisection rereads the row 16-17 times from L2.
 *
 * Peer: tf.multinomial(logits / T, 1), i.e. a softmax kernel plus TF.js's multinomial kernel, at the same
 * temperature. TF.js has no top-k or top-p sampling op, so the filtered rows have no peer.
 */
const T = 0.8;

function sampleCase(S: number, V: number, settings: SamplingSettings, withPeer: boolean, quick: boolean): BenchCase {
  const logits = randn(S * V, 3, 2);
  const filters = [settings.topK ? `top-k ${settings.topK}` : '', settings.topP !== undefined && settings.topP < 1 ? `top-p ${settings.topP}` : '']
    .filter(Boolean)
    .join(' ');
  const c: BenchCase = {
    op: 'sample',
    shape: `S=${S} V=${V} T=${settings.temperature}${filters ? ` ${filters}` : ''}`,
    flops: 0,
    bytes: 4 * S * V,
    quick,
    ours(gpu) {
      const k = new Sampler(gpu, { rows: S, vocab: V }, settings);
      const b = [gpu.upload(logits, 'logits'), gpu.createBuffer(4 * S, 'tokens'), gpu.createBuffer(4 * S, 'logprobs')];
      return { record: (pass) => k.encode(pass, b[0], b[1], b[2]), dispose: () => (b.forEach((x) => gpu.release(x)), k.destroy()) };
    },
  };
  if (withPeer) {
    c.peer = (tf) => {
      const z = tf.tensor2d(logits, [S, V]);
      return { run: () => tf.tidy(() => tf.multinomial(tf.div<typeof z>(z, T), 1, 1234)), dispose: () => z.dispose() };
    };
  }
  return c;
}

const plain: SamplingSettings = { temperature: T, seed: 1 };
const filtered: SamplingSettings = { temperature: T, topK: 50, topP: 0.9, seed: 1 };
const suite: Suite = () => [
  sampleCase(64, 256, plain, true, true),
  sampleCase(64, 256, filtered, false, true),
  sampleCase(256, 8192, plain, true, false),
  sampleCase(256, 8192, filtered, false, false),
  sampleCase(64, 50304, plain, true, false),
];
export default suite;
