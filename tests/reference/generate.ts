/**
 * The slow reference for KV-cache sampling (src/eval/batch-sample.ts `stream`): one sequence with the training
 * model, no cache, each token rerunning the forward over the padded window (positions after the cursor do not
 * affect earlier ones, the attention being causal). The window holds the text's last contextLength tokens; when
 * a draw would need one more, it keeps the last half context (with the new token) and goes on.
 * The sampled token is copied into the next input position by the GPU itself; tokens come back in chunks.
 */
import type { Gpu } from '../../src/gpu/device';
import { Sampler, type SamplingSettings } from '../../src/kernels/sample';
import type { ModelConfig } from '../../src/model/config';
import { Model } from '../../src/model/model';

export interface GenerateOptions extends Partial<SamplingSettings> {
  maxTokens: number;
  /** Tokens per readback (streaming granularity). */
  chunk?: number;
  /** Stop after this token id (e.g. end of text). */
  stopToken?: number;
}

export class Generator {
  private readonly model: Model;
  private readonly sampler: Sampler;
  private readonly row: GPUBuffer;
  private readonly token: GPUBuffer;
  private readonly logprob: GPUBuffer;
  private readonly out: GPUBuffer;
  readonly T: number;

  constructor(
    private readonly gpu: Gpu,
    readonly config: ModelConfig,
    params: GPUBuffer,
  ) {
    this.T = config.contextLength;
    this.model = new Model(gpu, config, { B: 1, T: this.T }, 1, params);
    this.sampler = new Sampler(gpu, { rows: 1, vocab: config.vocabSize });
    this.row = gpu.createBuffer(4 * config.vocabSize, 'sample logits row');
    this.token = gpu.createBuffer(4, 'sampled token');
    this.logprob = gpu.createBuffer(4, 'sampled logprob');
    this.out = gpu.createBuffer(8 * this.T, 'generated tokens and logprobs');
  }

  /** Yields chunks of generated token ids (and their log-probabilities) after the prompt. */
  async *generate(prompt: Uint32Array, opts: GenerateOptions): AsyncGenerator<{ tokens: number[]; logprobs: number[] }> {
    const { gpu, model, T } = this;
    const V = this.config.vocabSize;
    if (prompt.length === 0) throw new RangeError('the prompt is empty: give at least one token');
    let window = Array.from(prompt.subarray(Math.max(0, prompt.length - T)));
    this.sampler.setSettings({ temperature: opts.temperature ?? 1, topK: opts.topK ?? 0, topP: opts.topP ?? 1, seed: opts.seed ?? 0 });
    const chunk = Math.max(1, opts.chunk ?? 8);
    let produced = 0;
    while (produced < opts.maxTokens) {
      // Re-anchor the window on the CPU when it overflows (slides by half a context). The draw at a full window
      // comes first, so where the window slides does not depend on the chunk size.
      if (window.length > T) window = window.slice(window.length - Math.max(1, Math.floor(T / 2)));
      const inputs = new Uint32Array(T);
      inputs.set(window);
      model.setBatch(inputs, new Uint32Array(T));
      const steps = Math.min(chunk, opts.maxTokens - produced, T - window.length + 1);
      const enc = gpu.device.createCommandEncoder({ label: 'generate' });
      for (let i = 0; i < steps; i++) {
        const pos = window.length - 1 + i;
        const p1 = enc.beginComputePass();
        model.forward(p1);
        p1.end();
        enc.copyBufferToBuffer(model.logits, pos * V * 4, this.row, 0, V * 4);
        const p2 = enc.beginComputePass();
        this.sampler.encode(p2, this.row, this.token, this.logprob);
        p2.end();
        if (pos + 1 < T) enc.copyBufferToBuffer(this.token, 0, model.tokens, (pos + 1) * 4, 4);
        enc.copyBufferToBuffer(this.token, 0, this.out, i * 8, 4);
        enc.copyBufferToBuffer(this.logprob, 0, this.out, i * 8 + 4, 4);
      }
      gpu.queue.submit([enc.finish()]);
      const raw = await gpu.readback(this.out, steps * 8);
      const ids = new Uint32Array(raw);
      const lps = new Float32Array(raw);
      const tokens: number[] = [];
      const logprobs: number[] = [];
      let stop = false;
      for (let i = 0; i < steps; i++) {
        tokens.push(ids[2 * i]);
        logprobs.push(lps[2 * i + 1]);
        if (opts.stopToken !== undefined && ids[2 * i] === opts.stopToken) {
          stop = true;
          break;
        }
      }
      window.push(...tokens);
      produced += tokens.length;
      yield { tokens, logprobs };
      if (stop) return;
    }
  }

  destroy(): void {
    this.model.destroy();
    this.sampler.destroy();
    for (const b of [this.row, this.token, this.logprob, this.out]) this.gpu.release(b);
  }
}
