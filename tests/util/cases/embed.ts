/** Embedding cases (tokens, and tokens with learned positions) shared by tests/gpu/embed.test.ts and regress/checks/pointwise.ts. */
import { EmbeddingBackward, EmbeddingForward, PositionEmbeddingBackward, type EmbeddingShape, type PositionEmbeddingShape } from '../../../src/kernels/embed';
import { embeddingBackwardRef, embeddingRef, embeddingWithPositionsRef, positionEmbeddingBackwardRef } from '../../reference/embed';
import type { CaseBuilder } from '../kernel-test';
import { randint, randn } from '../random';

export interface EmbeddingCase {
  name: string;
  shape: EmbeddingShape;
  /** Token ids at or above V (ignored by both passes). */
  outOfRange: number;
}

/** Repetition, a wide row, the backward's radix sort at one, two and three passes, out-of-range ids. */
export const EMBEDDING_CASES: readonly EmbeddingCase[] = [
  { name: 'N=1 V=1 C=1', shape: { N: 1, V: 1, C: 1 }, outOfRange: 0 },
  { name: 'V=3 repeated, C=7', shape: { N: 40, V: 3, C: 7 }, outOfRange: 0 },
  { name: 'C=257', shape: { N: 300, V: 17, C: 257 }, outOfRange: 0 },
  { name: 'V=255 (one radix pass, marker 255)', shape: { N: 600, V: 255, C: 8 }, outOfRange: 0 },
  { name: 'V=256 (two radix passes)', shape: { N: 600, V: 256, C: 8 }, outOfRange: 0 },
  { name: 'V=1000, N > several sort blocks, out-of-range ids', shape: { N: 1337, V: 1000, C: 12 }, outOfRange: 9 },
  { name: 'V=70000 (three passes)', shape: { N: 513, V: 70000, C: 4 }, outOfRange: 3 },
];

/** Tokens with heavy repetition: a third are token 0, the rest uniform, plus `bad` out-of-range ids. */
export function tokensFor(N: number, V: number, seed: number, bad = 0): Uint32Array<ArrayBuffer> {
  const t = randint(N, seed, V);
  for (let i = 0; i < N; i += 3) t[i] = 0;
  for (let i = 0; i < bad; i++) t[(i * 7919) % N] = i % 2 ? V : 0xffffffff;
  return t;
}

/** Forward (exact: a gather) into a poisoned x; backward accumulating into a random dwte. */
export function embeddingCase(shape: EmbeddingShape, outOfRange = 0): CaseBuilder {
  return (gpu, seed) => {
    const { N, V, C } = shape;
    const tokens = tokensFor(N, V, seed, outOfRange);
    const wte = randn(V * C, seed + 1);
    const dx = randn(N * C, seed + 2);
    const dwte = randn(V * C, seed + 3);
    const fwd = new EmbeddingForward(gpu, shape);
    const bwd = new EmbeddingBackward(gpu, shape);
    return {
      name: `embedding ${JSON.stringify(shape)}${outOfRange ? `, ${outOfRange} ids out of range` : ''}`,
      inputs: { tokens, wte, dx },
      outputs: { x: N * C, dwte },
      encode: (p, b) => {
        fwd.encode(p, b.tokens, b.wte, b.x);
        bwd.encode(p, b.tokens, b.dx, b.dwte);
      },
      reference: () => ({ x: embeddingRef(tokens, wte, V, C), dwte: embeddingBackwardRef(tokens, dx, V, C, dwte) }),
      tol: { x: 0, dwte: 1e-5 },
      labels: { x: 'forward', dwte: 'backward' },
      destroy: () => {
        fwd.destroy();
        bwd.destroy();
      },
    };
  };
}

export interface PositionEmbeddingCase {
  name: string;
  shape: EmbeddingShape;
  positions: Required<PositionEmbeddingShape>;
  outOfRange: number;
}

/** C odd and off the vector width, B = 1, T = 1 (a decoder step at position p), T = contextLength, offset > 0. */
export const POSITION_CASES: readonly PositionEmbeddingCase[] = [
  { name: 'B=1 T=1 C=1', shape: { N: 1, V: 1, C: 1 }, positions: { T: 1, contextLength: 1, offset: 0 }, outOfRange: 0 },
  { name: 'B=3 T=5 C=7, T < contextLength', shape: { N: 15, V: 11, C: 7 }, positions: { T: 5, contextLength: 9, offset: 0 }, outOfRange: 0 },
  { name: 'B=1 T=contextLength=33 C=12', shape: { N: 33, V: 40, C: 12 }, positions: { T: 33, contextLength: 33, offset: 0 }, outOfRange: 0 },
  { name: 'decoder step: B=4 T=1 at position 6, C=5', shape: { N: 4, V: 9, C: 5 }, positions: { T: 1, contextLength: 8, offset: 6 }, outOfRange: 0 },
  { name: 'B=2 T=3 offset 4, C=16, out-of-range ids', shape: { N: 6, V: 20, C: 16 }, positions: { T: 3, contextLength: 10, offset: 4 }, outOfRange: 2 },
  { name: 'B=5 T=64 C=130', shape: { N: 320, V: 300, C: 130 }, positions: { T: 64, contextLength: 96, offset: 0 }, outOfRange: 0 },
];

/**
 * Tokens plus positions forward into a poisoned x (a gather and one add: within float32 rounding), and the
 * position backward accumulating into a random dwpe whose rows outside the positions must stay as they were.
 */
export function positionEmbeddingCase({ shape, positions, outOfRange }: Omit<PositionEmbeddingCase, 'name'>): CaseBuilder {
  return (gpu, seed) => {
    const { N, V, C } = shape;
    const L = positions.contextLength;
    const tokens = tokensFor(N, V, seed, outOfRange);
    const wte = randn(V * C, seed + 1);
    const wpe = randn(L * C, seed + 2);
    const dx = randn(N * C, seed + 3);
    const dwpe = randn(L * C, seed + 4);
    const fwd = new EmbeddingForward(gpu, shape, { positions });
    const bwd = new PositionEmbeddingBackward(gpu, { N, C }, positions);
    return {
      name: `embedding with positions ${JSON.stringify({ ...shape, ...positions })}${outOfRange ? `, ${outOfRange} ids out of range` : ''}`,
      inputs: { tokens, wte, wpe, dx },
      outputs: { x: N * C, dwpe },
      encode: (p, b) => {
        fwd.encode(p, b.tokens, b.wte, b.x, b.wpe);
        bwd.encode(p, b.dx, b.dwpe);
      },
      reference: () => ({
        x: embeddingWithPositionsRef(tokens, wte, wpe, V, C, positions),
        dwpe: positionEmbeddingBackwardRef(dx, C, positions, dwpe),
      }),
      tol: { x: 1e-6, dwpe: 1e-5 },
      labels: { x: 'forward', dwpe: 'backward' },
      destroy: () => {
        fwd.destroy();
        bwd.destroy();
      },
    };
  };
}
