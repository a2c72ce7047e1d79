import { LitElement, css, html, nothing } from 'lit';
import { emit } from './events';
import { defaultMemoryBudget } from '../model/memory';
import { formatBytes } from './format';

const MiB = 2 ** 20;
/** Where the user's own budget is remembered (MiB, as typed); absent: the default for the GPU. */
export const MEMORY_BUDGET_KEY = 'spark-lab:memory-budget-mib';
const MAX_BUDGET_MIB = 1024 * 1024; // 1 TiB: far above any GPU, below anything absurd

/**
 * @summary The GPU memory budget: runs whose estimated training memory is above it are refused before anything
 * is allocated. Its default comes from the adapter's limits (WebGPU does not tell the memory size); the user can
 * set their own in MiB, remembered in this browser. Shows the current settings' estimate against it.
 * @event spark-memory-budget-change - detail { bytes, valid }: after every edit, and once the limits are known.
 */
export class MemoryBudget extends LitElement {
  static override properties = {
    limits: { attribute: false },
    needBytes: { attribute: false },
    text: { state: true },
  };

  /** The adapter's limits from the engine's 'ready' event; null until then. */
  declare limits: Record<string, number> | null;
  /** Estimated training memory of the form's settings, or null when they are not valid. */
  declare needBytes: number | null;
  /** What the user typed (MiB); '' means the default. */
  declare text: string;

  static override styles = css`
    :host { display: block; font-size: 13px; border-top: 1px solid var(--spark-border, #dde); padding-top: 6px; margin-top: 4px; }
    .row { display: flex; flex-wrap: wrap; gap: 4px 8px; align-items: center; }
    label { font-weight: 600; }
    input { font: inherit; width: 7rem; padding: 2px 4px; }
    input[aria-invalid='true'] { border: 2px solid #b00020; background: #fff6f6; }
    button { font: inherit; font-size: 12px; padding: 1px 8px; }
    small { display: block; color: var(--spark-muted, #555); line-height: 1.35; margin-top: 2px; }
    .error { color: #b00020; display: block; }
    .over { color: #8a5a00; font-weight: 600; }
  `;

  constructor() {
    super();
    this.limits = null;
    this.needBytes = null;
    this.text = readStored();
  }

  /** The budget from the limits alone, or undefined before the engine reported them. */
  get defaultBytes(): number | undefined {
    const l = this.limits;
    if (!l || !(l.maxBufferSize > 0)) return undefined;
    return defaultMemoryBudget({ maxBufferSize: l.maxBufferSize });
  }

  /** Why the typed budget is not usable, or null. */
  get problem(): string | null {
    const t = this.text.trim();
    if (t === '') return null;
    const v = Number(t);
    if (!Number.isFinite(v)) return `the memory budget must be a number of MiB, got "${t.slice(0, 20)}"`;
    if (v < 1 || v > MAX_BUDGET_MIB) return `the memory budget must be from 1 to ${MAX_BUDGET_MIB} MiB, got ${v}`;
    return null;
  }

  /** The budget runs are checked against (bytes): the user's, else the default; undefined while neither is known or the text is wrong. */
  get bytes(): number | undefined {
    if (this.problem) return undefined;
    const t = this.text.trim();
    return t === '' ? this.defaultBytes : Math.round(Number(t) * MiB);
  }

  get valid(): boolean {
    return this.problem === null;
  }

  protected override updated(changed: Map<string, unknown>): void {
    if (changed.has('limits') || changed.has('text')) emit(this, 'spark-memory-budget-change', { bytes: this.bytes, valid: this.valid });
  }

  private edit(text: string): void {
    this.text = text;
    if (!this.valid) return; // a wrong text is shown, never remembered
    try {
      if (text.trim() === '') localStorage.removeItem(MEMORY_BUDGET_KEY);
      else localStorage.setItem(MEMORY_BUDGET_KEY, text.trim());
    } catch {
      // storage refused (private mode, quota): the budget still applies to this page
    }
  }

  override render() {
    const def = this.defaultBytes;
    const budget = this.bytes;
    const problem = this.problem;
    const need = this.needBytes;
    const defText = def === undefined ? 'known once the engine has a GPU' : `${Math.round(def / MiB)} MiB, from this GPU's limits`;
    return html`
      <div class="row">
        <label for="budget">GPU memory budget (MiB)</label>
        <input id="budget" type="text" inputmode="numeric" autocomplete="off" data-testid="memory-budget" aria-describedby="budget-doc${problem ? ' budget-err' : ''}"
          aria-invalid=${problem ? 'true' : 'false'} placeholder=${def === undefined ? 'default' : String(Math.round(def / MiB))} .value=${this.text}
          @input=${(e: Event) => this.edit((e.target as HTMLInputElement).value)} />
        <button data-testid="memory-budget-default" ?disabled=${this.text === ''} @click=${() => this.edit('')}>Use the default</button>
      </div>
      ${problem ? html`<span class="error" id="budget-err" role="alert">${problem}</span>` : nothing}
      <small id="budget-doc" data-testid="memory-budget-doc">Runs estimated to need more GPU memory than this are refused before anything is allocated
        (WebGPU does not tell a GPU's memory size). Default: ${defText}.
        ${need !== null ? html`These settings need about <strong>${formatBytes(need)}</strong> to train${budget !== undefined && need > budget
          ? html`: <span class="over" data-testid="memory-over-budget">over the ${formatBytes(budget)} budget; they will be refused</span>` : ''}.` : nothing}</small>
    `;
  }
}

function readStored(): string {
  try {
    return localStorage.getItem(MEMORY_BUDGET_KEY) ?? '';
  } catch {
    return '';
  }
}

customElements.define('spark-memory-budget', MemoryBudget);

declare global {
  interface HTMLElementTagNameMap {
    'spark-memory-budget': MemoryBudget;
  }
}
