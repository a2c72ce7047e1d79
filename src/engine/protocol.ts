/**
 * The typed message union between the page (src/ui) and the engine worker (src/engine/worker.ts), which is
 * the only owner of the GPU device. Commands go in, events come out; every message is structured-clone
 * safe (no GPU objects, no class instances). Requests that expect one answer carry a `requestId` that the
 * answer (or an `error` event) repeats.
 */
import type { AdapterDescription, GpuFeatures } from '../gpu/device';
import type { KernelTuning } from '../kernels/tuning';
import type { StepProfile } from '../lib/step-profile';
import type { SweepConfig, SweepEvent } from '../eval/sweep';
import type { CreateProgress } from './run';
import type { RunConfig } from '../train/config';
import type { EvalResult, Progress } from '../train/trainer';
import type { StoredRun } from '../train/storage';
import type { StudyFits, StudyPlanSummary, StudyState } from '../scaling/study';

// The device description the UI shows, re-exported so src/ui never imports src/gpu.
export type { AdapterDescription, GpuFeatures } from '../gpu/device';
export type { KernelTuning, TuningMeasurement } from '../kernels/tuning';

/** What the engine reports about a run when it is created or loaded (shown wherever the run is described). */
export interface RunInfo {
  /** Stable id; autosaves of this run go under it in IndexedDB. */
  runId: string;
  /** The resolved config (defaults filled in; model.vocabSize is the tokenizer's). */
  config: RunConfig;
  params: number;
  activeParams: number;
  flopsPerToken: number;
  trainTokens: number;
  validationTokens: number;
  /** Unigram entropy of the training tokens (nats). */
  unigramEntropy: number;
  /** What the user should know about how the run was built (e.g. a BPE tokenizer learned from a sample of the text). */
  notices: string[];
  /** Steps already done (non-zero after loading a checkpoint). */
  step: number;
  /** Tokens per optimisation step (B·T·gradAccum). */
  tokensPerStep: number;
  /** Optimizer FLOPs per step beyond elementwise work (Muon's Newton–Schulz; 0 for AdamW), for all-in FLOP totals. */
  optimizerFlopsPerStep: number;
}

/** Expert load of one MoE layer at one step: how the router spread the step's tokens. */
export interface MoeLayerLoad {
  layer: number;
  /** Token-expert pairs routed to each expert (length E), before capacity. */
  load: number[];
  /** Pairs dropped because their expert was full. */
  dropped: number;
  /** Pairs routed (tokens · k). */
  routed: number;
}

export interface SampleOptions {
  maxTokens: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
}

/**
 * Where the engine is: what the Train / Pause / Resume / Stop controls reflect. 'scaling': a scaling study trains
 * (the page's run cannot train meanwhile; it can still sample). 'stopped' is never sent by the engine: the page's
 * client sets it when the worker died (see the 'engine-stopped' event).
 */
export type EngineState = 'starting' | 'no-run' | 'idle' | 'training' | 'paused' | 'sampling' | 'scaling' | 'stopped';

/** What building a run takes besides its config or checkpoint. */
export interface BuildOptions {
  /** Refuse a run whose estimated training memory exceeds this many bytes (the page's memory budget setting). */
  memoryBudgetBytes?: number;
}

export type EngineCommand =
  /**
   * Create a fresh run from a (partial) config; `text` replaces the corpus (a dropped file). 'build-progress'
   * events with the request's id report the tokenizer, the encoding and the model as they are built.
   */
  | ({ type: 'create'; requestId: number; config: unknown; text?: string } & BuildOptions)
  /**
   * Load a run from a checkpoint or from an autosave in IndexedDB. A chosen file is sent as the File itself (a
   * Blob crosses postMessage without its bytes): the engine checks its size and header before reading it whole.
   * A checkpoint does not hold its training text: `text` gives it again for a run trained on a dropped file
   * (else the config's corpus is used).
   */
  | ({ type: 'load'; requestId: number; checkpoint: Uint8Array | Blob; text?: string } & BuildOptions)
  | ({ type: 'load-autosave'; requestId: number; runId: string; text?: string } & BuildOptions)
  /** Train to config.train.steps (or `steps` more); progress streams until done, paused or stopped. */
  | { type: 'train'; steps?: number }
  | { type: 'pause' }
  | { type: 'resume' }
  /** Stop training (keeps the run and its weights; Train continues from here). */
  | { type: 'stop' }
  | { type: 'sample'; requestId: number; prompt: string; options: SampleOptions }
  /** Profiles the next step of the training run (while it trains or, paused, once it resumes): answered by 'profile'. */
  | { type: 'profile'; requestId: number }
  /** A test-time scaling sweep (src/eval/sweep-config.ts validates `config`); streams 'sweep' events, then 'sweep-done'. */
  | { type: 'sweep'; requestId: number; config: unknown }
  /** Checkpoint bytes of the current run, for a download. */
  | { type: 'save'; requestId: number }
  | { type: 'list-autosaves'; requestId: number }
  | { type: 'delete-autosave'; requestId: number; runId: string }
  /** Drop the current run and free its GPU memory. */
  | { type: 'dispose' }
  /** Are you there? The engine answers 'pong' at once (the client's heartbeat; a dead worker answers nothing). */
  | { type: 'ping' }
  /**
   * Scaling studies (src/scaling/study.ts). 'scaling-plan' answers 'scaling-plan' with the estimate for a spec;
   * 'scaling-start' validates the spec and queues its runs (one at a time on the GPU, beside no training: it is
   * refused while a run trains); 'scaling-cancel' stops after abandoning the run in progress; 'scaling-resume'
   * continues the stored study after a reload; 'scaling-load' answers 'scaling-study' with the stored study (or
   * null) and its fits; 'scaling-clear' deletes it.
   */
  | { type: 'scaling-plan'; requestId: number; spec: unknown }
  | { type: 'scaling-start'; requestId: number; spec: unknown }
  | { type: 'scaling-cancel' }
  | { type: 'scaling-resume'; requestId: number }
  | { type: 'scaling-load'; requestId: number }
  | { type: 'scaling-clear'; requestId: number }
  /** Test-only: destroys the GPU device, to exercise device-loss recovery. The UI never sends it. */
  /** Measure the kernel choices on this device again (stored for later sessions); runs built afterwards use them. */
  | { type: 'retune'; requestId: number }
  | { type: 'debug-lose-device' }
  /** Test-only: the worker throws an uncaught error ('throw') or closes itself silently ('close'). The UI never sends it. */
  | { type: 'debug-crash'; how: 'throw' | 'close' };

/** An error as data: `name` is the typed exception's class (ConfigError, CheckpointError, DeviceLostError...). */
export interface EngineError {
  name: string;
  message: string;
  /** The config field to change (ConfigError, LimitExceededError). */
  field?: string;
  /** CheckpointError's code. */
  code?: string;
}

export type EngineEvent =
  /** The worker has a device (or not: then an `error` with name WebGPUUnavailableError follows). */
  | { type: 'ready'; adapter: AdapterDescription; features: GpuFeatures; limits: Record<string, number> }
  | { type: 'state'; state: EngineState }
  /**
   * The kernel tuning after 'ready' (runs are built once it is there): `progress` while the autotuner measures (the
   * first session on an adapter, or a 'retune'), then the tuning, stored or measured.
   */
  | { type: 'tuning'; requestId?: number; tuning: KernelTuning | null; progress?: { done: number; total: number } }
  | { type: 'run'; requestId?: number; run: RunInfo }
  /** A step of building the run a 'create' or 'load' asked for (at most a few per second). */
  | { type: 'build-progress'; requestId: number; progress: CreateProgress }
  | (Progress & { type: 'progress'; moe?: MoeLayerLoad[] })
  | (Omit<EvalResult, 'kind'> & { type: 'eval' })
  /** Training reached config.train.steps. */
  | { type: 'done'; step: number }
  | { type: 'profile'; requestId: number; profile: StepProfile }
  | { type: 'sample-chunk'; requestId: number; text: string }
  | { type: 'sample-done'; requestId: number; tokens: number; tokensPerSecond: number }
  | { type: 'sweep'; requestId: number; event: SweepEvent }
  | { type: 'sweep-done'; requestId: number; config: SweepConfig; ms: number }
  | { type: 'saved'; requestId: number; bytes: Uint8Array; fileName: string }
  | { type: 'autosaved'; runId: string; step: number }
  | { type: 'autosaves'; requestId: number; runs: StoredRun[] }
  | { type: 'deleted'; requestId: number; runId: string }
  /** The device was lost; the engine acquires a new one and reloads the last autosave (then a `run` event). */
  | { type: 'device-lost'; message: string; recoveredFromStep: number | null }
  | { type: 'error'; requestId?: number; error: EngineError }
  | { type: 'pong' }
  | { type: 'scaling-plan'; requestId: number; plan: StudyPlanSummary }
  /** The study as stored (after every run and on load; null when there is none), with its fits so far. */
  | { type: 'scaling-study'; requestId?: number; study: StudyState | null; fits: StudyFits | null }
  /**
   * The run in progress (at most a few per second): its step of steps, and the whole study's done fraction and
   * estimated seconds left (from the throughput measured so far on this adapter).
   */
  | { type: 'scaling-progress'; runId: string; step: number; steps: number; done: number; etaSeconds: number | null }
  /**
   * Never sent by the engine: the page's client reports that the worker died (an uncaught error, or silence after
   * a ping: a worker that ran out of memory or closed). Every pending request was rejected; spawn a new client.
   */
  | { type: 'engine-stopped'; message: string };

/** How the engine sends an event (worker.ts: postMessage; tests: a recorder). */
export type Emit = (event: EngineEvent, transfer?: Transferable[]) => void;
