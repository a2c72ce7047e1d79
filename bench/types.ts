import type * as tfNs from '@tensorflow/tfjs-core';
import type { Gpu } from '../src/gpu/device';
import type { TimedWork } from '../src/gpu/timing';

/** The TensorFlow.js namespace (tfjs-core with the webgpu backend registered and active). */
export type Tf = typeof tfNs;

/**
 * Our side of a benchmark case: buffers are made once; `record` encodes one iteration into a pass, or, for work that
 * submits its own command buffers (the KV-cache decoder), `work` does `repeats` iterations and resolves when the
 * GPU has finished them (the same clock: JavaScript included, nothing read back).
 */
export interface OursRunner {
  record?(pass: GPUComputePassEncoder): void;
  work?: TimedWork;
  /** Destroy buffers made for the case. */
  dispose(): void;
}

/**
 * The peer's side: `run` performs one iteration with TF.js ops and returns the tensors it produced (disposed by the
 * harness). Do the work once: a forward and its gradient come from one tf.valueAndGrad(s), not f(x) and grad(x).
 */
export interface PeerRunner {
  run(): tfNs.Tensor | tfNs.Tensor[];
  dispose(): void;
}

/**
 * The second peer, jax-js (bench/peers/jax-transformer.ts): `step` runs one iteration (a jit'ed function) and
 * returns without waiting; `done` resolves when every array the iterations produced is computed (jax-js's
 * blockUntilReady, which reads nothing back).
 */
export interface JaxRunner {
  step(): void;
  done(): Promise<void>;
  dispose(): void;
}

/**
 * One row of the benchmark table. `flops` (or `bytes` for bandwidth-bound ops such as AdamW) is the napkin
 * count for ONE iteration; write how it is counted in a comment where the case is defined.
 */
export interface BenchCase {
  /** Kernel family as in the JSON schema: 'matmul', 'attention', 'moe', 'adamw', 'norm', ... */
  op: string;
  /** e.g. '1024x1024x1024' or 'B4 T1024 NH8 HS64'. */
  shape: string;
  flops: number;
  /** Minimal bytes moved per iteration (reported as GB/s when flops is 0). */
  bytes?: number;
  /** Tokens produced per iteration (decoding), reported as tokens/s. */
  tokens?: number;
  /** Included in --quick runs (keep these small: SwiftShader does ~1 GFLOP/s). */
  quick: boolean;
  ours(gpu: Gpu): OursRunner | Promise<OursRunner>;
  /** Omit when TF.js has no comparable op; the row then shows no ratio. */
  peer?(tf: Tf): PeerRunner | Promise<PeerRunner>;
  /** The jax-js side, where the bench has one (matmul and whole training steps). */
  jax?(): Promise<JaxRunner>;
}

/** A suite file (bench/suites/<op>.ts) default-exports a function returning its cases. */
export type Suite = (opts: { quick: boolean }) => BenchCase[];

export interface BenchRow {
  op: string;
  shape: string;
  ours_ms: number;
  peer_ms: number | null;
  ratio: number | null;
  ours_gflops: number;
  peer_gflops: number | null;
  ours_gbps?: number;
  peer_gbps?: number | null;
  /** Tokens per second (cases that produce tokens: decoding). */
  ours_tokens_per_s?: number;
  /** Each timed sample's per-iteration time (ms), in the order taken (the medians above come from these). */
  ours_samples_ms?: number[];
  peer_samples_ms?: number[] | null;
  /** Iterations per sample. */
  ours_repeats?: number;
  peer_repeats?: number | null;
  /** The jax-js peer, where the case has one: its median ms and jax_ms / ours_ms (above 1: ours is faster). */
  jax_ms?: number | null;
  jax_ratio?: number | null;
  jax_gflops?: number | null;
  jax_samples_ms?: number[] | null;
  jax_repeats?: number | null;
}
