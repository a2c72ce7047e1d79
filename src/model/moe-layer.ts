import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import type { Binding } from '../kernels/dispatch';
import { GeluBackward, GeluForward, SwigluBackward, SwigluForward } from '../kernels/elementwise';
import { Matmul } from '../kernels/matmul';
import { capacityOf, MoeRouting, type MoeBuffers, type MoeConfig } from '../kernels/moe';

/**
 * A mixture-of-experts feed-forward layer, forward and backward, as a straight schedule of kernels:
 *   logits = x · Wr → router → assign → dispatch → hidden = act(dispatched · W1[e]) → out = hidden · W2[e] → combine.
 * act is GELU (tanh approximation) on (cap, H), or SwiGLU on (cap, 2H) laid out [gate | up] → (cap, H): the
 * elementwise kernels. No biases. The residual add is the caller's (a dropped pair contributes 0, so the residual
 * carries the token). Shapes: x, y (N, C); Wr (C, E); W1 (E, C, F) with F = H (GELU) or 2H (SwiGLU); W2 (E, H, C).
 * The layer keeps its activations for backward.
 *
 * Inference (`inference: true`, forward only): capacity N, so no pair is dropped, and each expert's two matmuls are
 * indirect dispatches sized on the GPU from its kept count (MoeRouting.expertGrid): an expert runs over the row
 * tiles routed to it, not over all N rows. That is 2E matmul dispatches instead of 2, plus one for the grid, and
 * Σ_e ceil(kept_e / rowsPerWorkgroup) row tiles instead of E · ceil(N / rowsPerWorkgroup) (Σ_e kept_e = N·K).
 * The gather, activation and combine stay elementwise over (E, N) rows; no gradient buffers are allocated.
 */
export interface MoeLayerConfig extends MoeConfig {
  /** H: hidden width of each expert (after the activation). */
  hidden: number;
  /** Expert activation; default 'gelu'. */
  activation?: 'gelu' | 'swiglu';
  /** Add the weight gradients into dw (gradient accumulation) instead of overwriting them; default false. */
  accumulateGrads?: boolean;
  /** Forward only, capacity N, experts' matmuls sized by their routed rows (see above); default false. */
  inference?: boolean;
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
export const moeUpWidth = (c: { hidden: number; activation?: string }): number => (c.activation === 'swiglu' ? 2 : 1) * c.hidden;

/**
 * Matmul FLOPs of one forward, counting every capacity slot (empty ones run too): 2·(N·C·E + E·cap·C·(F + H)).
 * The backward does twice as many (two products per forward product).
 */
export function moeLayerForwardFlops(c: MoeLayerConfig): number {
  return 2 * (c.tokens * c.width * c.experts + c.experts * capacityOf(c) * c.width * (moeUpWidth(c) + c.hidden));
}

/**
 * Bytes an inference layer allocates in buffers (uniforms aside): routing buffers, router logits, the four
 * (E, N) expert activations and the indirect grid. For memory estimates before anything is allocated.
 */
export function moeInferenceBytes(c: { tokens: number; width: number; experts: number; topK: number; hidden: number; activation?: string }): number {
  const { tokens: N, width: C, experts: E, topK: K, hidden: H } = c;
  const F = moeUpWidth(c);
  const routing = 2 * N * E + 3 * N * K + E * N + 4 * E + 2; // probs + router logits, pairs, slotSource, stats
  return 4 * (routing + E * N * (2 * C + F + H) + 6 * E + 1);
}

type Activation = { forward: GeluForward | SwigluForward; backward: GeluBackward | SwigluBackward | null };
type TrainMatmuls = Record<'up' | 'down' | 'dW2' | 'dHidden' | 'dW1' | 'dDispatched' | 'dWr' | 'dxRouter', Matmul>;
type Grads = Record<'dExpertOut' | 'dGates' | 'dLogits' | 'dHidden' | 'dPreact' | 'dDispatched', GPUBuffer>;
/** Inference: per-expert up and down matmuls (offsets into the (E, ...) buffers) and their indirect grid. */
interface ExpertMatmuls { up: Matmul[]; down: Matmul[]; args: GPUBuffer }

export class MoeLayer {
  readonly routing: MoeRouting;
  readonly hidden: number;
  readonly activation: 'gelu' | 'swiglu';
  readonly inference: boolean;
  /** Router probabilities, choices, gates, slots and stats of the last forward (stats: see decodeRoutingStats). */
  readonly buffers: MoeBuffers;
  /** See moeLayerForwardFlops (every slot counted); backward is twice the forward. */
  readonly forwardFlops: number;
  /** Inference: the experts' indirect dispatch args (6E + 1 u32, see MoeRouting.expertGrid); null when training. */
  readonly expertGridArgs: GPUBuffer | null;
  private readonly act: Record<'logits' | 'dispatched' | 'preact' | 'hiddenAct' | 'expertOut', GPUBuffer>;
  /** dPreact is dHidden itself for GELU (its backward runs in place). Null at inference. */
  private readonly grad: Grads | null;
  private readonly router: Matmul;
  private readonly mm: TrainMatmuls | null;
  private readonly experts: ExpertMatmuls | null;
  private readonly actFn: Activation;

  constructor(
    private readonly gpu: Gpu,
    config: MoeLayerConfig,
  ) {
    const H = config.hidden;
    check(Number.isInteger(H) && H >= 1, () => `moe layer: hidden must be a positive integer, got ${H}`);
    const activation = config.activation ?? 'gelu';
    check(activation === 'gelu' || activation === 'swiglu', () => `moe layer: activation must be 'gelu' or 'swiglu', got '${activation}'`);
    const inference = config.inference ?? false;
    check(!inference || ((config.capacity ?? config.tokens) === config.tokens && config.capacityFactor === undefined),
      () => `moe layer: inference drops nothing, so its capacity is tokens (${config.tokens}); give no capacity or capacityFactor`);
    const r = (this.routing = new MoeRouting(gpu, inference ? { ...config, capacity: config.tokens } : config));
    this.hidden = H;
    this.activation = activation;
    this.inference = inference;
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
    this.router = new Matmul(gpu, { M: N, N: E, K: C });
    if (inference) {
      this.grad = null;
      this.mm = null;
      const up = Array.from({ length: E }, (_, e) => new Matmul(gpu, { M: cap, N: F, K: C, offsetA: e * cap * C, offsetB: e * C * F, offsetC: e * cap * F }));
      const down = Array.from({ length: E }, (_, e) => new Matmul(gpu, { M: cap, N: C, K: H, offsetA: e * cap * H, offsetB: e * H * C, offsetC: e * cap * C }));
      check(up[0].rowsPerWorkgroup === down[0].rowsPerWorkgroup, 'moe layer: the up and down matmuls must cover the same rows per workgroup');
      // x and z of every dispatch and the rows per workgroup, once; expertGrid writes each y.
      const init = new Uint32Array(r.sizes.gridArgs);
      for (let e = 0; e < E; e++) {
        init.set([up[e].grid[0], 0, 1], 3 * e);
        init.set([down[e].grid[0], 0, 1], 3 * (E + e));
      }
      init[6 * E] = up[0].rowsPerWorkgroup;
      const args = gpu.createBuffer(init.byteLength, 'moe layer expert grid', GPUBufferUsage.INDIRECT);
      gpu.queue.writeBuffer(args, 0, init);
      this.experts = { up, down, args };
      this.expertGridArgs = args;
      r.warmExpertGrid();
    } else {
      this.experts = null;
      this.expertGridArgs = null;
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
        up: new Matmul(gpu, { M: cap, N: F, K: C, batch: E }),
        down: new Matmul(gpu, { M: cap, N: C, K: H, batch: E }),
        dW2: new Matmul(gpu, { M: H, N: C, K: cap, batch: E, transA: true, accumulate: acc }),
        dHidden: new Matmul(gpu, { M: cap, N: H, K: C, batch: E, transB: true }),
        dW1: new Matmul(gpu, { M: C, N: F, K: cap, batch: E, transA: true, accumulate: acc }),
        dDispatched: new Matmul(gpu, { M: cap, N: C, K: F, batch: E, transB: true }),
        dWr: new Matmul(gpu, { M: C, N: E, K: N, transA: true, accumulate: acc }),
        dxRouter: new Matmul(gpu, { M: N, N: C, K: E, transB: true, accumulate: true }),
      };
    }
    this.actFn =
      activation === 'gelu'
        ? { forward: new GeluForward(gpu, E * cap * H), backward: inference ? null : new GeluBackward(gpu, E * cap * H, { inPlace: true }) }
        : { forward: new SwigluForward(gpu, { N: E * cap, H }), backward: inference ? null : new SwigluBackward(gpu, { N: E * cap, H }) };
    this.forwardFlops = moeLayerForwardFlops(config);
  }

  /** y (N, C) = the layer's output for x (N, C); keeps what backward needs. */
  forward(pass: GPUComputePassEncoder, x: Binding, w: MoeLayerWeights, y: Binding): void {
    const { routing: r, act, buffers: b } = this;
    this.router.encode(pass, x, w.wr, act.logits);
    r.router(pass, { logits: act.logits, probs: b.probs, expertIndex: b.expertIndex, gates: b.gates });
    r.assign(pass, b);
    r.dispatch(pass, { x, slotSource: b.slotSource, dispatched: act.dispatched });
    if (this.experts) {
      const { up, down, args } = this.experts;
      const E = r.experts;
      r.expertGrid(pass, { stats: b.stats, args });
      for (let e = 0; e < E; e++) up[e].encodeIndirect(pass, act.dispatched, w.w1, act.preact, args, 12 * e);
      this.actFn.forward.encode(pass, act.preact, act.hiddenAct);
      for (let e = 0; e < E; e++) down[e].encodeIndirect(pass, act.hiddenAct, w.w2, act.expertOut, args, 12 * (E + e));
    } else {
      this.mm!.up.encode(pass, act.dispatched, w.w1, act.preact);
      this.actFn.forward.encode(pass, act.preact, act.hiddenAct);
      this.mm!.down.encode(pass, act.hiddenAct, w.w2, act.expertOut);
    }
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
    check(g !== null && mm !== null && this.actFn.backward !== null, 'moe layer: this layer was made for inference (forward only); make one without inference: true to train');
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
    const bufs = new Set([...Object.values(this.buffers), ...Object.values(this.act), ...Object.values(this.grad ?? {})]);
    if (this.experts) bufs.add(this.experts.args);
    for (const buf of bufs) this.gpu.release(buf);
    const matmuls = [this.router, ...Object.values(this.mm ?? {}), ...(this.experts ? [...this.experts.up, ...this.experts.down] : [])];
    for (const m of matmuls) m.destroy();
    this.actFn.forward.destroy();
    this.actFn.backward?.destroy();
    this.routing.destroy();
  }
}
