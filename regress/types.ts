/**
 * What the regression page measures and hands to scripts/regress.mjs. The page reports values and the
 * tolerance rule of each check; the Node side adds the baseline and the verdict (regress/SCHEMA.md).
 */
import type { Gpu } from '../src/gpu/device';
import type { Binding } from '../src/kernels/dispatch';

export type Suite = 'quick' | 'full';

/** What a check's value is compared with. */
export type CheckKind = 'correctness' | 'loss' | 'determinism' | 'throughput' | 'startup';

/**
 * How a value is judged.
 * - max:      value <= tolerance, no baseline needed (relative error against the float64 reference, mismatch counts)
 * - relative: |value − baseline| / |baseline| <= tolerance (losses after N steps)
 * - slowdown: value >= baseline · (1 − tolerance), higher is better, only slower fails (throughput)
 * - time:     value <= baseline / (1 − tolerance), lower is better, only longer fails (start-up time): the mirror
 *             of slowdown, so one --speed-tolerance means the same factor for both
 */
export type ToleranceRule = 'max' | 'relative' | 'slowdown' | 'time';

export interface Tolerance {
  rule: ToleranceRule;
  value: number;
}

/** One measured value, as the page reports it (no verdict yet). */
export interface CheckResult {
  /** Stable id, the baseline key: `<kind>/<family>/<case>[/<output>]`, sizes in the case name. */
  id: string;
  kind: CheckKind;
  /** The kernel family the check exercises (the names --break takes), or 'train' / 'sample' for whole-model checks. */
  kernel: string;
  /** null when the output was not finite or the check could not produce a value. */
  value: number | null;
  unit: string;
  tolerance: Tolerance;
  /** Failure detail from the page (first mismatching indices, seeds), or an exception's message when `error`. */
  message?: string;
  /** The check threw (a validation error, a shape rejected): its verdict is 'error'. */
  error?: boolean;
  /** Wall time of the task that produced it (ms), divided by the number of checks the task reported. */
  ms?: number;
}

/** A unit of work: sharding splits the list of tasks, each of which reports one or more checks. */
export interface Task {
  id: string;
  /** Kernel families it exercises (for --only and --break). */
  kernels: string[];
  run(ctx: RegressContext): Promise<CheckResult[]>;
}

export interface RegressContext {
  gpu: Gpu;
  suite: Suite;
  /** True on a software adapter (SwiftShader): sizes and timing tolerances adapt. */
  software: boolean;
  /**
   * Deliberate fault for testing the runner: when `kernel` is the family named by --break, multiplies the n floats
   * of `output` by 1.01 on the GPU (a Scale kernel), recorded after the kernel itself.
   */
  perturb(pass: GPUComputePassEncoder, kernel: string, output: Binding, n: number): void;
  /** Maximum fractional slowdown allowed for throughput checks. */
  speedTolerance: number;
}

/** Environment the page reports once, before the checks. */
export interface RegressEnvironment {
  adapter: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter: boolean };
  software: boolean;
  userAgent: string;
  adapterFeatures: string[];
  deviceFeatures: string[];
  limits: Record<string, number>;
  /** Task ids this page will run (after --only and --shard), in order. */
  tasks: string[];
  /** Every task id of the suite (after --only), for merge coverage checks. */
  allTasks: string[];
}

/** Functions scripts/regress.mjs exposes to the page (absent when the page is opened by hand). */
export interface RegressHooks {
  __regressEnv?: (json: string) => Promise<void>;
  __regressStart?: (taskId: string) => Promise<void>;
  __regressResults?: (json: string) => Promise<void>;
  __regressDone?: () => Promise<void>;
  __regressFail?: (message: string) => Promise<void>;
}
