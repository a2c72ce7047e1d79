import { LitElement, css, html, nothing } from 'lit';
import { findTask, TASKS } from '../data/tasks';
import type { SweepConfig } from '../eval/sweep';
import { resolveSweepConfig, sweepSchema } from '../eval/sweep-config';
import { ConfigError, resolve } from '../model/validate';
import { parseList } from './sweep-data';

type ScalarKey = Exclude<keyof typeof sweepSchema, 'task' | 'difficulty'>;
type ListKey = 'ns' | 'budgets' | 'extends';
type Key = keyof typeof sweepSchema | ListKey;

const LIST_FIELDS: Record<ListKey, { label: string; doc: string; initial: string }> = {
  ns: { label: 'N values', doc: 'best-of-N: samples per problem, e.g. 1, 2, 4, 8', initial: '1, 2, 4, 8' },
  budgets: { label: 'thinking caps B', doc: 'thinking budget: cap at B tokens (one sample each)', initial: '0, 4, 8, 16, 32' },
  extends: { label: 'extend to M', doc: 'thinking budget: think at least M tokens; empty for none', initial: '' },
};
const LABELS: Record<ScalarKey, string> = {
  problems: 'problems', reasoners: 'reasoners', maxThinkingTokens: 'max thinking', maxAnswerTokens: 'max answer',
  temperature: 'temperature', topK: 'top-k', topP: 'top-p', seed: 'seed',
};
const ORDER: Key[] = ['task', 'difficulty', 'problems', 'ns', 'budgets', 'extends', 'reasoners', 'maxThinkingTokens', 'maxAnswerTokens', 'temperature', 'topK', 'topP', 'seed'];
/** Shown with the problems field: sweeps score on problems no training corpus contains (src/data/tasks/split.ts). */
const HELD_OUT_NOTE = 'Problems are drawn from a held-out set the training corpus never contains.';
const isList = (k: Key): k is ListKey => k in LIST_FIELDS;
const fieldOf = (k: Key) => `sweep.${k}`;
const idOf = (k: Key) => `sw-${k}`;

/** Where the sweep is: how many of its batches are done, and what it runs now. */
export interface SweepProgress {
  done: number;
  total: number;
  label: string;
}

export interface SweepRequestDetail {
  /** The validated config (resolveSweepConfig's output): what the app passes to EngineClient.sweep. */
  config: SweepConfig;
}

/**
 * @summary The test-time sweep's settings, generated from sweepSchema (task, difficulty, problems, the N / budget /
 * extend lists, reasoners, sampling), validated inline by resolveSweepConfig with each message at its field; a
 * "Run sweep" button and the sweep's progress.
 * @event spark-sweep-request - detail { config }: the user asked for a sweep with this validated config.
 * @csspart form - the settings grid.
 * @csspart progress - the progress bar and its label.
 */
export class SweepPanel extends LitElement {
  static override properties = {
    running: { type: Boolean },
    hasRun: { type: Boolean, attribute: 'has-run' },
    progress: { attribute: false },
    draft: { state: true },
    errors: { state: true },
  };

  /** True while a sweep runs: the button is off and the progress bar shows. */
  declare running: boolean;
  /** True when the engine has a run to sweep (else the button is off and says why). */
  declare hasRun: boolean;
  /** The latest 'progress' event of the running sweep, or null. */
  declare progress: SweepProgress | null;
  /** Raw form text by key (schema keys and the lists). */
  declare draft: Record<Key, string>;
  /** Messages by field ('sweep.problems', or 'sweep' for the whole form). */
  declare errors: Map<string, string>;

  static override styles = css`
    :host { display: block; }
    form { display: grid; grid-template-columns: repeat(auto-fill, minmax(9.5rem, 1fr)); gap: 6px 10px; }
    .field label { display: block; font-size: 13px; font-weight: 600; }
    .field input, .field select { font: inherit; width: 100%; box-sizing: border-box; padding: 3px 5px; }
    .field small { display: block; color: var(--spark-muted, #666); font-size: 11.5px; line-height: 1.3; }
    .field.invalid input, .field.invalid select { border: 2px solid #b00020; background: #fff6f6; }
    .error { color: #b00020; font-size: 12px; line-height: 1.3; display: block; }
    .error::before { content: '⚠ '; }
    .actions { grid-column: 1 / -1; display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; }
    button { font: inherit; font-weight: 600; padding: 5px 16px; }
    .why { font-size: 13px; color: var(--spark-muted, #555); }
    .progress { display: flex; gap: 10px; align-items: center; font-size: 13px; flex: 1 1 16rem; }
    progress { flex: 1; min-width: 8rem; height: 1em; }
    button:focus-visible, select:focus-visible, input:focus-visible { outline: 3px solid #f39c12; outline-offset: 1px; }
  `;

  constructor() {
    super();
    this.running = false;
    this.hasRun = false;
    this.progress = null;
    this.errors = new Map();
    const draft = {} as Record<Key, string>;
    for (const k of ORDER) draft[k] = isList(k) ? LIST_FIELDS[k].initial : String(sweepSchema[k].default);
    this.draft = draft;
    this.validate();
  }

  /** The validated config of the form, or null while any field shows an error. */
  get config(): SweepConfig | null {
    return this.check().config;
  }

  /** Fills the form from a (partial) sweep config; keys it does not set keep their current text. */
  setConfig(config: Partial<SweepConfig>): void {
    const draft = { ...this.draft };
    for (const k of ORDER) {
      const v = (config as Record<string, unknown>)[k];
      if (v !== undefined) draft[k] = Array.isArray(v) ? v.join(', ') : String(v);
    }
    this.draft = draft;
    this.validate();
  }

  /** Shows an engine error at its field ('sweep.problems'), focusing it; false when no field of the form has that name. */
  showFieldError(field: string, message: string): boolean {
    const key = ORDER.find((k) => fieldOf(k) === field);
    this.errors = new Map(this.errors).set(key ? field : 'sweep', message);
    if (key) void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>(`#${idOf(key)}`)?.focus());
    return key !== undefined;
  }

  /** The form as sweep input; text that is not a number becomes a message at its field. */
  private build(): { input: Record<string, unknown>; local: Map<string, string> } {
    const input: Record<string, unknown> = {};
    const local = new Map<string, string>();
    for (const k of ORDER) {
      const raw = this.draft[k].trim();
      if (k === 'task') input.task = raw;
      else if (isList(k)) {
        const r = parseList(raw);
        if (r.ok) input[k] = r.values;
        else local.set(fieldOf(k), `${fieldOf(k)}: "${r.bad.slice(0, 20)}" is not a number (${LIST_FIELDS[k].doc})`);
      } else if (raw !== '') {
        const v = Number(raw);
        if (Number.isFinite(v)) input[k] = v;
        else local.set(fieldOf(k), `${fieldOf(k)} must be a number (${sweepSchema[k].doc}), got "${raw.slice(0, 20)}"`);
      }
    }
    return { input, local };
  }

  /** Checks each field alone (so several can show errors), then the whole config for cross-field rules. */
  private check(): { config: SweepConfig | null; errors: Map<string, string> } {
    const { input, local } = this.build();
    const errors = new Map(local);
    const note = (e: unknown) => errors.set(e instanceof ConfigError ? e.field : 'sweep', e instanceof Error ? e.message : String(e));
    for (const [k, v] of Object.entries(input)) {
      if (errors.has(fieldOf(k as Key))) continue;
      try {
        if (isList(k as Key)) resolveSweepConfig({ problems: 1, [k]: v });
        else resolve({ [k]: sweepSchema[k as keyof typeof sweepSchema] }, { [k]: v }, 'sweep');
      } catch (e) {
        note(e);
      }
    }
    let config: SweepConfig | null = null;
    if (errors.size === 0) {
      try {
        config = resolveSweepConfig(input);
      } catch (e) {
        note(e);
      }
    }
    return { config, errors };
  }

  /** Checks the form and shows its messages; the config, or null when something is wrong. */
  private validate(): SweepConfig | null {
    const { config, errors } = this.check();
    this.errors = errors;
    return config;
  }

  private edit(k: Key, value: string): void {
    this.draft = { ...this.draft, [k]: value };
    this.validate();
  }

  private submit(e: Event): void {
    e.preventDefault();
    if (this.running || !this.hasRun) return;
    const config = this.validate();
    if (!config) return;
    this.dispatchEvent(new CustomEvent<SweepRequestDetail>('spark-sweep-request', { detail: { config }, bubbles: true, composed: true }));
  }

  private renderField(k: Key) {
    const id = idOf(k);
    const err = this.errors.get(fieldOf(k));
    const describedBy = `${id}-doc${err ? ` ${id}-err` : ''}`;
    const error = err ? html`<span class="error" id="${id}-err" data-testid="sweep-field-error">${err}</span>` : nothing;
    const common = { invalid: err ? 'true' : 'false' };
    if (k === 'task' || k === 'difficulty') {
      const task = findTask(this.draft.task) ?? TASKS[0];
      const options = k === 'task'
        ? TASKS.map((t) => ({ value: t.id, text: t.name }))
        : task.difficulties.map((d) => ({ value: String(d), text: `${d}: ${task.describeDifficulty(d)}` }));
      return html`<div class="field ${err ? 'invalid' : ''}" data-field=${fieldOf(k)}><label for=${id}>${k}</label>
        <select id=${id} aria-invalid=${common.invalid} aria-describedby=${describedBy} @change=${(e: Event) => this.edit(k, (e.target as HTMLSelectElement).value)}>
          ${options.map((o) => html`<option value=${o.value} ?selected=${o.value === this.draft[k]}>${o.text}</option>`)}
        </select><small id="${id}-doc">${k === 'task' ? task.description : sweepSchema.difficulty.doc}</small>${error}</div>`;
    }
    const label = isList(k) ? LIST_FIELDS[k].label : LABELS[k];
    const doc = isList(k) ? LIST_FIELDS[k].doc : `${sweepSchema[k].doc} (default ${sweepSchema[k].default})${k === 'problems' ? `. ${HELD_OUT_NOTE}` : ''}`;
    return html`<div class="field ${err ? 'invalid' : ''}" data-field=${fieldOf(k)}><label for=${id}>${label}</label>
      <input type="text" id=${id} inputmode=${isList(k) ? 'text' : 'decimal'} autocomplete="off" spellcheck="false" .value=${this.draft[k]}
        placeholder=${isList(k) ? 'none' : String(sweepSchema[k].default)} aria-invalid=${common.invalid} aria-describedby=${describedBy}
        @input=${(e: Event) => this.edit(k, (e.target as HTMLInputElement).value)} /><small id="${id}-doc">${doc}</small>${error}</div>`;
  }

  override render() {
    const general = [...this.errors].filter(([f]) => !ORDER.some((k) => fieldOf(k) === f));
    const blocked = this.running || !this.hasRun || this.errors.size > 0;
    const why = this.running ? '' : !this.hasRun ? 'Train or load a run first, then sweep it.' : this.errors.size ? 'Fix the highlighted settings.' : '';
    const p = this.progress;
    return html`
      <form part="form" @submit=${this.submit} aria-label="Sweep settings">
        ${ORDER.map((k) => this.renderField(k))}
        ${general.map(([f, m]) => html`<p class="error" role="alert" style="grid-column: 1 / -1">${f}: ${m}</p>`)}
        <div class="actions">
          <button type="submit" data-testid="run-sweep" ?disabled=${blocked} aria-describedby="sw-why">${this.running ? 'Sweeping…' : 'Run sweep'}</button>
          <span class="why" id="sw-why">${why}</span>
          ${this.running || p ? html`<div class="progress" part="progress">
            <progress id="sw-progress" max=${Math.max(1, p?.total ?? 1)} .value=${p?.done ?? 0} aria-label="Sweep progress"
              aria-valuetext=${p ? `${p.done} of ${p.total}: ${p.label}` : 'starting'}></progress>
            <span role="status" data-testid="sweep-progress-label">${p ? `${p.done}/${p.total} · ${p.label}` : 'starting…'}</span></div>` : nothing}
        </div>
      </form>
    `;
  }
}

customElements.define('spark-sweep-panel', SweepPanel);

declare global {
  interface HTMLElementTagNameMap {
    'spark-sweep-panel': SweepPanel;
  }
  interface HTMLElementEventMap {
    'spark-sweep-request': CustomEvent<SweepRequestDetail>;
  }
}
