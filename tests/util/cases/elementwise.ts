/** Element-wise cases (fill, add, axpy, GELU, SwiGLU, RoPE) shared by tests/gpu/elementwise.test.ts and regress/checks/pointwise.ts. */
import { Add, Axpy, Fill, GeluBackward, GeluForward, Rope, SwigluBackward, SwigluForward, type RopeShape } from '../../../src/kernels/elementwise';
import { addRef, axpyRef, fillRef, geluBackwardRef, geluRef, ropeRef, swigluBackwardRef, swigluRef } from '../../reference/elementwise';
import type { CaseBuilder } from '../kernel-test';
import { randn } from '../random';

/** Lengths around the 256-wide workgroup and its vec4 tail. */
export const FILL_SIZES = [1, 4, 7, 255, 256, 257, 1000, 1024];
export const ADD_SIZES = [1, 13, 257, 1024, 4099];
export const AXPY_SIZES = [1, 6, 1024, 1027];
/** One element, a partial vector, one workgroup, odd, several workgroups. */
export const GELU_SIZES = [1, 7, 256, 1001, 4096];
/** [N, H]: one element, odd H, H a multiple of 4, H off the workgroup, many rows. */
export const SWIGLU_SHAPES: readonly (readonly [number, number])[] = [[1, 1], [1, 7], [3, 8], [5, 257], [64, 256]];
/** The smallest head, odd pairs, vec4 heads, a position offset, one decoding step far into the cache with another theta. */
export const ROPE_SHAPES: readonly { name: string; shape: RopeShape }[] = [
  { name: 'HS=2', shape: { B: 1, T: 3, NH: 1, HS: 2 } },
  { name: 'HS=6', shape: { B: 2, T: 5, NH: 3, HS: 6 } },
  { name: 'HS=8 vec4', shape: { B: 2, T: 4, NH: 2, HS: 8 } },
  { name: 'HS=64 posOffset', shape: { B: 2, T: 16, NH: 4, HS: 64, posOffset: 37 } },
  { name: 'T=1 decoding at 300', shape: { B: 3, T: 1, NH: 2, HS: 16, posOffset: 300, theta: 500 } },
];

export function fillCase(n: number, value = 2.5): CaseBuilder {
  return (gpu) => {
    const k = new Fill(gpu, n, value);
    return {
      name: `fill n=${n}`,
      inputs: {},
      outputs: { out: n },
      encode: (p, b) => k.encode(p, b.out),
      reference: () => ({ out: fillRef(n, value) }),
      tol: 0,
      destroy: () => k.destroy(),
    };
  };
}

export function addCase(n: number): CaseBuilder {
  return (gpu, seed) => {
    const a = randn(n, seed);
    const b = randn(n, seed + 1);
    const k = new Add(gpu, n);
    return {
      name: `add n=${n}`,
      inputs: { a, b },
      outputs: { out: n },
      encode: (p, x) => k.encode(p, x.a, x.b, x.out),
      reference: () => ({ out: addRef(a, b) }),
      tol: 1e-6,
      destroy: () => k.destroy(),
    };
  };
}

/** y += value·x, in place over y. */
export function axpyCase(n: number, value = 0.5): CaseBuilder {
  return (gpu, seed) => {
    const x = randn(n, seed);
    const y = randn(n, seed + 1);
    const k = new Axpy(gpu, n, value);
    return {
      name: `axpy n=${n}`,
      inputs: { x },
      outputs: { y },
      encode: (p, b) => k.encode(p, b.x, b.y),
      reference: () => ({ y: axpyRef(value, x, y) }),
      tol: 1e-6,
      destroy: () => k.destroy(),
    };
  };
}

export function geluCase(n: number): CaseBuilder {
  return (gpu, seed) => {
    // Tiny n: fixed inputs away from gelu'(x) = 0 (x ≈ -0.75), where one element's relative error is unbounded.
    const x = n < 8 ? Float32Array.from({ length: n }, (_, i) => 1.5 - 0.4 * i) : randn(n, seed, 3);
    const dy = randn(n, seed + 1);
    const fwd = new GeluForward(gpu, n);
    const bwd = new GeluBackward(gpu, n);
    return {
      name: `gelu n=${n}`,
      inputs: { x, dy },
      outputs: { out: n, dx: n },
      encode: (p, b) => {
        fwd.encode(p, b.x, b.out);
        bwd.encode(p, b.x, b.dy, b.dx);
      },
      reference: () => ({ out: geluRef(x), dx: geluBackwardRef(x, dy) }),
      labels: { out: 'forward', dx: 'backward' },
      destroy: () => {
        fwd.destroy();
        bwd.destroy();
      },
    };
  };
}

export function swigluCase(N: number, H: number): CaseBuilder {
  return (gpu, seed) => {
    const inp = randn(N * 2 * H, seed, 2);
    const dout = randn(N * H, seed + 1);
    const fwd = new SwigluForward(gpu, { N, H });
    const bwd = new SwigluBackward(gpu, { N, H });
    return {
      name: `swiglu N=${N} H=${H}`,
      inputs: { inp, dout },
      outputs: { out: N * H, dinp: N * 2 * H },
      encode: (p, b) => {
        fwd.encode(p, b.inp, b.out);
        bwd.encode(p, b.inp, b.dout, b.dinp);
      },
      reference: () => ({ out: swigluRef(inp, N, H), dinp: swigluBackwardRef(inp, dout, N, H) }),
      labels: { out: 'forward', dinp: 'backward' },
      destroy: () => {
        fwd.destroy();
        bwd.destroy();
      },
    };
  };
}

/** Forward out of place into a poisoned buffer; backward in place over dy. */
export function ropeCase(shape: RopeShape): CaseBuilder {
  return (gpu, seed) => {
    const n = shape.B * shape.T * shape.NH * shape.HS;
    const x = randn(n, seed);
    const dy = randn(n, seed + 1);
    const fwd = new Rope(gpu, shape, { inPlace: false });
    const bwd = new Rope(gpu, shape);
    return {
      name: `rope ${JSON.stringify(shape)}`,
      inputs: { x },
      outputs: { out: n, dy },
      encode: (p, b) => {
        fwd.encodeForward(p, b.x, b.out);
        bwd.encodeBackward(p, b.dy);
      },
      reference: () => ({ out: ropeRef(x, shape), dy: ropeRef(dy, shape, true) }),
      labels: { out: 'forward', dy: 'backward' },
      destroy: () => {
        fwd.destroy();
        bwd.destroy();
      },
    };
  };
}
