import { LitElement, css, html } from 'lit';
import { BUILTIN_CORPORA, userTextTooLarge, validateUserText } from '../data/corpora';
import { formatBytes } from './format';
import { describeError } from './error-text';
import { emit, type CorpusChoice } from './events';

/** The config value that stands for a dropped file (the text travels beside the config, never in it). */
export const USER_CORPUS_ID = 'user';

/**
 * @summary Chooses the training text: a built-in corpus, or a .txt file chosen or dropped here (checked with
 * validateUserText; a binary, UTF-16 or huge file is refused with its message, a huge one before it is read; a
 * file the browser cannot read is named with the reason).
 * @event spark-corpus-change - the choice changed; detail is a CorpusChoice (with the file's text for a file).
 * @csspart drop - the drop zone.
 */
export class CorpusPicker extends LitElement {
  static override properties = {
    value: { type: String },
    file: { state: true },
    problem: { state: true },
    warnings: { state: true },
    dragging: { state: true },
  };

  /** A built-in corpus id, or 'user' for the dropped file. */
  declare value: string;
  /** The accepted file, if any. */
  declare file: { name: string; text: string; bytes: number } | null;
  /** Why the last file was refused. */
  declare problem: string | null;
  declare warnings: string[];
  declare dragging: boolean;

  static override styles = css`
    :host { display: block; }
    label { font-weight: 600; display: block; margin-bottom: 2px; }
    select { font: inherit; width: 100%; padding: 4px; }
    .desc { color: var(--spark-muted, #555); font-size: 13px; margin: 4px 0; }
    .drop { display: block; border: 2px dashed var(--spark-border, #bbc); border-radius: 6px; padding: 8px; text-align: center; margin-top: 6px; font-size: 13px; }
    .drop.over { border-color: #3867d6; background: #eef3ff; }
    input[type='file'] { font: inherit; max-width: 100%; }
    .error { color: #b00020; font-size: 13px; margin-top: 4px; }
    .warn { color: #8a5a00; font-size: 13px; margin: 2px 0 0 0; }
  `;

  constructor() {
    super();
    this.value = BUILTIN_CORPORA[0].id;
    this.file = null;
    this.problem = null;
    this.warnings = [];
    this.dragging = false;
  }

  /** The current choice, with the file's text when the choice is a file. */
  get choice(): CorpusChoice {
    if (this.value === USER_CORPUS_ID && this.file) return { kind: 'user', ...this.file };
    return { kind: 'builtin', id: this.value };
  }

  private choose(value: string): void {
    this.value = value;
    emit(this, 'spark-corpus-change', this.choice);
  }

  /** Checks and takes a chosen or dropped file; a refusal or a failed read shows under the picker. */
  async takeFile(f: File | undefined): Promise<void> {
    if (!f) return;
    const tooLarge = userTextTooLarge(f.name, f.size); // checked before a byte of it is read
    if (tooLarge) {
      this.problem = tooLarge;
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await f.arrayBuffer());
    } catch (e) {
      this.problem = `Could not read ${f.name}: ${describeError(e).replace(/\.$/, '')}. Choose it again; if it was moved or is on a network drive, copy it to this computer first.`;
      return;
    }
    const r = validateUserText(f.name, bytes);
    if (!r.ok) {
      this.problem = r.message;
      return;
    }
    this.problem = null;
    this.warnings = r.warnings;
    this.file = { name: r.name, text: r.text, bytes: r.bytes };
    this.choose(USER_CORPUS_ID);
  }

  private onDrop(e: DragEvent): void {
    e.preventDefault();
    this.dragging = false;
    void this.takeFile(e.dataTransfer?.files[0]);
  }

  override render() {
    const builtin = BUILTIN_CORPORA.find((c) => c.id === this.value);
    const desc = builtin ? `${builtin.description} ${builtin.licence}` : this.file ? `Your file ${this.file.name} (${formatBytes(this.file.bytes)}); it stays in this browser.` : '';
    return html`
      <label for="corpus">Training text</label>
      <select id="corpus" data-testid="corpus" aria-describedby="corpus-desc" @change=${(e: Event) => this.choose((e.target as HTMLSelectElement).value)}>
        ${BUILTIN_CORPORA.map((c) => html`<option value=${c.id} ?selected=${c.id === this.value}>${c.title}</option>`)}
        ${this.file ? html`<option value=${USER_CORPUS_ID} ?selected=${this.value === USER_CORPUS_ID}>Your file: ${this.file.name}</option>` : null}
      </select>
      <p class="desc" id="corpus-desc">${desc}</p>
      <label part="drop" class="drop ${this.dragging ? 'over' : ''}"
        @dragover=${(e: DragEvent) => { e.preventDefault(); this.dragging = true; }}
        @dragleave=${() => (this.dragging = false)}
        @drop=${this.onDrop}>
        Drop a .txt file here, or choose one:
        <input type="file" accept=".txt,text/plain" data-testid="corpus-file" aria-describedby="corpus-problem"
          @change=${(e: Event) => void this.takeFile((e.target as HTMLInputElement).files?.[0])} />
      </label>
      <div id="corpus-problem" aria-live="polite">
        ${this.problem ? html`<div class="error" role="alert" data-testid="corpus-error">${this.problem}</div>` : null}
        ${this.value === USER_CORPUS_ID ? this.warnings.map((w) => html`<p class="warn">${w}</p>`) : null}
      </div>
    `;
  }
}

customElements.define('spark-corpus-picker', CorpusPicker);

declare global {
  interface HTMLElementTagNameMap {
    'spark-corpus-picker': CorpusPicker;
  }
}
