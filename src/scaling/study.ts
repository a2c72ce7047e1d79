/**
 * A scaling study as data: what the user asked for (StudySpec), every run's measured curve (StudyRun), where the
 * study stands (StudyState, kept in IndexedDB so a reload resumes it) and what the fits say (StudyFits). Plain,
 * structured-clone-safe objects: the engine worker runs the study and posts these; the page only renders them.
 */
import type { ExtraLr, GridInput, PlannedRun, PresetName } from './grid';
import type { TunedLr } from './grid-sizes';
import type { Interval, Multiplier } from './multiplier';

/** What the user chose: recipe ids (see recipes.ts), the grid, and the recipe the multipliers are taken against. */
export interface StudySpec {
  recipes: string[];
  grid: PresetName | GridInput;
  /** The reference recipe; default 'baseline' (it is always run). */
  baseline?: string;
}

export type StudyRunStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** One validation measurement of a run. */
export interface StudyPoint {
  step: number;
  /** Training FLOPs spent up to `step` (flopsPerToken × tokens, the training page's counter). */
  flops: number;
  /** Validation loss (nats per token) on the held-out split. */
  loss: number;
  /** Wall-clock seconds of training up to `step` on this adapter (evaluations excluded). */
  seconds: number;
}

/** One run of the study: the plan's figures and what was measured. */
export interface StudyRun extends Omit<PlannedRun, 'config'> {
  recipe: string;
  status: StudyRunStatus;
  curve: StudyPoint[];
  /** Optimizer FLOPs beyond AdamW's elementwise work (Muon's Newton–Schulz iterations) over the whole run. */
  optimizerFlops: number;
  /** Wall-clock seconds the run took, evaluations and set-up included (0 until it ran). */
  wallSeconds: number;
  /** Why it failed (a diverged run is 'done' with a non-finite last loss, not failed). */
  error?: string;
}

export type StudyPhase = 'lr-search' | 'grid' | 'done';
export type StudyStatus = 'running' | 'paused' | 'cancelled' | 'done' | 'failed';

/** The whole study: saved after every run, sent to the page as a snapshot. */
export interface StudyState {
  id: string;
  spec: StudySpec;
  phase: StudyPhase;
  status: StudyStatus;
  /** The learning-rate search's runs first, then the grid's (their lr set once the search picked). */
  runs: StudyRun[];
  /** Per recipe, the search's picks at the smallest and largest size (interpolated between them for the grid). */
  tunedLr: Record<string, TunedLr[]>;
  /**
   * Per recipe, the rates added to its search because a pick fell on the edge of the searched range (at most
   * MAX_LR_EXTENSIONS per size, one log step each); absent in a study stored before extensions existed.
   */
  lrExtra?: Record<string, ExtraLr[]>;
  /** The adapter the study ran on, as the page shows it. */
  adapter: string;
  createdAt: number;
  updatedAt: number;
  error?: string;
}

/** What the page shows before starting: per recipe the run count, FLOPs and time on this adapter. */
export interface StudyPlanSummary {
  recipes: {
    recipe: string;
    runs: number;
    lrSearchRuns: number;
    trainFlops: number;
    evalFlops: number;
    lrSearchFlops: number;
    optimizerFlops: number;
    allInFlops: number;
    seconds: number;
  }[];
  totalSeconds: number;
  /** 'measured': from this adapter's measured throughput; 'assumed': the assumed laptop GPU's FLOP rate. */
  timeBasis: 'measured' | 'assumed';
}

/** A recipe's frontier and fit, trimmed for the page (no bootstrap samples). */
export interface RecipeFitSummary {
  recipe: string;
  envelope: { flops: number; loss: number }[];
  fit?: { E: number; A: number; alpha: number; intervals: { E: Interval; A: Interval; alpha: Interval } };
  lossRange?: Interval;
  flopsRange?: Interval;
  /** Why there is no fit (too few finished runs, a fit the points cannot determine). */
  error?: string;
  /**
   * L(N, D) = E + A/N^α + B/D^β on the final validation losses of the recipe's finished grid runs (N non-embedding
   * parameters, D training tokens): a point estimate, no intervals; `runs` the runs it was fitted to.
   */
  nd?: { E: number; A: number; alpha: number; B: number; beta: number; runs: number };
  /** Why there is no L(N, D) fit yet. */
  ndError?: string;
}

/** One row of the multiplier table: a recipe against the baseline. */
export interface MultiplierRow {
  recipe: string;
  /** What the row compares: one ingredient over the baseline, all together, or the full recipe less one. */
  group: 'single' | 'all' | 'leave-one-out' | 'baseline';
  /** Iso-loss compute multiplier on training FLOPs. */
  flops?: Multiplier;
  /** The same on all-in FLOPs (optimizer, learning-rate search and evaluation added). */
  allIn?: Multiplier;
  /** The same with wall-clock seconds on this adapter in place of FLOPs. */
  wallClock?: Multiplier;
  error?: string;
}

export interface StudyFits {
  recipes: RecipeFitSummary[];
  multipliers: MultiplierRow[];
}
