/**
 * The scaling study runner: the engine's 'scaling-*' commands. One run at a time on the engine's device, each piece
 * of GPU work (build, a stretch of training up to its next progress message, an evaluation, dispose) through the
 * engine's `exclusive` queue, so page commands land between them. Per run: build it from its planned config (the
 * corpus tokenized once per study and shared: every run evaluates the same held-out tokens), train to each of its
 * evalSteps and evaluate there, dispose it, save the study to IndexedDB and send it with fresh fits.
 *
 * A run whose validation loss turns non-finite (diverged) is done with its points so far; a run that throws is
 * 'failed' with the message; the study goes on either way. Cancel abandons the current run at its next progress
 * point and marks the rest cancelled.
 */
import type { Gpu } from '../gpu/device';
import { ConfigError } from '../model/validate';
import type { StudyFits, StudyRun, StudyState } from '../scaling/study';
import { studyFits, type StudyFitCache } from '../scaling/study-fits';
import { BASELINE_RECIPE, findRecipe } from '../scaling/recipes';
import {
  applyLrSearch, cancelStudy, newStudyState, nextRun, planRecipes, planSummary, resolveStudySpec, resumeStudy, runConfigOf, settlePhase,
} from '../scaling/study-plan';
import { fitThroughput, flopRateThroughput, type Throughput } from '../scaling/throughput';
import { EngineStateError } from './errors';
import type { Emit } from './protocol';
import { createRun, tokenizeCorpus, type Run, type TokenizedCorpus } from './run';
import type { StudyStore } from './scaling-store';

/** What the runner needs of the engine. */
export interface ScalingHost {
  emit: Emit;
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  gpu(): Promise<Gpu>;
  /** Why a study cannot start now (the page's own run is training), or null. */
  busy(): string | null;
  memoryBudgetBytes(): number | undefined;
  /** The runner started or stopped (the engine's state changes). */
  changed(): void;
}

/** Fewest milliseconds between two 'scaling-progress' events. */
export const SCALING_PROGRESS_MS = 250;

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const newStudyId = (): string => globalThis.crypto?.randomUUID?.() ?? `study-${Date.now().toString(36)}`;
const describeAdapter = (gpu: Gpu): string => [gpu.adapter.vendor, gpu.adapter.architecture, gpu.adapter.device, gpu.adapter.description].filter(Boolean).join(' ') || 'unknown adapter';

export class ScalingRunner {
  private state: StudyState | null = null;
  private active = false;
  private cancelRequested = false;
  private corpus: TokenizedCorpus | null = null;
  private readonly fitCache: StudyFitCache = new Map();
  /** Estimated seconds per run id under the current throughput model (the ETA's basis). */
  private estimates = new Map<string, number>();
  private lastProgress = -Infinity;

  constructor(private readonly host: ScalingHost, private readonly store: StudyStore) {}

  /** True while a study trains (the engine's state is then 'scaling'). */
  get running(): boolean {
    return this.active;
  }

  /** The estimate for a spec: throughput measured on this adapter once a run has finished, else the assumed GPU's. */
  plan(requestId: number, input: unknown): void {
    const spec = resolveStudySpec(input);
    const throughput = this.state ? this.measuredThroughput(this.state) : null;
    const plan = planSummary(planRecipes(spec, { throughput: throughput ?? undefined }), throughput ? 'measured' : 'assumed');
    this.host.emit({ type: 'scaling-plan', requestId, plan });
  }

  async start(requestId: number, input: unknown): Promise<void> {
    this.refuseIfBusy();
    this.active = true; // held across the awaits below: a second start is refused
    try {
      const stored = this.state ?? (await this.store.load());
      if (stored) {
        const done = stored.runs.filter((r) => r.status === 'done').length;
        throw new EngineStateError(`a scaling study is stored (${done} of ${stored.runs.length} runs done): export it and clear it, or resume it, before starting another`);
      }
      const gpu = await this.host.gpu();
      const state = newStudyState(input, { id: newStudyId(), adapter: describeAdapter(gpu), now: Date.now() });
      await this.store.save(state);
      this.adopt(state);
    } catch (e) {
      this.active = false;
      throw e;
    }
    this.emitStudy(requestId);
    this.host.changed();
    void this.loop();
  }

  /** Continues the stored study (after a reload or a cancel). */
  async resume(requestId: number): Promise<void> {
    this.refuseIfBusy();
    this.active = true;
    try {
      const state = this.state ?? (await this.store.load());
      if (!state) throw new EngineStateError('there is no stored scaling study to resume: start one');
      resumeStudy(state);
      state.updatedAt = Date.now();
      await this.store.save(state);
      if (state !== this.state) this.adopt(state);
    } catch (e) {
      this.active = false;
      throw e;
    }
    this.emitStudy(requestId);
    this.host.changed();
    void this.loop();
  }

  cancel(): Promise<void> | void {
    if (this.active) {
      this.cancelRequested = true;
      return;
    }
    const state = this.state;
    if (!state || state.status !== 'running') return this.emitStudy();
    // a study stored as running (the page reloaded) and not resumed: cancel it where it stands
    cancelStudy(state);
    return this.store.save(state).then(() => this.emitStudy());
  }

  async load(requestId: number): Promise<void> {
    if (!this.state) {
      const stored = await this.store.load();
      if (stored && !this.state) this.adopt(stored);
    }
    this.emitStudy(requestId);
  }

  async clear(requestId: number): Promise<void> {
    if (this.active) throw new EngineStateError('a scaling study is running: cancel it before clearing it');
    await this.store.clear();
    this.state = null;
    this.corpus = null;
    this.fitCache.clear();
    this.host.emit({ type: 'scaling-study', requestId, study: null, fits: null });
  }

  private refuseIfBusy(): void {
    if (this.active) throw new EngineStateError('a scaling study is already running: cancel it first');
    const why = this.host.busy();
    if (why) throw new EngineStateError(why);
  }

  private adopt(state: StudyState): void {
    this.state = state;
    this.corpus = null;
    this.fitCache.clear();
  }

  /**
   * The study's fits. studyFits turns every fit failure into a row's message; should one still throw (a defect),
   * the study goes on: the rows say the fit failed and why, instead of the study stopping with its runs unsaved.
   */
  private fits(state: StudyState): StudyFits {
    try {
      return studyFits(state, {}, this.fitCache);
    } catch (e) {
      this.fitCache.clear();
      const error = `the fit failed (${e instanceof Error ? e.name : 'Error'}: ${message(e)}); the runs are kept`;
      return { recipes: state.spec.recipes.map((recipe) => ({ recipe, envelope: [], error })), multipliers: state.spec.recipes.map((recipe) => ({ recipe, group: recipe === (state.spec.baseline ?? BASELINE_RECIPE) ? 'baseline' as const : (findRecipe(recipe)?.group ?? 'single'), error })) };
    }
  }

  private emitStudy(requestId?: number): void {
    const study = this.state;
    const fits = study ? this.fits(study) : null;
    const snapshot = study ? structuredClone(study) : null; // the emitted copy does not change under the page
    this.host.emit(requestId === undefined ? { type: 'scaling-study', study: snapshot, fits } : { type: 'scaling-study', requestId, study: snapshot, fits });
  }

  private async loop(): Promise<void> {
    const state = this.state!;
    try {
      for (;;) {
        settlePhase(state);
        const run = this.cancelRequested ? undefined : nextRun(state);
        if (!run) break;
        this.refreshEstimates(state);
        await this.runOne(state, run);
        if (run.kind === 'lr-search') applyLrSearch(state, run.recipe);
        state.updatedAt = Date.now();
        await this.store.save(state);
        this.emitStudy();
      }
      if (this.cancelRequested) cancelStudy(state);
      settlePhase(state);
    } catch (e) {
      state.status = 'failed';
      state.error = message(e);
      this.host.emit({ type: 'error', error: { name: e instanceof Error ? e.name : 'Error', message: `scaling study: ${message(e)}` } });
    } finally {
      this.active = false;
      this.cancelRequested = false;
      state.updatedAt = Date.now();
      await this.store.save(state).catch((e) => this.host.emit({ type: 'error', error: { name: 'CheckpointError', message: message(e) } }));
      this.emitStudy();
      this.host.changed();
    }
  }

  /** Trains one run to each of its evaluation steps; never throws (a failure is the run's). */
  private async runOne(state: StudyState, r: StudyRun): Promise<void> {
    Object.assign(r, { status: 'running', curve: [], wallSeconds: 0, error: undefined });
    await this.store.save(state); // a reload now restarts this run from step 0 (resumeStudy)
    this.emitStudy();
    const t0 = performance.now();
    let run: Run | null = null;
    try {
      const planned = runConfigOf(state, r);
      // The runner evaluates at the run's evalSteps itself, outside the training time (the plan's evalEvery is the last step).
      const config = { ...planned.config, train: { ...planned.config.train, evalEvery: 0 } };
      const gpu = await this.host.gpu();
      if (!this.corpus || JSON.stringify(this.corpus.data) !== JSON.stringify(planned.config.data)) this.corpus = await tokenizeCorpus(config);
      const corpus = this.corpus;
      run = await this.host.exclusive(() => createRun(config, { gpu, corpus, memoryBudgetBytes: this.host.memoryBudgetBytes() }));
      const built = run;
      const tokensPerStep = built.trainer.tokensPerStep;
      const fpt = built.summary.flopsPerToken;
      let trainMs = 0;
      for (const at of r.evalSteps) {
        const gen = built.train({ steps: at - built.trainer.step });
        for (;;) {
          const next = await this.host.exclusive(async () => {
            const t = performance.now();
            const res = await gen.next();
            trainMs += performance.now() - t;
            return res;
          });
          if (next.done) break;
          if (this.cancelRequested) {
            await gen.return(undefined);
            r.status = 'cancelled';
            return;
          }
          if (next.value.kind === 'progress') this.progress(state, r, next.value.step);
        }
        const loss = await this.host.exclusive(() => built.evaluate());
        r.curve.push({ step: at, flops: at * tokensPerStep * fpt, loss, seconds: trainMs / 1000 });
        if (!Number.isFinite(loss)) break; // diverged: done with its points so far
      }
      r.status = 'done';
    } catch (e) {
      r.status = 'failed';
      r.error = e instanceof ConfigError ? `${e.message} (${e.field})` : message(e);
    } finally {
      const made = run;
      if (made) await this.host.exclusive(async () => made.destroy()).catch(() => undefined);
      r.wallSeconds = (performance.now() - t0) / 1000;
    }
  }

  private progress(state: StudyState, r: StudyRun, step: number): void {
    const now = performance.now();
    if (now - this.lastProgress < SCALING_PROGRESS_MS && step < r.steps) return;
    this.lastProgress = now;
    let total = 0;
    let left = 0;
    for (const x of state.runs) {
      const s = this.estimates.get(x.id) ?? 0;
      total += x.status === 'cancelled' || x.status === 'failed' ? 0 : s;
      if (x === r) left += s * (1 - step / r.steps);
      else if (x.status === 'queued') left += s;
    }
    this.host.emit({ type: 'scaling-progress', runId: r.id, step, steps: r.steps, done: total > 0 ? 1 - left / total : 0, etaSeconds: total > 0 ? left : null });
  }

  /** Per run, seconds under this adapter's measured throughput (once a run has finished), else the plan's estimate. */
  private refreshEstimates(state: StudyState): void {
    const spec = resolveStudySpec(state.spec);
    const plans = planRecipes(spec, { throughput: this.measuredThroughput(state) ?? undefined, tunedLr: state.tunedLr, lrExtra: state.lrExtra });
    this.estimates = new Map([...plans.values()].flatMap((p) => [...p.lrSearch, ...p.runs].map((x) => [x.id, x.seconds] as const)));
  }

  /**
   * A throughput model from the study's finished runs: fitted through its smallest and largest measured FLOPs per
   * token (a fixed per-token cost plus a FLOP rate); with one size measured so far, or a fit the two refuse, the FLOP
   * rate of the largest measured run (small models are overhead-bound, so this errs long for larger ones); null
   * before any run has finished (the assumed GPU's rate is all there is).
   */
  private measuredThroughput(state: StudyState): Throughput | null {
    const measured = state.runs.flatMap((r) => {
      const last = r.curve[r.curve.length - 1];
      return r.status === 'done' && last && last.seconds > 0 ? [{ r, fpt: r.trainFlops / r.tokens, tokensPerSecond: (last.step * (r.tokens / r.steps)) / last.seconds }] : [];
    });
    if (measured.length === 0) return null;
    measured.sort((a, b) => a.fpt - b.fpt);
    const [a, b] = [measured[0]!, measured[measured.length - 1]!];
    const rate = flopRateThroughput(b.fpt * b.tokensPerSecond);
    if (a.fpt === b.fpt) return rate;
    try {
      const model = (x: typeof a) => ({ model: runConfigOf(state, x.r).config.model, tokensPerSecond: x.tokensPerSecond });
      return fitThroughput(model(a), model(b));
    } catch (e) {
      if (e instanceof ConfigError) return rate; // e.g. the larger measured as fast as the smaller
      throw e;
    }
  }
}
