import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import type { Binding } from './dispatch';
import { GeluBackward, GeluForward, SwigluBackward, SwigluForward } from './elementwise';
import { Matmul } from './matmul';
import { capacityOf, MoeRouting, type MoeBuffers, type MoeConfig } from './moe';

/**
 * A mixture-of-experts feed-forward layer, forward and backward, as a straight schedule of kernels:
 *   logits = x · Wr → router → assign → dispatch → hidden = act(dispatched · W1[e]) → out = hidden · W2[e] → combine.
 * act is GELU (tanh approximation) on (cap, H), or SwiGLU on (cap, 2H) laid out [gate | up] → (cap, H): the
 * elementwise kernels. No biases. The residual add is the caller's (a dropped pair contributes 0, so the residual
 * carries the token). Shapes: x, y (N, C); Wr (C, E); W1 (E, C, F) with F = H (GELU) or 2H (SwiGLU); W2 (E, H, C).
 * The layer keeps its activations for backward.
 */
export interface MoeLayerConfig extends MoeConfig {
  /** H: hidden width of each expert (after the activation). */
  hidden: number;
  /** Expert activation; default 'gelu'. */
  activation?: 'gelu' | 'swiglu';
  /** Add the weight gradients into dw (gradient accumulation) instead of overwriting them; default false. */
  accumulateGrads?: boolean;
}

export interface MoeLayerWeights {
  /** (C, E) */
  wr: Binding;
  /** (E, C, F) */
  w1: Binding;
  /** (E, H, C) */
  w2: Binding;
}

/** F: width of the expert up projection, H for GELU, 2H for SwiGLU ([gate | up]). */
export const moeUpWidth = (c: MoeLayerConfig): number => (c.activation === 'swiglu' ? 2 : 1) * c.hidden;

/**
 * Matmul FLOPs of one forward, counting every capacity slot (empty ones run too): 2·(N·C·E + E·cap·C·(F + H)).
 * The backward does twice as many (two products per forward product).
 */
export function moeLayerForwardFlops(c: MoeLayerConfig): number {
  return 2 * (c.tokens * c.width * c.experts + c.experts * capacityOf(c) * c.width * (moeUpWidth(c) + c.hidden));
}

type Activation = { forward: GeluForward | SwigluForward; backward: GeluBackward | SwigluBackward };

export class MoeLayer {
  readonly routing: MoeRouting;
  readonly hidden: number;
  readonly activation: 'gelu' | 'swiglu';
  /** Router probabilities, choices, gates, slots and stats of the last forward (stats: see decodeRoutingStats). */
  readonly buffers: MoeBuffers;
  /** See moeLayerForwardFlops; backward is twice the forward. */
  readonly forwardFlops: number;
  private readonly act: Record<'logits' | 'dispatched' | 'preact' | 'hiddenAct' | 'expertOut', GPUBuffer>;
  /** dPreact is dHidden itself for GELU (its backward runs in place). */
  private readonly grad: Record<'dExpertOut' | 'dGates' | 'dLogits' | 'dHidden' | 'dPreact' | 'dDispatched', GPUBuffer>;
  private readonly mm: Record<'router' | 'up' | 'down' | 'dW2' | 'dHidden' | 'dW1' | 'dDispatched' | 'dWr' | 'dxRouter', Matmul>;
  private readonly actFn: Activation;

  constructor(
    private readonly gpu: Gpu,
    config: MoeLayerConfig,
  ) {
    const H = config.hidden;
    check(Number.isInteger(H) && H >= 1, () => `moe layer: hidden must be a positive integer, got ${H}`);
    const activation = config.activation ?? 'gelu';
    check(activation === 'gelu' || activation === 'swiglu', () => `moe layer: activation must be 'gelu' or 'swiglu', got '${activation}'`);
    const r = (this.routing = new MoeRouting(gpu, config));
    this.hidden = H;
    this.activation = activation;
    const F = moeUpWidth(config);
    const acc = config.accumulateGrads ?? false;
    const { tokens: N, width: C, experts: E, capacity: cap } = r;
    this.buffers = r.createBuffers('moe layer');
    const f = (n: number, label: string) => gpu.createBuffer(4 * n, `moe layer ${label}`);
    this.act = {
      logits: f(N * E, 'logits'),
      dispatched: f(E * cap * C, 'dispatched'),
      preact: f(E * cap * F, 'preact'),
      hiddenAct: f(E * cap * H, 'hidden'),
      expertOut: f(E * cap * C, 'expertOut'),
    };
    const dHidden = f(E * cap * H, 'dHidden');
    this.grad = {
      dExpertOut: f(E * cap * C, 'dExpertOut'),
      dGates: f(N * r.topK, 'dGates'),
      dLogits: f(N * E, 'dLogits'),
      dHidden,
      dPreact: activation === 'gelu' ? dHidden : f(E * cap * F, 'dPreact'),
      dDispatched: f(E * cap * C, 'dDispatched'),
    };
    this.mm = {
      router: new Matmul(gpu, { M: N, N: E, K: C }),
      up: new Matmul(gpu, { M: cap, N: F, K: C, batch: E }),
      down: new Matmul(gpu, { M: cap, N: C, K: H, batch: E }),
      dW2: new Matmul(gpu, { M: H, N: C, K: cap, batch: E, transA: true, accumulate: acc }),
      dHidden: new Matmul(gpu, { M: cap, N: H, K: C, batch: E, transB: true }),
      dW1: new Matmul(gpu, { M: C, N: F, K: cap, batch: E, transA: true, accumulate: acc }),
      dDispatched: new Matmul(gpu, { M: cap, N: C, K: F, batch: E, transB: true }),
      dWr: new Matmul(gpu, { M: C, N: E, K: N, transA: true, accumulate: acc }),
      dxRouter: new Matmul(gpu, { M: N, N: C, K: E, transB: true, accumulate: true }),
    };
    this.actFn =
      activation === 'gelu'
        ? { forward: new GeluForward(gpu, E * cap * H), backward: new GeluBackward(gpu, E * cap * H, { inPlace: true }) }
        : { forward: new SwigluForward(gpu, { N: E * cap, H }), backward: new SwigluBackward(gpu, { N: E * cap, H }) };
    this.forwardFlops = moeLayerForwardFlops(config);
  }

  /** y (N, C) = the layer's output for x (N, C); keeps what backward needs. */
  forward(pass: GPUComputePassEncoder, x: Binding, w: MoeLayerWeights, y: Binding): void {
    const { routing: r, act, buffers: b, mm } = this;
    mm.router.encode(pass, x, w.wr, act.logits);
    r.router(pass, { logits: act.logits, probs: b.probs, expertIndex: b.expertIndex, gates: b.gates });
    r.assign(pass, b);
    r.dispatch(pass, { x, slotSource: b.slotSource, dispatched: act.dispatched });
    mm.up.encode(pass, act.dispatched, w.w1, act.preact);
    this.actFn.forward.encode(pass, act.preact, act.hiddenAct);
    mm.down.encode(pass, act.hiddenAct, w.w2, act.expertOut);
    r.combine(pass, { expertOut: act.expertOut, expertIndex: b.expertIndex, slots: b.slots, gates: b.gates, y });
  }

  /**
   * Gradients of the loss for dy = dL/dy (plus auxLossWeight · aux loss): dx (N, C) is overwritten, the weight
   * gradients dw overwritten or, with accumulateGrads, added to. Must follow the forward of the same x and weights.
   */
  backward(
    pass: GPUComputePassEncoder,
    x: Binding,
    w: MoeLayerWeights,
    dy: Binding,
    dx: Binding,
    dw: { wr: Binding; w1: Binding; w2: Binding },
  ): void {
    const { routing: r, act, grad: g, buffers: b, mm } = this;
    r.combineBackward(pass, {
      dy,
      expertOut: act.expertOut,
      expertIndex: b.expertIndex,
      slots: b.slots,
      slotSource: b.slotSource,
      gates: b.gates,
      dExpertOut: g.dExpertOut,
      dGates: g.dGates,
    });
    mm.dW2.encode(pass, act.hiddenAct, g.dExpertOut, dw.w2);
    mm.dHidden.encode(pass, g.dExpertOut, w.w2, g.dHidden);
    if (this.actFn.backward instanceof GeluBackward) this.actFn.backward.encode(pass, act.preact, g.dHidden);
    else this.actFn.backward.encode(pass, act.preact, g.dHidden, g.dPreact);
    mm.dW1.encode(pass, act.dispatched, g.dPreact, dw.w1);
    mm.dDispatched.encode(pass, g.dPreact, w.w1, g.dDispatched);
    r.dispatchBackward(pass, { dDispatched: g.dDispatched, expertIndex: b.expertIndex, slots: b.slots, dx });
    r.routerBackward(pass, { dGates: g.dGates, probs: b.probs, expertIndex: b.expertIndex, stats: b.stats, dLogits: g.dLogits });
    mm.dWr.encode(pass, x, g.dLogits, dw.wr);
    mm.dxRouter.encode(pass, g.dLogits, w.wr, dx);
  }

  destroy(): void {
    const bufs = new Set([...Object.values(this.buffers), ...Object.values(this.act), ...Object.values(this.grad)]);
    for (const buf of bufs) this.gpu.release(buf);
    for (const m of Object.values(this.mm)) m.destroy();
    this.actFn.forward.destroy();
    this.actFn.backward.destroy();
    this.routing.destroy();
  }
}
