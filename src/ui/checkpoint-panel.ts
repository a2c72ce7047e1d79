import { LitElement, css, html, nothing } from 'lit';
import { formatBytes } from './format';
import type { StoredRun } from '../train/storage';
import { downloadBlob } from './download';
import { emit } from './events';

export interface PanelMessage {
  kind: 'info' | 'error';
  text: string;
}

/**
 * @summary Checkpoints: save the current run as a file, load one from a file (refusals shown with their code and
 * message), and the runs autosaved in this browser with their config and step, to resume or delete. On page
 * load it offers to resume the newest autosave.
 * @event spark-save - save the current run (the shell answers with offerDownload).
 * @event spark-load-file - detail { file }: the chosen checkpoint File, unread (the engine checks it before reading it).
 * @event spark-resume-autosave - detail { runId }.
 * @event spark-delete-autosave - detail { runId }.
 * @event spark-refresh-autosaves - list the autosaves again.
 */
export class CheckpointPanel extends LitElement {
  static override properties = {
    autosaves: { attribute: false },
    canSave: { type: Boolean, attribute: 'can-save' },
    canLoad: { type: Boolean, attribute: 'can-load' },
    offer: { attribute: false },
    message: { attribute: false },
    confirming: { state: true },
    lastDownload: { state: true },
  };

  /** Runs autosaved in this browser (IndexedDB), newest first. */
  declare autosaves: StoredRun[];
  /** A run exists and is not training. */
  declare canSave: boolean;
  /** Loading is possible now (the engine is not training or sampling). */
  declare canLoad: boolean;
  /** The autosave offered for resuming when the page opened; null when none or dismissed. */
  declare offer: StoredRun | null;
  /** The last outcome (saved, loaded, or an error with its code). */
  declare message: PanelMessage | null;
  declare confirming: string | null;
  declare lastDownload: { url: string; fileName: string } | null;

  static override styles = css`
    :host { display: block; font-size: 14px; }
    .row { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 8px; }
    button { font: inherit; padding: 4px 12px; }
    input[type='file'] { font: inherit; max-width: 100%; }
    .offer { border: 1px solid #3867d6; background: #eef3ff; border-radius: 6px; padding: 8px; margin-bottom: 8px; }
    .msg { margin: 4px 0 8px 0; font-size: 13px; }
    .msg.error { color: #b00020; }
    ul { list-style: none; padding: 0; margin: 0; display: grid; gap: 6px; }
    li { border: 1px solid var(--spark-border, #dde); border-radius: 6px; padding: 6px 8px; display: flex; flex-wrap: wrap; gap: 4px 10px; align-items: center; justify-content: space-between; }
    .what { min-width: 12rem; flex: 1; }
    .what small { display: block; color: var(--spark-muted, #555); }
    h3 { font-size: 14px; margin: 10px 0 4px 0; }
  `;

  constructor() {
    super();
    this.autosaves = [];
    this.canSave = false;
    this.canLoad = false;
    this.offer = null;
    this.message = null;
    this.confirming = null;
    this.lastDownload = null;
  }

  /** Hands the saved bytes to the browser as a download, and keeps a link to download them again. */
  offerDownload(bytes: Uint8Array, fileName: string): void {
    const blob = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' });
    downloadBlob(blob, fileName);
    if (this.lastDownload) URL.revokeObjectURL(this.lastDownload.url);
    this.lastDownload = { url: URL.createObjectURL(blob), fileName };
    this.message = { kind: 'info', text: `Saved ${fileName} (${formatBytes(bytes.length)}).` };
  }

  private loadFile(input: HTMLInputElement): void {
    const file = input.files?.[0];
    input.value = ''; // the same file can be chosen again
    if (file) emit(this, 'spark-load-file', { file });
  }

  private describe(r: StoredRun): string {
    const when = new Date(r.savedAt);
    const time = Number.isNaN(when.getTime()) ? r.savedAt : when.toLocaleString();
    return `${r.configSummary} · step ${r.step} · saved ${time} · ${formatBytes(r.byteSize)}`;
  }

  override render() {
    const offer = this.offer;
    return html`
      ${offer
        ? html`<div class="offer" role="region" aria-label="Resume an autosaved run" data-testid="resume-offer">
            <div>An autosaved run is in this browser: <strong>${offer.name}</strong> at step ${offer.step}.</div>
            <small>${this.describe(offer)}</small>
            <div class="row" style="margin:6px 0 0 0">
              <button data-testid="resume-newest" ?disabled=${!this.canLoad} @click=${() => emit(this, 'spark-resume-autosave', { runId: offer.id })}>Resume it</button>
              <button @click=${() => (this.offer = null)}>Not now</button>
            </div>
          </div>`
        : nothing}
      <div class="row">
        <button data-testid="save" ?disabled=${!this.canSave} @click=${() => emit(this, 'spark-save', {})}>Save checkpoint</button>
        ${this.lastDownload ? html`<a href=${this.lastDownload.url} download=${this.lastDownload.fileName}>download ${this.lastDownload.fileName} again</a>` : nothing}
      </div>
      <div class="row">
        <label for="load">Load a checkpoint file:</label>
        <input id="load" type="file" accept=".safetensors,.ckpt,.bin,application/octet-stream" data-testid="load-file" ?disabled=${!this.canLoad}
          @change=${(e: Event) => this.loadFile(e.target as HTMLInputElement)} />
      </div>
      <div aria-live="polite">
        ${this.message ? html`<p class="msg ${this.message.kind}" role=${this.message.kind === 'error' ? 'alert' : 'status'} data-testid="checkpoint-message">${this.message.text}</p>` : nothing}
      </div>
      <h3>Autosaved in this browser <button style="font-size:12px;padding:0 6px" @click=${() => emit(this, 'spark-refresh-autosaves', {})} aria-label="Refresh the list of autosaved runs">↻</button></h3>
      ${this.autosaves.length === 0
        ? html`<p class="msg">None yet: runs are saved here every few steps while they train.</p>`
        : html`<ul data-testid="autosaves">
            ${this.autosaves.map((r) => html`<li>
              <div class="what"><strong>${r.name}</strong><small>${this.describe(r)}</small></div>
              <span>
                <button ?disabled=${!this.canLoad} @click=${() => emit(this, 'spark-resume-autosave', { runId: r.id })} aria-label="Resume ${r.name} from step ${r.step}">Resume</button>
                ${this.confirming === r.id
                  ? html`<button @click=${() => { this.confirming = null; emit(this, 'spark-delete-autosave', { runId: r.id }); }} aria-label="Really delete ${r.name}">Really delete</button>
                      <button @click=${() => (this.confirming = null)}>Keep</button>`
                  : html`<button @click=${() => (this.confirming = r.id)} aria-label="Delete ${r.name}">Delete</button>`}
              </span>
            </li>`)}
          </ul>`}
    `;
  }
}

customElements.define('spark-checkpoint-panel', CheckpointPanel);

declare global {
  interface HTMLElementTagNameMap {
    'spark-checkpoint-panel': CheckpointPanel;
  }
}
