/** RMSNorm, LayerNorm and column-sum cases shared by tests/gpu/norm.test.ts and regress/checks/pointwise.ts. */
import { ColumnSum, LayerNormBackward, LayerNormForward, RmsNormBackward, RmsNormForward, type RmsNormTiling } from '../../../src/kernels/norm';
import { columnSumRef, layernormBackwardRef, layernormRef, rmsnormBackwardRef, rmsnormRef } from '../../reference/norm';
import type { CaseBuilder } from '../kernel-test';
import { randn } from '../random';

export interface RmsNormCase {
  N: number;
  C: number;
  eps?: number;
  /** Row blocks of the backward's dweight pass. */
  groups?: number;
  tiling?: RmsNormTiling;
}

// Shapes cover: one row, one channel (dx is ~eps/(x² + eps) there, so a larger eps keeps it measurable), C not
// a multiple of 4 (scalar path), more row blocks than backward workgroups (groups: rows strided over the
// workgroups), and a row too wide for the one-invocation-per-row path. Each runs with the adapter's default
// tiling; RMSNORM_TILINGS then force the other row mappings (GPU: several invocations per row with barriers, rows
// combined in shared memory or not; CPU emulation: one invocation per row) so every path runs on any adapter.
export const RMSNORM_SHAPES: readonly RmsNormCase[] = [
  { N: 1, C: 1, eps: 0.5 },
  { N: 1, C: 4 },
  { N: 3, C: 7 },
  { N: 5, C: 257 },
  { N: 33, C: 64 },
  { N: 64, C: 256 },
  { N: 7, C: 1024 },
  { N: 2, C: 5000 },
  { N: 50, C: 64, groups: 3 },
  { N: 9, C: 1024, groups: 2 },
];
export const RMSNORM_TILINGS: readonly RmsNormCase[] = [
  { N: 1, C: 1, eps: 0.5, tiling: { tpr: 4, rpw: 64 } },
  { N: 3, C: 7, tiling: { tpr: 2, rpw: 128 } },
  { N: 5, C: 257, tiling: { tpr: 128, rpw: 2 } },
  { N: 20, C: 256, tiling: { tpr: 16, rpw: 16 } },
  { N: 20, C: 256, tiling: { tpr: 16, rpw: 16 }, groups: 1 },
  { N: 9, C: 512, tiling: { tpr: 32, rpw: 8 }, groups: 1 },
  { N: 3, C: 2048, tiling: { tpr: 256, rpw: 1 } },
  { N: 40, C: 64, tiling: { tpr: 1, rpw: 16 }, groups: 2 },
  { N: 6, C: 12, tiling: { tpr: 1, rpw: 1 } },
];

/** Forward (y, rstd) and backward (dx, dweight, the latter's reference taking the kernel's own rstd). */
export function rmsnormCase({ N, C, eps, groups, tiling }: RmsNormCase): CaseBuilder {
  return (gpu, seed) => {
    const x = randn(N * C, seed, 2);
    const w = randn(C, seed + 1);
    const dy = randn(N * C, seed + 2);
    const fwd = new RmsNormForward(gpu, { N, C, eps }, { tiling });
    const bwd = new RmsNormBackward(gpu, { N, C, eps }, { groups, tiling });
    return {
      name: `rmsnorm ${JSON.stringify({ N, C, eps, groups, tiling })}`,
      inputs: { x, w, dy },
      outputs: { y: N * C, rstd: N, dx: N * C, dweight: C },
      encode: (p, b) => {
        fwd.encode(p, b.x, b.w, b.y, b.rstd);
        bwd.encode(p, b.x, b.w, b.rstd, b.dy, b.dx, b.dweight);
      },
      reference: (got) => {
        const ref = rmsnormRef(x, w, N, C, eps);
        const back = rmsnormBackwardRef(x, w, got.rstd, dy, N, C);
        return { y: ref.y, rstd: ref.rstd, dx: back.dx, dweight: back.dweight };
      },
      destroy: () => {
        fwd.destroy();
        bwd.destroy();
      },
    };
  };
}

export interface LayerNormCase extends RmsNormCase {
  /**
   * Added to every x (a mean far from zero: the variance must not cancel). At 100 (std 2) a one-pass variance is
   * off by ~1e-4 in y and rstd; the two-pass kernel's float32 error stays under ~3.4e-6 (its sums simulated in
   * float32 over 299 seeds), inside the default bound.
   */
  shift?: number;
}

// Fewer than RMSNorm's (the tiling choice and the partial-row scheme are shared and covered there), but every
// path of LayerNorm's own entry points: one row and one channel; C off 4 (scalar) and off 64; odd N and rows past
// the end of a workgroup; more row blocks than workgroups; a mean far from zero (the variance must not cancel).
// Each runs with the adapter's default tiling; LAYERNORM_TILINGS force the others: shared-memory rows with
// combining (scalar and vec4, lanes past the row's end), without combining (rpw 2, a row too wide to combine), and
// one invocation per row. Workgroups stay small: SwiftShader pays for every barrier of every invocation.
export const LAYERNORM_SHAPES: readonly LayerNormCase[] = [
  { N: 1, C: 1, eps: 0.5 },
  { N: 5, C: 257 },
  { N: 50, C: 68, groups: 3 },
  { N: 9, C: 100, shift: 100 },
];
export const LAYERNORM_TILINGS: readonly LayerNormCase[] = [
  { N: 5, C: 37, tiling: { tpr: 8, rpw: 2 } },
  { N: 21, C: 64, tiling: { tpr: 4, rpw: 8 }, groups: 1 },
  { N: 3, C: 2052, tiling: { tpr: 32, rpw: 2 } },
  { N: 9, C: 100, tiling: { tpr: 8, rpw: 4 }, shift: 100 },
  { N: 37, C: 60, tiling: { tpr: 1, rpw: 16 }, groups: 2 },
];

/** Forward (y, mean, rstd) and backward (dx, dgain, dbias; the reference takes the kernel's own mean and rstd). */
export function layernormCase({ N, C, eps, groups, tiling, shift = 0 }: LayerNormCase): CaseBuilder {
  return (gpu, seed) => {
    const x = randn(N * C, seed, 2).map((v) => v + shift);
    const gain = randn(C, seed + 1);
    const bias = randn(C, seed + 2);
    const dy = randn(N * C, seed + 3);
    const fwd = new LayerNormForward(gpu, { N, C, eps }, { tiling });
    const bwd = new LayerNormBackward(gpu, { N, C, eps }, { groups, tiling });
    return {
      name: `layernorm ${JSON.stringify({ N, C, eps, groups, tiling, shift })}`,
      inputs: { x, gain, bias, dy },
      outputs: { y: N * C, mean: N, rstd: N, dx: N * C, dgain: C, dbias: C },
      encode: (p, b) => {
        fwd.encode(p, b.x, b.gain, b.bias, b.y, b.mean, b.rstd);
        bwd.encode(p, b.x, b.gain, b.mean, b.rstd, b.dy, b.dx, b.dgain, b.dbias);
      },
      reference: (got) => {
        const ref = layernormRef(x, gain, bias, N, C, eps);
        const back = layernormBackwardRef(x, gain, got.mean, got.rstd, dy, N, C);
        return { y: ref.y, mean: ref.mean, rstd: ref.rstd, dx: back.dx, dgain: back.dgain, dbias: back.dbias };
      },
      destroy: () => {
        fwd.destroy();
        bwd.destroy();
      },
    };
  };
}

export interface ColumnSumCase {
  rows: number;
  cols: number;
  accumulate?: boolean;
}

// One element; cols off 4 (scalar path) and off the 32-column workgroup; rows fewer than, and not a multiple of, the
// 8 lanes per column; more columns than one workgroup covers (vec4: 33 vectors); accumulating into given contents.
export const COLUMN_SUM_SHAPES: readonly ColumnSumCase[] = [
  { rows: 1, cols: 1 },
  { rows: 3, cols: 7 },
  { rows: 37, cols: 33 },
  { rows: 50, cols: 132 },
  { rows: 9, cols: 64, accumulate: true },
  { rows: 5, cols: 35, accumulate: true },
];

/** out (cols) = Σ over rows of x, written (poisoned first) or added to random contents. */
export function columnSumCase({ rows, cols, accumulate = false }: ColumnSumCase): CaseBuilder {
  return (gpu, seed) => {
    const x = randn(rows * cols, seed);
    const out0 = randn(cols, seed + 1);
    const k = new ColumnSum(gpu, { rows, cols, accumulate });
    return {
      name: `columnSum ${JSON.stringify({ rows, cols, accumulate })}`,
      inputs: { x },
      outputs: { out: accumulate ? out0 : cols },
      encode: (p, b) => k.encode(p, b.x, b.out),
      reference: () => ({ out: columnSumRef(x, rows, cols, accumulate ? out0 : undefined) }),
      destroy: () => k.destroy(),
    };
  };
}
