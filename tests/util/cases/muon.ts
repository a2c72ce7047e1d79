/** NS5 cases (src/kernels/muon.ts) for tests/gpu/muon.test.ts and, later, the regression suite. */
import { NewtonSchulz5, type MatrixShape } from '../../../src/kernels/muon';
import { newtonSchulz5Ref } from '../../reference/muon';
import type { CaseBuilder } from '../kernel-test';
import { randn } from '../random';

/** Off every tile and vector width (7x13, 1x16), square and vec4 (64x64), tall (96x32: the transposed iteration). */
export const NS5_SHAPES: MatrixShape[] = [{ rows: 7, cols: 13 }, { rows: 64, cols: 64 }, { rows: 96, cols: 32 }, { rows: 1, cols: 16 }];

/**
 * out = NS5(g), recorded after a first encode on an all-NaN matrix: that one fills every scratch buffer (X, A, B,
 * the norm²) with NaN, so an element the second encode reads before writing shows in out. float32 against float64:
 * five steps of products over r and c terms, and the early steps amplify small singular values ~3x each.
 */
export function ns5Case(shape: MatrixShape): CaseBuilder {
  const { rows, cols } = shape;
  const n = rows * cols;
  return async (gpu, seed) => {
    const ns = await gpu.pipelines.build(() => new NewtonSchulz5(gpu, shape));
    const g = randn(n, seed);
    return {
      name: `newton-schulz ${rows}x${cols}`,
      inputs: { g, poison: new Float32Array(n).fill(NaN) },
      outputs: { out: n },
      encode(pass, b) {
        ns.encode(pass, b.poison, b.out);
        ns.encode(pass, b.g, b.out);
      },
      reference: () => ({ out: newtonSchulz5Ref(g, rows, cols) }),
      tol: 1e-4,
      destroy: () => ns.destroy(),
    };
  };
}
