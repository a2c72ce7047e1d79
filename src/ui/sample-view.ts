import { LitElement, css, html, nothing } from 'lit';
import type { SampleOptions } from '../engine/protocol';
import { emit } from './events';

/** Splits text into plain and `<think>…</think>` parts; an unclosed `<think>` runs to the end (still streaming). */
export function splitThinking(text: string): { think: boolean; text: string }[] {
  const out: { think: boolean; text: string }[] = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('<think>', i);
    if (open < 0) {
      out.push({ think: false, text: text.slice(i) });
      break;
    }
    if (open > i) out.push({ think: false, text: text.slice(i, open) });
    const close = text.indexOf('</think>', open + 7);
    out.push({ think: true, text: text.slice(open + 7, close < 0 ? text.length : close) });
    i = close < 0 ? text.length : close + 8;
  }
  return out;
}

type OptionField = 'temperature' | 'topK' | 'topP' | 'maxTokens';
const FIELDS: { key: OptionField; label: string; doc: string; min: number; max: number; int: boolean; step: string }[] = [
  { key: 'temperature', label: 'temperature', doc: '0 picks the likeliest token', min: 0, max: 5, int: false, step: '0.1' },
  { key: 'topK', label: 'top-k', doc: '0 = off', min: 0, max: 100_000, int: true, step: '1' },
  { key: 'topP', label: 'top-p', doc: '1 = off', min: 0.01, max: 1, int: false, step: '0.05' },
  { key: 'maxTokens', label: 'max tokens', doc: '1 to 2048', min: 1, max: 2048, int: true, step: '16' },
];

/**
 * @summary Samples from the current run: a prompt, temperature / top-k / top-p / max tokens, and the text as it
 * streams in; text between `<think>` and `</think>` is shown apart, in the reasoning style.
 * @event spark-sample - detail { prompt, options }: the user asked for a sample.
 * @csspart output - the sampled text.
 */
export class SampleView extends LitElement {
  static override properties = {
    disabled: { type: Boolean },
    running: { type: Boolean },
    prompt: { type: String },
    values: { state: true },
    text: { state: true },
    note: { state: true },
    error: { state: true },
  };

  /** True when the engine cannot sample now (no run, or training). */
  declare disabled: boolean;
  /** True while a sample streams in. */
  declare running: boolean;
  /** The prompt text. */
  declare prompt: string;
  declare values: Record<OptionField, string>;
  /** The sampled text so far (the prompt not included). */
  declare text: string;
  /** A line under the output (tokens and speed, or why the button is off). */
  declare note: string;
  declare error: string;

  static override styles = css`
    :host { display: block; }
    textarea { font: 14px ui-monospace, monospace; width: 100%; box-sizing: border-box; min-height: 3.2em; resize: vertical; }
    .opts { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: 6px 0; align-items: end; }
    .opts label { display: flex; flex-direction: column; font-size: 12px; font-weight: 600; }
    .opts input { font: inherit; width: 6.5rem; padding: 2px 4px; }
    .opts input[aria-invalid='true'] { border: 2px solid #b00020; }
    button { font: inherit; font-weight: 600; padding: 5px 14px; }
    .error { color: #b00020; font-size: 13px; }
    .out { white-space: pre-wrap; font: 14px/1.5 ui-monospace, monospace; border: 1px solid var(--spark-border, #ccd); border-radius: 6px; padding: 8px; min-height: 4em; max-height: 22em; overflow: auto; background: #fcfcfe; }
    .prompt { color: #777; }
    .think { display: inline; color: #5b3f99; background: #f1ecfb; font-style: italic; border-radius: 3px; padding: 0 2px; }
    .think::before { content: 'thinking: '; font-weight: 600; font-style: normal; font-size: 11px; text-transform: uppercase; letter-spacing: 0.04em; }
    .note { font-size: 12px; color: var(--spark-muted, #555); margin: 4px 0 0 0; }
  `;

  constructor() {
    super();
    this.disabled = true;
    this.running = false;
    this.prompt = 'Once upon a time';
    this.values = { temperature: '0.8', topK: '40', topP: '0.95', maxTokens: '200' };
    this.text = '';
    this.note = '';
    this.error = '';
  }

  /** Clears the output for a new sample. */
  begin(): void {
    this.text = '';
    this.note = '';
    this.error = '';
    this.running = true;
  }

  /** Appends streamed text. */
  appendText(chunk: string): void {
    this.text += chunk;
  }

  /** Marks the sample finished. */
  finish(tokens: number, tokensPerSecond: number): void {
    this.running = false;
    this.note = `${tokens} tokens at ${tokensPerSecond.toFixed(1)} tokens/s`;
  }

  /** Shows why sampling failed. */
  fail(message: string): void {
    this.running = false;
    this.error = message;
  }

  /** A prompt that opens `<think>` without closing it makes the sample start inside the reasoning. */
  private thinkingOpen(): boolean {
    return this.prompt.lastIndexOf('<think>') > this.prompt.lastIndexOf('</think>');
  }

  private problem(key: OptionField): string | null {
    const f = FIELDS.find((x) => x.key === key)!;
    const raw = this.values[key].trim();
    const v = Number(raw);
    if (raw === '' || !Number.isFinite(v)) return `${f.label} must be a number`;
    if (f.int && !Number.isInteger(v)) return `${f.label} must be a whole number`;
    if (v < f.min || v > f.max) return `${f.label} must be from ${f.min} to ${f.max}`;
    return null;
  }

  private submit(e: Event): void {
    e.preventDefault();
    if (this.disabled || this.running || FIELDS.some((f) => this.problem(f.key))) return;
    const n = (k: OptionField) => Number(this.values[k]);
    const options: SampleOptions = { maxTokens: n('maxTokens'), temperature: n('temperature'), topK: n('topK'), topP: n('topP') };
    emit(this, 'spark-sample', { prompt: this.prompt, options });
  }

  override render() {
    const problems = FIELDS.map((f) => this.problem(f.key)).filter(Boolean);
    return html`
      <form @submit=${this.submit}>
        <label for="prompt" style="font-weight:600;font-size:13px">Prompt</label>
        <textarea id="prompt" data-testid="prompt" .value=${this.prompt} @input=${(e: Event) => (this.prompt = (e.target as HTMLTextAreaElement).value)}
          @keydown=${(e: KeyboardEvent) => e.key === 'Enter' && (e.ctrlKey || e.metaKey) && this.submit(e)}></textarea>
        <div class="opts">
          ${FIELDS.map((f) => {
            const bad = this.problem(f.key);
            return html`<label title=${f.doc}>${f.label}
              <input type="text" inputmode="decimal" data-testid="sample-${f.key}" .value=${this.values[f.key]} aria-invalid=${bad ? 'true' : 'false'}
                @input=${(e: Event) => (this.values = { ...this.values, [f.key]: (e.target as HTMLInputElement).value })} /></label>`;
          })}
          <button type="submit" data-testid="sample" ?disabled=${this.disabled || this.running || problems.length > 0}>${this.running ? 'Sampling…' : 'Sample'}</button>
        </div>
        ${problems.length ? html`<div class="error" role="alert">${problems.join('; ')}</div>` : nothing}
      </form>
      <div class="out" part="output" data-testid="sample-output" aria-live="off" aria-busy=${this.running ? 'true' : 'false'}>${this.text || this.running
        ? html`<span class="prompt">${this.prompt}</span>${splitThinking(this.thinkingOpen() ? `<think>${this.text}` : this.text).map((p) => (p.think ? html`<span class="think" data-testid="think">${p.text}</span>` : p.text))}`
        : html`<span class="prompt">${this.disabled ? 'Train or load a run, then sample from it here.' : 'Press Sample (or Ctrl+Enter in the prompt).'}</span>`}</div>
      ${this.error ? html`<div class="error" role="alert" data-testid="sample-error">${this.error}</div>` : nothing}
      <p class="note" role="status">${this.note}</p>
    `;
  }
}

customElements.define('spark-sample-view', SampleView);

declare global {
  interface HTMLElementTagNameMap {
    'spark-sample-view': SampleView;
  }
}
