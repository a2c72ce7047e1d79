/**
/**
 * Row and element kernels: RMSNorm and LayerNorm forward + backward, the column sum (a linear's bias gradient), embedding forward + backward (repeated and
 * out-of-range token ids; with learned positions), GELU, SwiGLU and RoPE forward + backward, against their float64
 * references. The cases are the GPU tests' (tests/util/cases/): the quick suite picks a few of their shapes, the
 * full suite adds larger ones.
 */
import type { RopeShape } from '../../src/kernels/elementwise';
import { GELU_SIZES, ROPE_SHAPES, SWIGLU_SHAPES, geluCase, ropeCase, swigluCase } from '../../tests/util/cases/elementwise';
import { EMBEDDING_CASES, POSITION_CASES, embeddingCase, positionEmbeddingCase, type EmbeddingCase, type PositionEmbeddingCase } from '../../tests/util/cases/embed';
import {
  COLUMN_SUM_SHAPES, LAYERNORM_SHAPES, RMSNORM_SHAPES, columnSumCase, layernormCase, rmsnormCase, type ColumnSumCase, type LayerNormCase, type RmsNormCase,
} from '../../tests/util/cases/norm';
import type { Suite, Task } from '../types';
import { caseChecks, pick } from './case-checks';

const normName = (c: RmsNormCase): string => `N${c.N}-C${c.C}`;
const layerNormName = (c: LayerNormCase): string => `${normName(c)}${c.shift ? `-shift${c.shift}` : ''}`;
const columnSumName = (c: ColumnSumCase): string => `rows${c.rows}-cols${c.cols}${c.accumulate ? '-acc' : ''}`;
const embedName = ({ shape: s, outOfRange }: EmbeddingCase): string => `N${s.N}-V${s.V}-C${s.C}${outOfRange ? `-bad${outOfRange}` : ''}`;
const positionsName = ({ shape: s, positions: p, outOfRange }: PositionEmbeddingCase): string =>
  `positions-N${s.N}-V${s.V}-C${s.C}-T${p.T}-L${p.contextLength}${p.offset ? `-off${p.offset}` : ''}${outOfRange ? `-bad${outOfRange}` : ''}`;
const ropeName = (s: RopeShape): string =>
  `B${s.B}-T${s.T}-NH${s.NH}-HS${s.HS}${s.posOffset ? `-pos${s.posOffset}` : ''}${s.theta ? `-theta${s.theta}` : ''}`;

export function pointwiseTasks(suite: Suite): Task[] {
  const full = suite === 'full';
  const norms: RmsNormCase[] = [
    ...pick(RMSNORM_SHAPES, normName, ['N33-C64', 'N5-C257']),
    ...(full ? [{ N: 512, C: 1024 }, { N: 7, C: 5000 }] : []),
  ];
  const layerNorms: LayerNormCase[] = [
    ...pick(LAYERNORM_SHAPES, layerNormName, ['N5-C257', 'N9-C100-shift100']),
    ...(full ? [{ N: 512, C: 1024 }, { N: 7, C: 5000 }] : []),
  ];
  const columnSums: ColumnSumCase[] = [
    ...pick(COLUMN_SUM_SHAPES, columnSumName, ['rows37-cols33', 'rows5-cols35-acc']),
    ...(full ? [{ rows: 4096, cols: 1376, accumulate: true }] : []), // B·T = 4096 rows of a 4·344-wide MLP
  ];
  const embeds: EmbeddingCase[] = [
    ...pick(EMBEDDING_CASES, embedName, ['N300-V17-C257', 'N1337-V1000-C12-bad9', ...(full ? ['N513-V70000-C4-bad3'] : [])]),
    ...(full ? [{ name: 'GPT-2 vocabulary', shape: { N: 2048, V: 50304, C: 64 }, outOfRange: 0 }] : []),
  ];
  const positions: PositionEmbeddingCase[] = [
    ...pick(POSITION_CASES, positionsName, ['positions-N6-V20-C16-T3-L10-off4-bad2', ...(full ? ['positions-N320-V300-C130-T64-L96'] : [])]),
    ...(full ? [{ name: 'GPT-2 sizes', shape: { N: 4096, V: 50304, C: 64 }, positions: { T: 1024, contextLength: 1024, offset: 0 }, outOfRange: 0 }] : []),
  ];
  const gelus = [...pick(GELU_SIZES, String, ['1001']), ...(full ? [1 << 20] : [])];
  const swiglus = [...pick(SWIGLU_SHAPES, ([N, H]) => `N${N}-H${H}`, ['N5-H257']), ...(full ? [[1024, 344] as const] : [])];
  const ropes: RopeShape[] = [
    ...pick(ROPE_SHAPES.map((r) => r.shape), ropeName, ['B2-T5-NH3-HS6', 'B2-T16-NH4-HS64-pos37', ...(full ? ['B3-T1-NH2-HS16-pos300-theta500'] : [])]),
    ...(full ? [{ B: 4, T: 256, NH: 8, HS: 64 }] : []),
  ];
  return [
    ...norms.map((c): Task => ({
      id: `rmsnorm/${normName(c)}`,
      kernels: ['rmsnorm'],
      run: (ctx) => caseChecks(ctx, `correctness/rmsnorm/${normName(c)}`, 'rmsnorm', rmsnormCase(c)),
    })),
    ...layerNorms.map((c): Task => ({
      id: `layernorm/${layerNormName(c)}`,
      kernels: ['layernorm'],
      run: (ctx) => caseChecks(ctx, `correctness/layernorm/${layerNormName(c)}`, 'layernorm', layernormCase(c)),
    })),
    ...columnSums.map((c): Task => ({
      id: `column-sum/${columnSumName(c)}`,
      kernels: ['column-sum'],
      run: (ctx) => caseChecks(ctx, `correctness/column-sum/${columnSumName(c)}`, 'column-sum', columnSumCase(c)),
    })),
    ...embeds.map((c): Task => ({
      id: `embedding/${embedName(c)}`,
      kernels: ['embedding'],
      run: (ctx) => caseChecks(ctx, `correctness/embedding/${embedName(c)}`, 'embedding', embeddingCase(c.shape, c.outOfRange)),
    })),
    ...positions.map((c): Task => ({
      id: `embedding/${positionsName(c)}`,
      kernels: ['embedding'],
      run: (ctx) => caseChecks(ctx, `correctness/embedding/${positionsName(c)}`, 'embedding', positionEmbeddingCase(c)),
    })),
    ...gelus.map((n): Task => ({
      id: `gelu/n${n}`,
      kernels: ['gelu'],
      run: (ctx) => caseChecks(ctx, `correctness/gelu/n${n}`, 'gelu', geluCase(n)),
    })),
    ...swiglus.map(([N, H]): Task => ({
      id: `swiglu/N${N}-H${H}`,
      kernels: ['swiglu'],
      run: (ctx) => caseChecks(ctx, `correctness/swiglu/N${N}-H${H}`, 'swiglu', swigluCase(N, H)),
    })),
    ...ropes.map((s): Task => ({
      id: `rope/${ropeName(s)}`,
      kernels: ['rope'],
      run: (ctx) => caseChecks(ctx, `correctness/rope/${ropeName(s)}`, 'rope', ropeCase(s)),
    })),
  ];
}
