/**
 * Sampling with a KV cache (the one inference path: the sample box and test-time sweeps both decode here).
 *
 * `sample`: N samples of each of several prompts decode together, one sequence per row. Prompts are left-padded
 * with a pad id (end of text: the model has seen runs of documents) to one length. Without a thinking budget the
 * loop stays on the GPU: each step's sampled tokens feed the next step by a buffer copy, and tokens come back in
 * chunks. With a budget (src/eval/budget.ts) the CPU decides each step (force, ban, replace), so every step reads
 * the tokens back.
 *
 * `stream`: one sequence, any length. When the cache is full it re-prefills from the text's last half context
 * (the window slides by half a context) and goes on; tokens come back in chunks.
 *
 * Memory: one decoder set (decoder, sampler, buffers) is kept, for the latest batch size; another size frees it
 * first. Each batch is checked against the device's per-buffer limit and an optional budget before anything is
 * allocated (estimateBytes), and refused with a LimitExceededError that names the field to shrink.
 */
import { formatBytes } from '../lib/format';
import type { Gpu } from '../gpu/device';
import { check, LimitExceededError } from '../gpu/errors';
import { SAMPLING_SETTINGS_BYTES, Sampler, type SamplingSettings } from '../kernels/sample';
import type { ModelConfig } from '../model/config';
import { Decoder, type DecoderEstimate } from '../model/decoder';
import { BudgetForcer, type BudgetOptions } from './budget';

export interface BatchSampleOptions {
  /** N: samples of each prompt. */
  samplesPerPrompt: number;
  /** Most tokens generated per sequence. */
  maxTokens: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Left padding (and the token fed to finished sequences). */
  padId: number;
  /** A sequence ends after emitting this id. */
  stopId?: number;
  /** Thinking budget (cap / extend); makes the loop read back every step. */
  budget?: BudgetOptions;
  /** Steps per readback without a budget (default 16). */
  chunk?: number;
  /** Refuse (LimitExceededError) a batch whose decoder would allocate more than this many bytes. */
  memoryBudgetBytes?: number;
}

export interface StreamOptions {
  /** Tokens generated (exactly, unless stopToken comes first). */
  maxTokens: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Tokens per readback (streaming granularity), default 8. */
  chunk?: number;
  /** Stop after this token id (e.g. end of text). */
  stopToken?: number;
  memoryBudgetBytes?: number;
}

/** What a batch's estimate is checked against, and what a refusal says. */
export interface FitCheck {
  budgetBytes?: number;
  /** The field a refusal names (e.g. 'sweep.problems'). */
  field: string;
  /** The batch in words, e.g. '16 problems × 256 samples' (the sequences and prompt length are added). */
  what: string;
  /** What to shrink, e.g. 'fewer problems or a smaller N'. */
  advice: string;
}

interface DecoderSet {
  decoder: Decoder;
  sampler: Sampler;
  tokens: GPUBuffer;
  logprobs: GPUBuffer;
  out: GPUBuffer;
}

export interface SampledSequence {
  /** Index of its prompt. */
  prompt: number;
  /** Index among the prompt's N samples. */
  sample: number;
  tokens: number[];
  /** Log-probability of each token under the sampling distribution; NaN for tokens the loop forced. */
  logprobs: number[];
}

export interface BatchSampleResult {
  sequences: SampledSequence[];
  /** Tokens generated in all (test-time compute). */
  generatedTokens: number;
  /** Wall time from the prefill to the last readback. */
  ms: number;
  tokensPerSecond: number;
}

export class BatchSampler {
  /** The one decoder set kept, for its batch size. */
  private set: DecoderSet | null = null;

  constructor(
    private readonly gpu: Gpu,
    readonly config: ModelConfig,
    private readonly params: GPUBuffer,
  ) {}

  /** Bytes a batch of S sequences with P-token prompts allocates: the decoder, the sampler and the output buffers. */
  estimateBytes(sequences: number, promptTokens: number): DecoderEstimate {
    const S = sequences;
    const est = Decoder.estimateBytes(this.config, S, promptTokens);
    const out = 8 * S * this.config.contextLength;
    const own = 16 + S * SAMPLING_SETTINGS_BYTES + 8 * S + out;
    return { totalBytes: est.totalBytes + own, largest: out > est.largest.bytes ? { name: 'sampled tokens (chunk, S, 2)', bytes: out } : est.largest };
  }

  /** The estimate, or a LimitExceededError when a buffer exceeds the device's per-buffer limit or the total the budget. */
  checkFits(sequences: number, promptTokens: number, fit: FitCheck): DecoderEstimate {
    const est = this.estimateBytes(sequences, promptTokens);
    const perBuffer = Math.min(this.gpu.limits.maxBufferSize, this.gpu.limits.maxStorageBufferBindingSize);
    const batch = `${fit.what} (${sequences} sequence${sequences === 1 ? '' : 's'}, prompts of ${promptTokens} tokens)`;
    if (est.largest.bytes > perBuffer) {
      throw new LimitExceededError(
        `${batch} would need ${formatBytes(est.largest.bytes)} in one buffer (${est.largest.name}); this GPU binds at most ${formatBytes(perBuffer)} per buffer. Decode fewer sequences at once: ${fit.advice}`,
        fit.field,
      );
    }
    if (fit.budgetBytes !== undefined && est.totalBytes > fit.budgetBytes) {
      throw new LimitExceededError(
        `${batch} would allocate about ${formatBytes(est.totalBytes)} for decoding (KV cache and activations), over the ${formatBytes(fit.budgetBytes)} memory budget for decoding. Decode fewer sequences at once: ${fit.advice}`,
        fit.field,
      );
    }
    return est;
  }

  /** The decoder set for S sequences and P-token prefills, after checking it fits; frees a set of another size first. */
  private rows(S: number, P: number, fit: FitCheck): DecoderSet {
    this.checkFits(S, P, fit);
    if (this.set && this.set.decoder.sequences !== S) this.release();
    if (!this.set) {
      const made: { release(): void }[] = [];
      try {
        const decoder = new Decoder(this.gpu, this.config, this.params, S);
        made.push({ release: () => decoder.destroy() });
        const sampler = new Sampler(this.gpu, { rows: S, vocab: this.config.vocabSize }, { temperature: 1, seed: 0 });
        made.push({ release: () => sampler.destroy() });
        const buf = (bytes: number, label: string) => {
          const b = this.gpu.createBuffer(bytes, label);
          made.push({ release: () => this.gpu.release(b) });
          return b;
        };
        const tokens = buf(4 * S, 'batch sample tokens');
        const logprobs = buf(4 * S, 'batch sample logprobs');
        const out = buf(8 * S * this.config.contextLength, 'batch sample out');
        this.set = { decoder, sampler, tokens, logprobs, out };
      } catch (e) {
        for (const m of made.reverse()) m.release();
        throw e;
      }
    }
    return this.set;
  }

  /** Frees the decoder set (the next batch makes a new one). */
  release(): void {
    const d = this.set;
    if (!d) return;
    this.set = null;
    d.decoder.destroy();
    d.sampler.destroy();
    for (const b of [d.tokens, d.logprobs, d.out]) this.gpu.release(b);
  }

  async sample(prompts: readonly Uint32Array[], opts: BatchSampleOptions): Promise<BatchSampleResult> {
    const n = opts.samplesPerPrompt;
    check(prompts.length >= 1 && Number.isInteger(n) && n >= 1, 'batch sample: give at least one prompt and samplesPerPrompt >= 1');
    check(prompts.every((p) => p.length >= 1), 'batch sample: every prompt needs at least one token');
    const S = prompts.length * n;
    const P = Math.max(...prompts.map((p) => p.length));
    const Tc = this.config.contextLength;
    check(P + opts.maxTokens <= Tc, () => `batch sample: prompt (${P} tokens) + maxTokens (${opts.maxTokens}) exceed the context length ${Tc}; shorten one`);
    const d = this.rows(S, P, {
      budgetBytes: opts.memoryBudgetBytes, field: 'samplesPerPrompt', what: `${prompts.length} prompts × ${n} samples`, advice: 'fewer prompts or fewer samples per prompt',
    });
    await d.decoder.prepare(P);
    const settings: SamplingSettings = { temperature: opts.temperature ?? 1, topK: opts.topK ?? 0, topP: opts.topP ?? 1, seed: opts.seed ?? 0 };
    d.sampler.setSettings(settings);
    const padded: Uint32Array[] = [];
    const input = new Uint32Array(S * P).fill(opts.padId);
    for (let i = 0; i < S; i++) {
      const p = prompts[Math.floor(i / n)];
      input.set(p, i * P + (P - p.length));
      padded.push(input.subarray(i * P, (i + 1) * P));
    }
    const seqs: SampledSequence[] = Array.from({ length: S }, (_, i) => ({ prompt: Math.floor(i / n), sample: i % n, tokens: [], logprobs: [] }));
    const t0 = performance.now();
    d.decoder.reset();
    d.decoder.run(input, P);
    if (opts.budget) await this.budgetLoop(d, seqs, padded, opts);
    else await this.gpuLoop(d, seqs, opts);
    const ms = performance.now() - t0;
    const generatedTokens = seqs.reduce((a, s) => a + s.tokens.length, 0);
    return { sequences: seqs, generatedTokens, ms, tokensPerSecond: generatedTokens / Math.max(1e-3, ms / 1000) };
  }

  /**
   * Streams one sequence after `prompt` (its last contextLength tokens), in chunks of tokens and their
   * log-probabilities. Draw k uses the sampler's row 0 at step k, so a seed gives the same tokens whatever the chunk.
   */
  async *stream(prompt: Uint32Array, opts: StreamOptions): AsyncGenerator<{ tokens: number[]; logprobs: number[] }> {
    if (prompt.length === 0) throw new RangeError('the prompt is empty: give at least one token');
    if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 0) throw new RangeError(`maxTokens must be a whole number >= 0, got ${opts.maxTokens}`);
    if (opts.maxTokens === 0) return;
    const T = this.config.contextLength;
    const keep = Math.max(1, Math.floor(T / 2));
    let context = Array.from(prompt.subarray(Math.max(0, prompt.length - T)));
    const d = this.rows(1, Math.max(context.length, keep), {
      budgetBytes: opts.memoryBudgetBytes, field: 'model.contextLength', what: 'sampling one sequence', advice: 'a model with a shorter context or fewer layers',
    });
    const prefill = async () => {
      await d.decoder.prepare(context.length);
      d.decoder.reset();
      d.decoder.run(Uint32Array.from(context), context.length);
    };
    d.sampler.setSettings({ temperature: opts.temperature ?? 1, topK: opts.topK ?? 0, topP: opts.topP ?? 1, seed: opts.seed ?? 0 });
    await prefill();
    const chunk = Math.max(1, opts.chunk ?? 8);
    let produced = 0;
    while (produced < opts.maxTokens) {
      // The cache takes T - position more tokens; the draw after that reads the last logits, then the window slides.
      const steps = Math.min(chunk, opts.maxTokens - produced, T - d.decoder.position + 1);
      for (let i = 0; i < steps; i++) {
        this.sampleStep(d, i);
        if (i + 1 < steps) d.decoder.step(d.tokens);
      }
      const raw = await this.gpu.readback(d.out, steps * 8);
      const ids = new Uint32Array(raw);
      const lps = new Float32Array(raw);
      const tokens: number[] = [];
      const logprobs: number[] = [];
      let stop = false;
      for (let i = 0; i < steps && !stop; i++) {
        tokens.push(ids[2 * i]);
        logprobs.push(lps[2 * i + 1]);
        stop = ids[2 * i] === opts.stopToken;
      }
      context.push(...tokens);
      if (context.length > T) context = context.slice(context.length - T);
      produced += tokens.length;
      yield { tokens, logprobs };
      if (stop || produced >= opts.maxTokens) return;
      // the last token drawn is not in the cache yet
      if (d.decoder.position === T) {
        context = context.slice(context.length - keep);
        await prefill();
      } else {
        d.decoder.step(d.tokens);
      }
    }
  }

  private sampleStep(d: DecoderSet, outRow: number | null): void {
    const S = d.decoder.sequences;
    const enc = this.gpu.device.createCommandEncoder({ label: 'batch sample draw' });
    const pass = enc.beginComputePass();
    d.sampler.encode(pass, d.decoder.logits, d.tokens, d.logprobs);
    pass.end();
    if (outRow !== null) {
      enc.copyBufferToBuffer(d.tokens, 0, d.out, outRow * 8 * S, 4 * S);
      enc.copyBufferToBuffer(d.logprobs, 0, d.out, outRow * 8 * S + 4 * S, 4 * S);
    }
    this.gpu.queue.submit([enc.finish()]);
  }

  private async gpuLoop(d: DecoderSet, seqs: SampledSequence[], opts: BatchSampleOptions): Promise<void> {
    const S = seqs.length;
    const chunk = Math.max(1, opts.chunk ?? 16);
    const done = new Array<boolean>(S).fill(false);
    for (let start = 0; start < opts.maxTokens && done.includes(false); start += chunk) {
      const steps = Math.min(chunk, opts.maxTokens - start);
      for (let i = 0; i < steps; i++) {
        this.sampleStep(d, i);
        if (start + i + 1 < opts.maxTokens) d.decoder.step(d.tokens);
      }
      const raw = await this.gpu.readback(d.out, steps * 8 * S);
      const ids = new Uint32Array(raw);
      const lps = new Float32Array(raw);
      for (let i = 0; i < steps; i++) {
        for (let s = 0; s < S; s++) {
          if (done[s]) continue;
          const id = ids[i * 2 * S + s];
          seqs[s].tokens.push(id);
          seqs[s].logprobs.push(lps[i * 2 * S + S + s]);
          if (id === opts.stopId) done[s] = true;
        }
      }
    }
  }

  private async budgetLoop(d: DecoderSet, seqs: SampledSequence[], prompts: Uint32Array[], opts: BatchSampleOptions): Promise<void> {
    const S = seqs.length;
    const V = this.config.vocabSize;
    const forcer = new BudgetForcer(prompts, { endOfTextId: opts.stopId, ...opts.budget });
    const next = new Uint32Array(S);
    const nextBuf = this.gpu.createBuffer(4 * S, 'budget next tokens');
    try {
      for (let t = 0; t < opts.maxTokens && !forcer.allDone(); t++) {
        const actions = forcer.actions();
        actions.forEach((a, s) => {
          if (a.kind === 'free' && a.ban !== undefined) this.gpu.queue.writeBuffer(d.decoder.logits, 4 * (s * V + a.ban), new Float32Array([-Infinity]));
        });
        this.sampleStep(d, 0);
        const raw = await this.gpu.readback(d.out, 8 * S);
        const ids = new Uint32Array(raw, 0, S);
        const lps = new Float32Array(raw, 4 * S, S);
        for (let s = 0; s < S; s++) {
          const a = actions[s];
          if (a.kind === 'stop') {
            next[s] = opts.padId;
            continue;
          }
          const chosen = a.kind === 'force' ? a.id : ids[s];
          const written = forcer.push(s, chosen);
          seqs[s].tokens.push(written);
          seqs[s].logprobs.push(a.kind === 'force' || written !== chosen ? NaN : lps[s]);
          next[s] = written;
        }
        if (t + 1 < opts.maxTokens && !forcer.allDone()) {
          this.gpu.queue.writeBuffer(nextBuf, 0, next);
          d.decoder.step(nextBuf);
        }
      }
    } finally {
      this.gpu.release(nextBuf);
    }
  }

  destroy(): void {
    this.release();
  }
}
