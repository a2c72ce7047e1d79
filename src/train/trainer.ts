/**
 * The training loop: micro-batches → forward, loss, backward (gradients accumulate) → global norm → AdamW (and,
 * with optim.optimizer 'muon', Muon on the hidden matrices: src/model/param-groups.ts), all on the GPU. Per-step
 * scalars travel back through a MetricsRing in batches, so the loop never waits on a readback per step; it meets
 * the GPU only when the ring's oldest readback is still outstanding.
 */
import { Batcher, evalWindowStarts, type BatcherState } from '../data/batches';
import { END_OF_TEXT_ID } from '../data/specials';
import type { Gpu } from '../gpu/device';
import { AdamW, ADAMW_STEP_SKIPPED } from '../kernels/adamw';
import { Reduce, SegmentNorms } from '../kernels/reduce';
import { countParams, flopsPerToken } from '../model/config';
import { initialParams } from '../model/init';
import { Model } from '../model/model';
import { isMuonTensor, muonMatrices } from '../model/param-groups';
import type { RunConfig } from './config';
import { MetricsRing } from './metrics-ring';
import { PassProfiler } from '../gpu/profile';
import { summarise, type StepProfile } from '../lib/step-profile';
import { MuonGroup } from './muon';
import type { TrainerState } from './resume';
import { learningRate } from './schedule';

export interface StepStats {
  step: number;
  /** Mean cross-entropy of the step's tokens (nats). */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  lr: number;
  /** True when the step found a non-finite gradient and left the weights untouched. */
  skipped: boolean;
  /** Tensors whose gradient was non-finite (only when skipped). */
  nonFinite: string[];
}

export interface Progress {
  kind: 'progress';
  steps: StepStats[];
  /** Optimisation steps finished so far. */
  step: number;
  tokens: number;
  elapsedMs: number;
  tokensPerSecond: number;
  /** Achieved training GFLOP/s (6·N_active + attention, per token). */
  gflops: number;
  flops: number;
  /** Time to the first finished step (ms): setup (allocation + pipeline compiles) plus the first step to its readback. */
  firstStepMs: number | null;
  /** Of which allocation and pipeline compiles (ms). */
  setupMs: number;
}

export interface EvalResult {
  kind: 'eval';
  step: number;
  valLoss: number;
}

export interface TrainData {
  train: Uint32Array;
  validation: Uint32Array;
}

/** The token every training and validation window starts at (data.windows 'documents'), or undefined: anywhere. */
export function windowStart(config: RunConfig): number | undefined {
  return config.data.windows === 'documents' ? END_OF_TEXT_ID : undefined;
}

export class Trainer {
  readonly model: Model;
  readonly batcher: Batcher;
  /** Optimisation steps done. */
  step = 0;
  readonly tokensPerStep: number;
  readonly flopsPerToken: number;
  /** Optimizer FLOPs per step beyond elementwise work: Muon's Newton–Schulz (0 for AdamW); see optimizerFlopsPerStep. */
  readonly optimizerFlopsPerStep: number;
  /** AdamW's first moment; where Muon owns a tensor, Muon's momentum (v stays zero there). */
  private readonly m: GPUBuffer;
  private readonly v: GPUBuffer;
  private readonly adamw: AdamW;
  private readonly muon: MuonGroup | null = null;
  private muonLr = NaN;
  private readonly norms: SegmentNorms;
  private readonly normSq: GPUBuffer;
  private readonly segNormSq: GPUBuffer;
  private readonly status: GPUBuffer;
  private readonly lossSums: GPUBuffer;
  private readonly lossReduce: Reduce[];
  private readonly ring: MetricsRing;
  private readonly evalBatcherTokens: Uint32Array;
  /** Where each validation window starts (at document starts when training windows do). */
  private readonly evalStarts: Uint32Array;
  /** Allocation and pipeline compiles before the first step (ms); set by `create`, or the constructor's own time. */
  setupMs: number;
  private firstTrainStart: number | null = null;
  private gradientFault: { tensor: string; value: number } | null = null;
  /** Callers waiting for a profile of the next step train() takes (requestProfile). */
  private profileWaiters: { resolve: (p: StepProfile) => void; reject: (e: unknown) => void }[] = [];
  /** JavaScript time the last step spent preparing its batch and recording its commands (ms). */
  lastEncodeMs = 0;
  private trainMs = 0;
  private firstStepMs: number | null = null;
  private readonly pendingLr = new Map<number, number>();
  private readonly segmentNames: string[];

  constructor(
    private readonly gpu: Gpu,
    readonly config: RunConfig,
    data: TrainData,
  ) {
    const t0 = performance.now();
    const { model: mc, train } = config;
    const T = mc.contextLength;
    // The data first: a batcher that cannot draw throws before any buffer exists.
    const startAt = windowStart(config);
    this.batcher = new Batcher(data.train, { batchSize: train.batchSize, seqLen: T, seed: config.seed, startAt });
    this.evalBatcherTokens = data.validation;
    this.evalStarts = evalWindowStarts(data.validation, T, startAt);
    this.tokensPerStep = train.batchSize * T * train.gradAccum;
    this.flopsPerToken = flopsPerToken(mc);
    // A constructor that fails halfway (a kernel refusing a shape, a buffer past the device's limit) releases what it made.
    const made = gpu.trackAllocations();
    try {
      this.model = new Model(gpu, mc, { B: train.batchSize, T }, 1 / (train.batchSize * T * train.gradAccum));
      const n = this.model.layout.totalLength;
      this.m = gpu.createBuffer(4 * n, 'adam m');
      this.v = gpu.createBuffer(4 * n, 'adam v');
      const segments = this.model.layout.specs.map((s) => ({ offset: s.offset, length: s.length, decay: s.decay, name: s.name }));
      this.segmentNames = segments.map((s) => s.name);
      // Muon's tensors are left out of AdamW's segments: its one dispatch then never reads or writes them (as padding).
      const muon = config.optim.optimizer === 'muon';
      const specs = this.model.layout.specs;
      this.adamw = new AdamW(gpu, { n, segments: muon ? segments.filter((_, i) => !isMuonTensor(specs[i])) : segments });
      if (muon) this.muon = new MuonGroup(gpu, { n, matrices: muonMatrices(this.model.layout), hyper: this.muonHyper(0) });
      this.norms = new SegmentNorms(gpu, { n, segments });
      this.normSq = gpu.createBuffer(4, 'grad norm²');
      this.segNormSq = gpu.createBuffer(4 * segments.length, 'grad norm² per tensor');
      this.status = gpu.createBuffer(8, 'adamw status');
      this.lossSums = gpu.createBuffer(4 * train.gradAccum, 'loss sums');
      this.lossReduce = Array.from({ length: train.gradAccum }, (_, i) => new Reduce(gpu, { n: this.model.N, op: 'sum', outIndex: i }));
      this.model.setParams(initialParams(mc, this.model.layout, config.seed));
      this.ring = new MetricsRing(gpu, 3 + train.gradAccum + segments.length, 16); // last: its buffers are not tracked
    } catch (e) {
      made.releaseAll();
      throw e;
    } finally {
      made.stop();
    }
    this.zero(this.m);
    this.zero(this.v);
    this.optimizerFlopsPerStep = this.muon?.flops ?? 0;
    this.setupMs = performance.now() - t0;
  }

  /**
   * Fault injection (tests, regression runs): the next step's gradient of `tensor` gets one `value` (NaN or
   * ±Infinity) written into it after the backward pass. The step must then be skipped and name the tensor.
   */
  injectGradientFault(tensor: string, value = NaN): void {
    if (!this.model.layout.specs.some((x) => x.name === tensor)) throw new RangeError(`no parameter tensor '${tensor}'; known: ${this.segmentNames.join(', ')}`);
    this.gradientFault = { tensor, value };
  }

  /**
   * A trainer whose kernels' pipelines are all compiled asynchronously and in parallel before it returns
   * (the constructor alone compiles each one synchronously on first use); `onCompiled` hears each compile finish.
   */
  static async create(gpu: Gpu, config: RunConfig, data: TrainData, onCompiled?: (done: number, total: number) => void): Promise<Trainer> {
    const t0 = performance.now();
    let trainer: Trainer | undefined;
    try {
      await gpu.pipelines.build(() => (trainer = new Trainer(gpu, config, data)), onCompiled);
    } catch (e) {
      trainer?.destroy(); // a pipeline that failed to compile
      throw e;
    }
    trainer!.setupMs = performance.now() - t0;
    return trainer!;
  }

  private zero(buf: GPUBuffer): void {
    const enc = this.gpu.device.createCommandEncoder();
    enc.clearBuffer(buf);
    this.gpu.queue.submit([enc.finish()]);
  }

  get paramCount(): number {
    return countParams(this.config.model).total;
  }

  /** Forward, loss and backward of the micro-batch already uploaded; the first micro-batch zeroes the gradients. */
  encodeMicroBatch(pass: GPUComputePassEncoder, micro: number): void {
    const { model } = this;
    if (micro === 0) {
      pass.pushDebugGroup('zero grads');
      model.zeroGrads(pass);
      pass.popDebugGroup();
    }
    pass.pushDebugGroup('forward'); // scopes for the step profiler (src/gpu/profile.ts) and GPU debuggers
    model.forward(pass);
    pass.popDebugGroup();
    pass.pushDebugGroup('loss');
    model.lossAndGrad(pass);
    this.lossReduce[micro].encode(pass, model.losses, this.lossSums);
    pass.popDebugGroup();
    pass.pushDebugGroup('backward');
    model.backward(pass);
    pass.popDebugGroup();
  }

  /**
   * Per-tensor gradient norms, then AdamW (clipping and the NaN skip inside) and Muon (the NaN skip on the same
   * global norm; no clipping: its orthogonalised update's size does not follow the gradient's).
   */
  encodeOptimizer(pass: GPUComputePassEncoder): void {
    pass.pushDebugGroup('optimizer');
    this.norms.encode(pass, this.model.grads, this.segNormSq, this.normSq);
    this.adamw.encode(pass, this.model.params, this.model.grads, this.m, this.v, this.normSq, this.status);
    if (this.muon) {
      pass.pushDebugGroup('muon');
      this.muon.encode(pass, this.model.params, this.model.grads, this.m, this.normSq);
      pass.popDebugGroup();
    }
    pass.popDebugGroup();
  }

  /**
   * Muon's hyper-parameters at scheduled rate `lr`: muonLrScale·lr and muonMomentum; its decay λ is weightDecay /
   * muonLrScale, so that each step pulls every matrix toward zero by the same lr·weightDecay as AdamW's (a recipe
   * that switches optimizer changes the update, not the regularisation).
   */
  private muonHyper(lr: number): { lr: number; momentum: number; weightDecay: number } {
    const { optim } = this.config;
    const weightDecay = optim.muonLrScale > 0 ? optim.weightDecay / optim.muonLrScale : 0;
    return { lr: optim.muonLrScale * lr, momentum: optim.muonMomentum, weightDecay };
  }

  /**
   * Records and submits one optimisation step. Returns without waiting for the GPU. With a profiler, every
   * dispatch runs in its own timed pass (the same work in the same order) and the timestamps are resolved.
   */
  private submitStep(onStats: (rows: StepStats[]) => void, profiler?: PassProfiler): Promise<void> | null {
    const { gpu, model, config } = this;
    const t0 = performance.now();
    const begin = (enc: GPUCommandEncoder) => (profiler ? profiler.pass(enc) : enc.beginComputePass());
    const { optim, train } = config;
    const s = this.step;
    const lr = learningRate(
      { lr: optim.lr, warmupSteps: optim.warmupSteps, totalSteps: train.steps, kind: optim.schedule, minLrFraction: optim.minLrFraction, decayFraction: optim.decayFraction },
      s,
    );
    this.pendingLr.set(s, lr);
    for (let micro = 0; micro < train.gradAccum; micro++) {
      const batch = this.batcher.next();
      model.setBatch(batch.inputs as Uint32Array<ArrayBuffer>, batch.targets as Uint32Array<ArrayBuffer>);
      const enc = gpu.device.createCommandEncoder({ label: `step ${s} micro ${micro}` });
      const pass = begin(enc);
      this.encodeMicroBatch(pass, micro);
      pass.end();
      gpu.queue.submit([enc.finish()]);
    }
    const fault = this.gradientFault;
    if (fault) {
      // After the backward passes (queue order), before the optimiser's norms: as a real overflow would land.
      this.gradientFault = null;
      const spec = model.layout.specs.find((x) => x.name === fault.tensor)!;
      gpu.queue.writeBuffer(model.grads, 4 * (spec.offset + Math.floor(spec.length / 2)), new Float32Array([fault.value]));
    }
    this.adamw.setHyper({ lr, beta1: optim.beta1, beta2: optim.beta2, eps: optim.eps, weightDecay: optim.weightDecay, maxNorm: optim.gradClip, step: s + 1 });
    if (this.muon && lr !== this.muonLr) {
      this.muon.setHyper(this.muonHyper(lr)); // one uniform write per matrix: skipped while the rate holds
      this.muonLr = lr;
    }
    const enc = gpu.device.createCommandEncoder({ label: `step ${s} optimiser` });
    const pass = begin(enc);
    this.encodeOptimizer(pass);
    pass.end();
    profiler?.resolve(enc);
    this.ring.record(
      enc,
      [
        { buffer: this.normSq, floats: 1 },
        { buffer: this.status, floats: 2 },
        { buffer: this.lossSums, floats: train.gradAccum },
        { buffer: this.segNormSq, floats: this.segmentNames.length },
      ],
      s,
    );
    gpu.queue.submit([enc.finish()]);
    this.lastEncodeMs = performance.now() - t0;
    this.step++;
    if (this.ring.full || s === 0 || this.step >= train.steps) {
      return this.ring.flush((first, rows) => onStats(rows.map((r, i) => this.decode(first + i, r))));
    }
    return null;
  }

  private decode(step: number, row: Float32Array): StepStats {
    const words = new Uint32Array(row.buffer, row.byteOffset, row.length);
    const ga = this.config.train.gradAccum;
    let lossSum = 0;
    for (let i = 0; i < ga; i++) lossSum += row[3 + i];
    const skipped = words[1] === ADAMW_STEP_SKIPPED;
    const nonFinite: string[] = [];
    if (skipped) {
      for (let i = 0; i < this.segmentNames.length; i++) if (!Number.isFinite(row[3 + ga + i])) nonFinite.push(this.segmentNames[i]);
    }
    const lr = this.pendingLr.get(step) ?? NaN;
    this.pendingLr.delete(step);
    return { step, loss: lossSum / this.tokensPerStep, gradNorm: Math.sqrt(row[0]), lr, skipped, nonFinite };
  }

  /**
   * Trains for `steps` more steps (default: to config.train.steps), yielding progress as readbacks arrive and an
   * evaluation every config.train.evalEvery steps.
   */
  async *train(steps = this.config.train.steps - this.step): AsyncGenerator<Progress | EvalResult> {
    const end = Math.min(this.config.train.steps, this.step + steps);
    const queue: StepStats[] = [];
    const t0 = performance.now();
    const startStep = this.step;
    this.firstTrainStart ??= t0;
    while (this.step < end) {
      const onStats = (rows: StepStats[]) => {
        queue.push(...rows);
        if (this.firstStepMs === null) this.firstStepMs = this.setupMs + (performance.now() - (this.firstTrainStart ?? t0));
      };
      if (this.profileWaiters.length) {
        await this.profiledStep(onStats);
      } else {
        const flushed = this.submitStep(onStats);
        if (flushed) await flushed;
      }
      const evalEvery = this.config.train.evalEvery;
      if (queue.length) yield this.progress(queue.splice(0), t0, startStep);
      if (evalEvery > 0 && (this.step % evalEvery === 0 || this.step === end)) yield { kind: 'eval', step: this.step, valLoss: await this.evaluate() };
    }
    await this.ring.flush((first, rows) => queue.push(...rows.map((r, i) => this.decode(first + i, r))));
    await this.ring.drain();
    this.trainMs += performance.now() - t0;
    if (queue.length) yield this.progress(queue.splice(0), t0, startStep);
  }

  /**
   * A profile of the next step train() takes (see src/gpu/profile.ts): the step is a real one (it trains the
   * model as any other) whose dispatches each run in their own timed pass. Resolves once that step is done.
   */
  requestProfile(): Promise<StepProfile> {
    return new Promise((resolve, reject) => this.profileWaiters.push({ resolve, reject }));
  }

  /** Fails the pending profile requests (the run stopped or was destroyed before its next step). */
  cancelProfiles(reason: unknown): void {
    for (const w of this.profileWaiters.splice(0)) w.reject(reason);
  }

  /** One step under a PassProfiler, after the GPU has finished what came before, so its wall time is its own. */
  private async profiledStep(onStats: (rows: StepStats[]) => void): Promise<void> {
    const waiters = this.profileWaiters.splice(0);
    const profiler = new PassProfiler(this.gpu);
    try {
      await this.gpu.queue.onSubmittedWorkDone();
      const step = this.step;
      const t0 = performance.now();
      const flushed = this.submitStep(onStats, profiler);
      const records = await profiler.read();
      const wallMs = performance.now() - t0;
      if (flushed) await flushed;
      const profile = summarise(records, { step, wallMs, encodeMs: this.lastEncodeMs, flops: this.tokensPerStep * this.flopsPerToken });
      for (const w of waiters) w.resolve(profile);
    } catch (e) {
      for (const w of waiters) w.reject(e);
      throw e;
    } finally {
      profiler.destroy();
    }
  }

  private progress(steps: StepStats[], t0: number, startStep: number): Progress {
    const last = steps[steps.length - 1].step + 1;
    const elapsedMs = this.trainMs + (performance.now() - t0);
    const tokens = last * this.tokensPerStep;
    const runTokens = (last - startStep) * this.tokensPerStep;
    const tokensPerSecond = runTokens / Math.max(1e-3, (performance.now() - t0) / 1000);
    return {
      kind: 'progress', steps, step: last, tokens, elapsedMs, tokensPerSecond,
      gflops: (tokensPerSecond * this.flopsPerToken) / 1e9, flops: tokens * this.flopsPerToken, firstStepMs: this.firstStepMs, setupMs: this.setupMs,
    };
  }

  /** Mean validation loss over the first config.train.evalBatches batches of validation windows, in order. */
  async evaluate(): Promise<number> {
    const { gpu, model } = this;
    const { batchSize: B, evalBatches } = this.config.train;
    const T = this.config.model.contextLength;
    const toks = this.evalBatcherTokens;
    const windows = this.evalStarts.length;
    const batches = Math.min(evalBatches, Math.floor(windows / B));
    if (batches < 1) {
      throw new RangeError(
        `the validation split (${toks.length} tokens) holds ${windows} evaluation windows of ${T + 1} tokens, fewer than one batch of ${B}; ` +
          (this.config.data.windows === 'documents' ? 'windows start at documents here: ' : '') + 'use a larger validationFraction or corpus',
      );
    }
    const sums = gpu.createBuffer(4 * batches, 'eval loss sums');
    const reducers = Array.from({ length: batches }, (_, i) => new Reduce(gpu, { n: model.N, op: 'sum', outIndex: i }));
    const inputs = new Uint32Array(B * T);
    const targets = new Uint32Array(B * T);
    for (let i = 0; i < batches; i++) {
      for (let b = 0; b < B; b++) {
        const s = this.evalStarts[i * B + b];
        inputs.set(toks.subarray(s, s + T), b * T);
        targets.set(toks.subarray(s + 1, s + T + 1), b * T);
      }
      model.setBatch(inputs, targets);
      const enc = gpu.device.createCommandEncoder({ label: `eval ${i}` });
      const pass = enc.beginComputePass();
      model.forward(pass);
      model.evalLoss(pass);
      reducers[i].encode(pass, model.losses, sums);
      pass.end();
      gpu.queue.submit([enc.finish()]);
    }
    const out = await gpu.readFloat32(sums, batches);
    gpu.release(sums);
    for (const r of reducers) r.destroy();
    return out.reduce((a, b) => a + b, 0) / (batches * B * T);
  }

  /** The data order's position, saved in checkpoints so a resumed run sees the same batches. */
  batcherState(): BatcherState {
    return this.batcher.state();
  }

  /** Weights and optimizer moments (AdamW's m and v; Muon's momentum in m), read back (for checkpoints). */
  async readState(): Promise<{ params: Float32Array; m: Float32Array; v: Float32Array }> {
    const [params, m, v] = await Promise.all([this.gpu.readFloat32(this.model.params), this.gpu.readFloat32(this.m), this.gpu.readFloat32(this.v)]);
    return { params, m, v };
  }

  /** Restores weights, moments, step and data order (from a checkpoint: see trainerStateFromCheckpoint). */
  loadState(s: TrainerState): void {
    const n = this.model.layout.totalLength;
    for (const [name, a] of Object.entries({ params: s.params, m: s.m, v: s.v })) {
      if (a.length !== n) throw new RangeError(`checkpoint ${name} has ${a.length} floats; this model needs ${n}`);
    }
    this.batcher.restore(s.batcher); // validates before anything changes
    this.gpu.queue.writeBuffer(this.model.params, 0, s.params as Float32Array<ArrayBuffer>);
    this.gpu.queue.writeBuffer(this.m, 0, s.m as Float32Array<ArrayBuffer>);
    this.gpu.queue.writeBuffer(this.v, 0, s.v as Float32Array<ArrayBuffer>);
    this.step = s.step;
  }

  destroy(): void {
    this.cancelProfiles(new Error('the run was destroyed before its next step'));
    this.model.destroy();
    for (const b of [this.m, this.v, this.normSq, this.segNormSq, this.status, this.lossSums]) this.gpu.release(b);
    for (const r of this.lossReduce) r.destroy();
    this.ring.destroy();
    this.adamw.destroy();
    this.muon?.destroy();
    this.norms.destroy();
  }
}
