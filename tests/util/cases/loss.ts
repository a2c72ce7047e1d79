/** Cross-entropy inputs shared by tests/gpu/loss.test.ts and regress/checks/heads.ts. */
import { IGNORE_INDEX } from '../../../src/kernels/loss';
import { randint, randn, randu } from '../random';

export type CrossEntropyMode = 'hard' | 'hard+weights' | 'soft' | 'soft+weights';

export interface CrossEntropyInputs {
  N: number;
  V: number;
  logits: Float32Array<ArrayBuffer>;
  /** Hard targets, one ignored row (IGNORE_INDEX) when N >= 3. */
  targets?: Uint32Array<ArrayBuffer>;
  /** Soft targets: peaky distributions, like a teacher's. */
  soft?: Float32Array<ArrayBuffer>;
  /** Per-row weights, of both signs. */
  weights?: Float32Array<ArrayBuffer>;
}

/** One row, a tiny vocabulary, rows of 7, a vocabulary off the workgroup size, a wide row. */
export const CROSS_ENTROPY_SHAPES: readonly (readonly [number, number])[] = [[1, 1], [1, 7], [3, 7], [5, 257], [2, 1000]];

export function crossEntropyInputs(mode: CrossEntropyMode, N: number, V: number, seed: number, scale = 3): CrossEntropyInputs {
  const c: CrossEntropyInputs = { N, V, logits: randn(N * V, seed, scale) };
  if (mode.startsWith('hard')) {
    c.targets = randint(N, seed + 1, V);
    if (N >= 3) c.targets[N - 2] = IGNORE_INDEX;
  } else {
    const u = randu(N * V, seed + 1);
    c.soft = new Float32Array(N * V);
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let j = 0; j < V; j++) s += u[i * V + j] ** 4;
      for (let j = 0; j < V; j++) c.soft[i * V + j] = u[i * V + j] ** 4 / s;
    }
  }
  if (mode.endsWith('weights')) c.weights = randn(N, seed + 2);
  return c;
}
