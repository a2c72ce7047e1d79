import { LitElement, css, html, nothing } from 'lit';
import { formatBytes, si } from './format';
import type { RunSize } from './presets';

/** What the confirmation states: the run's size, the largest preset's, and the memory budget. */
export interface ConfirmRunInfo {
  size: RunSize;
  largestPreset: RunSize;
  /** The memory budget runs are checked against, if known. */
  budgetBytes?: number;
}

/**
 * @summary Asks before training a run far beyond the presets that came from a link (a stranger's link can ask for
 * a model that takes gigabytes of GPU memory): states its parameters and estimated training memory against the
 * largest preset and the memory budget. A modal dialog; "Go back" has the focus, Escape also goes back.
 * @csspart dialog - the dialog box.
 */
export class ConfirmRun extends LitElement {
  static override properties = { info: { state: true } };

  /** What is being confirmed, or null when the dialog is closed. */
  declare info: ConfirmRunInfo | null;
  private answer: ((train: boolean) => void) | null = null;

  static override styles = css`
    dialog { max-width: 34rem; border: 2px solid #d99a00; border-radius: 8px; padding: 14px 18px; font: 15px/1.45 system-ui, sans-serif; color: #1b1b22; }
    dialog::backdrop { background: rgb(0 0 0 / 35%); }
    h2 { font-size: 17px; margin: 0 0 8px 0; }
    p { margin: 0 0 8px 0; }
    .over { color: #b00020; font-weight: 600; }
    .buttons { display: flex; gap: 10px; justify-content: flex-end; margin-top: 12px; }
    button { font: inherit; font-weight: 600; padding: 5px 16px; border-radius: 6px; border: 1px solid #99a; background: #f4f5fa; }
    button.primary { background: #3867d6; border-color: #3867d6; color: #fff; }
    button:focus-visible { outline: 3px solid #f39c12; outline-offset: 2px; }
  `;

  constructor() {
    super();
    this.info = null;
  }

  /** Opens the dialog; resolves true for "Train it", false for "Go back" (or Escape). */
  async ask(info: ConfirmRunInfo): Promise<boolean> {
    this.answer?.(false);
    this.info = info;
    await this.updateComplete;
    const dialog = this.renderRoot.querySelector('dialog')!;
    if (!dialog.open) dialog.showModal(); // focuses "Go back" (autofocus)
    return new Promise((resolve) => (this.answer = resolve));
  }

  private close(train: boolean): void {
    const answer = this.answer;
    this.answer = null;
    this.renderRoot.querySelector('dialog')?.close();
    this.info = null;
    answer?.(train);
  }

  override render() {
    const i = this.info;
    if (!i) return html`<dialog part="dialog"></dialog>`;
    const { size, largestPreset: top, budgetBytes } = i;
    const over = budgetBytes !== undefined && size.memoryBytes > budgetBytes;
    return html`<dialog part="dialog" aria-labelledby="confirm-title" aria-describedby="confirm-size" data-testid="confirm-run"
      @cancel=${(e: Event) => { e.preventDefault(); this.close(false); }}>
      <h2 id="confirm-title">Train this much bigger run?</h2>
      <p id="confirm-size" data-testid="confirm-size">The settings from the link ask for a model of <strong>${si(size.params)} parameters</strong>
        that needs about <strong>${formatBytes(size.memoryBytes)}</strong> of GPU memory to train: far beyond the presets (the largest has
        ${si(top.params)} parameters and needs ${formatBytes(top.memoryBytes)}).</p>
      ${budgetBytes === undefined ? nothing : over
        ? html`<p class="over" data-testid="confirm-over">That is over your GPU memory budget of ${formatBytes(budgetBytes)}: the engine will refuse it unless you raise the budget.</p>`
        : html`<p>It fits your GPU memory budget of ${formatBytes(budgetBytes)}, but may still take long to train or slow this computer.</p>`}
      <p>Only train it if you trust where the link came from.</p>
      <div class="buttons">
        <button data-testid="confirm-back" autofocus @click=${() => this.close(false)}>Go back</button>
        <button class="primary" data-testid="confirm-train" @click=${() => this.close(true)}>Train it</button>
      </div>
    </dialog>`;
  }
}

customElements.define('spark-confirm-run', ConfirmRun);

declare global {
  interface HTMLElementTagNameMap {
    'spark-confirm-run': ConfirmRun;
  }
}
