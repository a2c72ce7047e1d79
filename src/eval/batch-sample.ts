/**
 * Batched sampling with a KV cache: N samples of each of several prompts decode together, one sequence per
 * row. Prompts are left-padded with a pad id (end of text: the model has seen runs of documents) to one length.
 *
 * Without a thinking budget the loop stays on the GPU: each step's sampled tokens feed the next step by a
 * buffer copy, and tokens come back in chunks. With a budget (src/eval/budget.ts) the CPU decides each step
 * (force, ban, replace), so every step reads the tokens back.
 */
import type { Gpu } from '../gpu/device';
import { check } from '../gpu/errors';
import { Sampler, type SamplingSettings } from '../kernels/sample';
import type { ModelConfig } from '../model/config';
import { Decoder } from '../model/decoder';
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
  private readonly decoders = new Map<number, { decoder: Decoder; sampler: Sampler; tokens: GPUBuffer; logprobs: GPUBuffer; out: GPUBuffer }>();

  constructor(
    private readonly gpu: Gpu,
    readonly config: ModelConfig,
    private readonly params: GPUBuffer,
  ) {}

  private rows(S: number) {
    let d = this.decoders.get(S);
    if (!d) {
      const chunkMax = this.config.contextLength;
      d = {
        decoder: new Decoder(this.gpu, this.config, this.params, S),
        sampler: new Sampler(this.gpu, { rows: S, vocab: this.config.vocabSize }, { temperature: 1, seed: 0 }),
        tokens: this.gpu.createBuffer(4 * S, 'batch sample tokens'),
        logprobs: this.gpu.createBuffer(4 * S, 'batch sample logprobs'),
        out: this.gpu.createBuffer(8 * S * chunkMax, 'batch sample out'),
      };
      this.decoders.set(S, d);
    }
    return d;
  }

  async sample(prompts: readonly Uint32Array[], opts: BatchSampleOptions): Promise<BatchSampleResult> {
    const n = opts.samplesPerPrompt;
    check(prompts.length >= 1 && Number.isInteger(n) && n >= 1, 'batch sample: give at least one prompt and samplesPerPrompt >= 1');
    check(prompts.every((p) => p.length >= 1), 'batch sample: every prompt needs at least one token');
    const S = prompts.length * n;
    const P = Math.max(...prompts.map((p) => p.length));
    const Tc = this.config.contextLength;
    check(P + opts.maxTokens <= Tc, () => `batch sample: prompt (${P} tokens) + maxTokens (${opts.maxTokens}) exceed the context length ${Tc}; shorten one`);
    const d = this.rows(S);
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

  private sampleStep(d: ReturnType<BatchSampler['rows']>, outRow: number | null): void {
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

  private async gpuLoop(d: ReturnType<BatchSampler['rows']>, seqs: SampledSequence[], opts: BatchSampleOptions): Promise<void> {
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

  private async budgetLoop(d: ReturnType<BatchSampler['rows']>, seqs: SampledSequence[], prompts: Uint32Array[], opts: BatchSampleOptions): Promise<void> {
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
    for (const d of this.decoders.values()) {
      d.decoder.destroy();
      d.sampler.destroy();
      for (const b of [d.tokens, d.logprobs, d.out]) this.gpu.release(b);
    }
    this.decoders.clear();
  }
}
