import source from '../../shaders/moe.wgsl?raw';
import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import type { ShaderSource } from '../gpu/pipelines';
import type { ShaderParams } from '../gpu/preprocess';
import { assertHolds, assertNoAlias, ceilDiv, dispatch, grid1d, packUniform, rowWorkgroupSize, type Binding } from './dispatch';

export const moeShader: ShaderSource = { name: 'moe', code: source };

/** Slot index of a (token, choice) pair that found its expert full, and of an empty slot's source. */
export const NO_SLOT = 0xffffffff;
/** Most experts the router supports (one invocation handles a whole token's row). */
export const MAX_EXPERTS = 64;

/**
 * Mixture-of-experts routing for N tokens of width C over E experts, top-K (K = 1 or 2).
 *
 * Gate policy: with K = 2 the two chosen probabilities are renormalised to sum to 1 (GShard); with K = 1 the gate
 * is the raw probability (Switch), so the router still gets a gradient through the output. `normalizeGates`
 * overrides either default (normalised top-1 gates are constant 1 and pass no gradient to the router).
 *
 * Capacity: each expert holds `capacity` slots. Slots go by choice rank first (every token's first choice before
 * any second choice), then by token index; a pair that finds its expert full is dropped: it contributes 0 and the
 * layer's residual carries the token.
 *
 * Load-balancing loss (Switch): aux = E · Σ_e f_e · P_e with f_e the fraction of tokens whose FIRST choice is e
 * (second choices are not counted) and P_e the mean router probability of e. Its gradient reaches the logits
 * through P_e only, scaled by `auxLossWeight`; `aux` itself is reported unweighted in the stats.
 */
export interface MoeConfig {
  /** N: tokens routed in one call. */
  tokens: number;
  /** C: width of a token row. */
  width: number;
  /** E: number of experts, 1..64. */
  experts: number;
  /** K: experts per token, 1 or 2 (at most E). */
  topK: 1 | 2;
  /** Slots per expert = ceil(capacityFactor · N · K / E), at most N; default 1.25. */
  capacityFactor?: number;
  /** Slots per expert, overriding capacityFactor. */
  capacity?: number;
  /** Renormalise the chosen probabilities to sum to 1; default true for K = 2, false for K = 1. */
  normalizeGates?: boolean;
  /** Weight of the load-balancing loss in the router gradient; default 0.01 (Switch). 0 turns it off. */
  auxLossWeight?: number;
  /**
   * Multiplies the load-balancing gradient: the share of the optimisation step's loss this call carries, 1/G
   * under gradient accumulation over G micro-batches (the cross-entropy's gradient scale carries the same 1/G);
   * default 1.
   */
  auxGradScale?: number;
}

/** Expert capacity ceil(capacityFactor · N · K / E), clamped to [1, N] (an expert sees a token at most once). */
export function expertCapacity(tokens: number, topK: number, experts: number, capacityFactor: number): number {
  const exact = (capacityFactor * tokens * topK) / experts;
  // The 1e-9 keeps 1.1 * 100 / 10 = 11.000000000000002 at 11.
  return Math.min(tokens, Math.max(1, Math.ceil(exact - 1e-9 * exact)));
}

/** Slots per expert for a config: `capacity` if given, else from `capacityFactor` (default 1.25). */
export function capacityOf(config: MoeConfig): number {
  return config.capacity ?? expertCapacity(config.tokens, config.topK, config.experts, config.capacityFactor ?? 1.25);
}

/** Per-expert counts and the scalars the assign/finalize pair writes (layout in shaders/moe.wgsl). */
export interface RoutingStats {
  /** Pairs routed to each expert, before capacity. */
  load: Uint32Array;
  /** Pairs each expert kept: min(load, capacity). */
  kept: Uint32Array;
  /** Tokens whose first choice is each expert. */
  firstChoice: Uint32Array;
  /** Σ_t probs[t, e]. */
  probSum: Float32Array;
  /** Pairs dropped for capacity, all experts. */
  dropped: number;
  /** Unweighted load-balancing loss E · Σ_e f_e · P_e (1 when perfectly balanced). */
  auxLoss: number;
}

/** Words in the stats buffer for E experts. */
export const statsWords = (experts: number): number => 4 * experts + 2;

/** Reads a stats buffer's contents (e.g. from gpu.readback) into named fields. */
export function decodeRoutingStats(data: ArrayBuffer, experts: number): RoutingStats {
  const u = new Uint32Array(data, 0, statsWords(experts));
  const f = new Float32Array(data, 0, statsWords(experts));
  const E = experts;
  return {
    load: u.slice(0, E),
    kept: u.slice(E, 2 * E),
    firstChoice: u.slice(2 * E, 3 * E),
    probSum: f.slice(3 * E, 4 * E),
    dropped: u[4 * E],
    auxLoss: f[4 * E + 1],
  };
}

/** Buffers the routing kernels read and write, with their element counts. */
export interface MoeBuffers {
  /** (N, E) softmax of the router logits (kept for the backward pass). */
  probs: GPUBuffer;
  /** (N, K) u32 chosen experts, first choice first. */
  expertIndex: GPUBuffer;
  /** (N, K) gate weights. */
  gates: GPUBuffer;
  /** (N, K) u32 slot within the chosen expert, or NO_SLOT if dropped. */
  slots: GPUBuffer;
  /** (E, cap) u32 pair index t·K + k a slot holds, or NO_SLOT if empty. */
  slotSource: GPUBuffer;
  /** (4E + 2) u32 words: see decodeRoutingStats. */
  stats: GPUBuffer;
}

const ENTRIES = ['router', 'assign', 'finalize', 'tokens_to_slots', 'slots_to_tokens', 'combine_backward_gate', 'router_backward', 'expert_grid'] as const;
type Entry = (typeof ENTRIES)[number];

/** Which entry of MoeRouting.sizes each binding name holds. */
const SIZE_KIND: Record<string, keyof MoeRouting['sizes']> = {
  logits: 'logits', dLogits: 'logits', probs: 'logits',
  expertIndex: 'pairs', gates: 'pairs', slots: 'pairs', dGates: 'pairs',
  slotSource: 'slotSource', stats: 'stats', args: 'gridArgs',
  x: 'tokenRows', y: 'tokenRows', dy: 'tokenRows', dx: 'tokenRows',
  dispatched: 'expertRows', expertOut: 'expertRows', dExpertOut: 'expertRows', dDispatched: 'expertRows',
};

const WG_FLAT = 256;
const WG_TOKEN = 64;
const WG_SIZE: Record<Entry, number> = {
  router: WG_TOKEN,
  assign: 256,
  finalize: 64,
  tokens_to_slots: WG_FLAT,
  slots_to_tokens: WG_FLAT,
  combine_backward_gate: 0, // one workgroup per token row: rowWorkgroupSize(C)
  router_backward: WG_TOKEN,
  expert_grid: 64,
};

/** Variant flags of the two gathers: GATED scales rows by the gates, ACCUMULATE adds to the output. */
interface GatherFlags {
  gated?: boolean;
  accumulate?: boolean;
}

/** The pipeline of one entry point of shaders/moe.wgsl (each entry point is its own variant). */
function moeVariant(entry: Entry, K: number, normalize: boolean, width: number, flags: GatherFlags): ShaderParams {
  const WG = WG_SIZE[entry] || rowWorkgroupSize(width);
  const params: ShaderParams = { K, NORMALIZE: normalize, WG, GATED: flags.gated ?? false, ACCUMULATE: flags.accumulate ?? false };
  for (const e of ENTRIES) params[e.toUpperCase()] = e === entry;
  return params;
}

function moePipeline(gpu: Gpu, entry: Entry, K: number, normalize: boolean, width: number, flags: GatherFlags): GPUComputePipeline {
  return gpu.pipelines.get(moeShader, entry, moeVariant(entry, K, normalize, width, flags));
}

/** Every (entry, flags) training uses: compiled up front when built inside PipelineCache.build (expert_grid: see warmExpertGrid). */
const USED_VARIANTS: [Entry, GatherFlags][] = [
  ['router', {}], ['assign', {}], ['finalize', {}], ['tokens_to_slots', {}], ['tokens_to_slots', { gated: true }],
  ['slots_to_tokens', { gated: true }], ['slots_to_tokens', { accumulate: false }], ['slots_to_tokens', { accumulate: true }],
  ['combine_backward_gate', {}], ['router_backward', {}],
];

/** Uniform layout (32 bytes): ntok, width, experts, cap u32; aux_grad f32; 3 pad. */
function packMoeParams(p: { ntok: number; width: number; experts: number; cap: number; auxGrad: number }): ArrayBuffer {
  return packUniform([
    ['u32', p.ntok], ['u32', p.width], ['u32', p.experts], ['u32', p.cap],
    ['f32', p.auxGrad], ['u32', 0], ['u32', 0], ['u32', 0],
  ]);
}

/**
 * The routing kernels of one MoE layer shape. Each method records one step into a compute pass; the model's
 * schedule calls them in the order of the math: router → assign → dispatch → (expert FFN) → combine, and back.
 */
export class MoeRouting {
  readonly tokens: number;
  readonly width: number;
  readonly experts: number;
  readonly topK: 1 | 2;
  /** Slots per expert. */
  readonly capacity: number;
  readonly normalizeGates: boolean;
  readonly auxLossWeight: number;
  /**
   * Element counts of the buffers: logits (N, E), pairs (N, K), slotSource (E, cap), stats, token rows (N, C),
   * expert rows (E, cap, C), gridArgs (6E + 1, see expertGrid).
   */
  readonly sizes: Readonly<Record<'logits' | 'pairs' | 'slotSource' | 'stats' | 'tokenRows' | 'expertRows' | 'gridArgs', number>>;
  private readonly uniform: GPUBuffer;

  constructor(
    private readonly gpu: Gpu,
    config: MoeConfig,
  ) {
    const { tokens: N, width: C, experts: E, topK: K } = config;
    const shape = `N=${N} C=${C} E=${E} K=${K}`;
    check(Number.isInteger(N) && N >= 1, () => `moe: tokens must be a positive integer, got ${N}`);
    check(Number.isInteger(C) && C >= 1, () => `moe: width must be a positive integer, got ${C}`);
    check(Number.isInteger(E) && E >= 1 && E <= MAX_EXPERTS, () => `moe: experts must be an integer in 1..${MAX_EXPERTS}, got ${E}`);
    check(K === 1 || K === 2, () => `moe: topK must be 1 or 2, got ${K}`);
    check(K <= E, () => `moe: topK ${K} needs at least ${K} experts, got ${E}`);
    const cf = config.capacityFactor ?? 1.25;
    check(config.capacity !== undefined || (Number.isFinite(cf) && cf > 0), () => `moe: capacityFactor must be a positive number, got ${cf}`);
    const cap = capacityOf(config);
    check(Number.isInteger(cap) && cap >= 1, () => `moe: capacity must be a positive integer, got ${cap} (${shape})`);
    check(E * cap * C < 2 ** 32 && N * C < 2 ** 32, () => `moe: (E, cap, C) = (${E}, ${cap}, ${C}) is past 32-bit indexing`);
    const auxW = config.auxLossWeight ?? 0.01;
    check(Number.isFinite(auxW) && auxW >= 0, () => `moe: auxLossWeight must be a finite number >= 0, got ${auxW}`);
    const auxScale = config.auxGradScale ?? 1;
    check(Number.isFinite(auxScale) && auxScale > 0, () => `moe: auxGradScale must be a finite number > 0, got ${auxScale}`);
    this.tokens = N;
    this.width = C;
    this.experts = E;
    this.topK = K;
    this.capacity = cap;
    this.normalizeGates = config.normalizeGates ?? K === 2;
    this.auxLossWeight = auxW;
    this.sizes = { logits: N * E, pairs: N * K, slotSource: E * cap, stats: statsWords(E), tokenRows: N * C, expertRows: E * cap * C, gridArgs: 6 * E + 1 };
    for (const [entry, flags] of USED_VARIANTS) gpu.pipelines.warm(moeShader, entry, moeVariant(entry, K, this.normalizeGates, C, flags));
    this.uniform = gpu.uniform(
      packMoeParams({ ntok: N, width: C, experts: E, cap, auxGrad: (auxW * auxScale * E) / (N * N) }),
      `moe ${shape} cap=${cap}`,
    );
  }


  /** Allocates the routing buffers (caller releases them with gpu.release). */
  createBuffers(label = 'moe'): MoeBuffers {
    const s = this.sizes;
    const g = this.gpu;
    return {
      probs: g.createBuffer(4 * s.logits, `${label} probs`),
      expertIndex: g.createBuffer(4 * s.pairs, `${label} expertIndex`),
      gates: g.createBuffer(4 * s.pairs, `${label} gates`),
      slots: g.createBuffer(4 * s.pairs, `${label} slots`),
      slotSource: g.createBuffer(4 * s.slotSource, `${label} slotSource`),
      stats: g.createBuffer(4 * s.stats, `${label} stats`),
    };
  }

  /** Every named binding must hold the elements its name stands for. */
  private holds(op: string, bindings: Record<string, Binding>): void {
    const s = this.sizes;
    for (const [name, b] of Object.entries(bindings)) assertHolds(`moe ${op}`, name, b, s[SIZE_KIND[name]]);
  }

  private run(pass: GPUComputePassEncoder, entry: Entry, buffers: Binding[], groups: [number, number?, number?], flags: GatherFlags = {}): void {
    dispatch(this.gpu, pass, moePipeline(this.gpu, entry, this.topK, this.normalizeGates, this.width, flags), [this.uniform, ...buffers], groups);
  }

  private flat(n: number): [number, number] {
    return grid1d(this.gpu, ceilDiv(n, WG_FLAT));
  }

  /** logits (N, E) → probs (N, E), expertIndex (N, K), gates (N, K). */
  router(pass: GPUComputePassEncoder, b: { logits: Binding; probs: Binding; expertIndex: Binding; gates: Binding }): void {
    this.holds('router', b);
    assertNoAlias('moe router', 'probs', b.probs, { logits: b.logits });
    this.run(pass, 'router', [b.logits, b.probs, b.expertIndex, b.gates], grid1d(this.gpu, ceilDiv(this.tokens, WG_TOKEN)));
  }

  /** Capacity assignment: slots (N, K), slotSource (E, cap), stats (per-expert counts, dropped, aux loss). */
  assign(pass: GPUComputePassEncoder, b: { expertIndex: Binding; probs: Binding; slots: Binding; slotSource: Binding; stats: Binding }): void {
    this.holds('assign', b);
    this.run(pass, 'assign', [b.expertIndex, b.probs, b.slots, b.slotSource, b.stats], [this.experts]);
    this.run(pass, 'finalize', [b.stats], [1]);
  }

  /** x (N, C) → dispatched (E, cap, C); empty slots are zero. */
  dispatch(pass: GPUComputePassEncoder, b: { x: Binding; slotSource: Binding; dispatched: Binding }): void {
    this.holds('dispatch', b);
    assertNoAlias('moe dispatch', 'dispatched', b.dispatched, { x: b.x, slotSource: b.slotSource });
    this.run(pass, 'tokens_to_slots', [b.x, b.slotSource, b.dispatched], this.flat(this.sizes.expertRows));
  }

  /** y[t] = Σ_k gates[t, k] · expertOut[e_k, slot_k]; y (N, C) is overwritten. */
  combine(pass: GPUComputePassEncoder, b: { expertOut: Binding; expertIndex: Binding; slots: Binding; gates: Binding; y: Binding }): void {
    this.holds('combine', b);
    assertNoAlias('moe combine', 'y', b.y, { expertOut: b.expertOut, gates: b.gates });
    this.run(pass, 'slots_to_tokens', [b.expertOut, b.expertIndex, b.slots, b.y, b.gates], this.flat(this.sizes.tokenRows), { gated: true });
  }

  /** Backward of combine: dExpertOut (E, cap, C) (zero in empty slots) and dGates (N, K) (zero for dropped pairs). */
  combineBackward(
    pass: GPUComputePassEncoder,
    b: { dy: Binding; expertOut: Binding; expertIndex: Binding; slots: Binding; slotSource: Binding; gates: Binding; dExpertOut: Binding; dGates: Binding },
  ): void {
    this.holds('combineBackward', b);
    assertNoAlias('moe combineBackward', 'dExpertOut', b.dExpertOut, { dy: b.dy, gates: b.gates, expertOut: b.expertOut });
    assertNoAlias('moe combineBackward', 'dGates', b.dGates, { dy: b.dy, expertOut: b.expertOut, gates: b.gates });
    this.run(pass, 'tokens_to_slots', [b.dy, b.slotSource, b.dExpertOut, b.gates], this.flat(this.sizes.expertRows), { gated: true });
    this.run(pass, 'combine_backward_gate', [b.dy, b.expertOut, b.expertIndex, b.slots, b.dGates], grid1d(this.gpu, this.tokens));
  }

  /**
   * dGates (N, K) → dLogits (N, E), through the gate policy and the softmax, plus auxLossWeight times the
   * load-balancing loss gradient (which needs the stats of the same forward pass).
   */
  routerBackward(pass: GPUComputePassEncoder, b: { dGates: Binding; probs: Binding; expertIndex: Binding; stats: Binding; dLogits: Binding }): void {
    this.holds('routerBackward', b);
    assertNoAlias('moe routerBackward', 'dLogits', b.dLogits, { dGates: b.dGates, probs: b.probs });
    this.run(pass, 'router_backward', [b.dGates, b.probs, b.expertIndex, b.stats, b.dLogits], grid1d(this.gpu, ceilDiv(this.tokens, WG_TOKEN)));
  }

  /** Backward of dispatch: dx[t] = Σ_k dDispatched[e_k, slot_k] (dropped pairs add nothing); `accumulate` adds to dx. */
  dispatchBackward(pass: GPUComputePassEncoder, b: { dDispatched: Binding; expertIndex: Binding; slots: Binding; dx: Binding }, accumulate = false): void {
    this.holds('dispatchBackward', b);
    assertNoAlias('moe dispatchBackward', 'dx', b.dx, { dDispatched: b.dDispatched });
    this.run(pass, 'slots_to_tokens', [b.dDispatched, b.expertIndex, b.slots, b.dx], this.flat(this.sizes.tokenRows), { accumulate });
  }

  /** Inside PipelineCache.build, starts compiling expertGrid's pipeline with the rest (inference layers call it). */
  warmExpertGrid(): void {
    this.gpu.pipelines.warm(moeShader, 'expert_grid', moeVariant('expert_grid', this.topK, this.normalizeGates, this.width, {}));
  }

  /**
   * Inference: sizes the experts' indirect matmul dispatches from the kept counts of `stats` (after assign). `args`
   * (6E + 1 u32, INDIRECT usage) holds [x, y, z] for expert e's up matmul at word 3e and for its down matmul at
   * 3(E + e), and the rows one workgroup covers at word 6E; the caller writes x, z and that word once, this writes
   * y = ceil(kept[e] / rows), so an expert with no rows runs no workgroup.
   */
  expertGrid(pass: GPUComputePassEncoder, b: { stats: Binding; args: Binding }): void {
    this.holds('expertGrid', b);
    assertNoAlias('moe expertGrid', 'args', b.args, { stats: b.stats });
    this.run(pass, 'expert_grid', [b.stats, b.args], [ceilDiv(this.experts, WG_SIZE.expert_grid)]);
  }

  destroy(): void {
    this.gpu.release(this.uniform);
  }
}
