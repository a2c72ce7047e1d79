import { LitElement, css, html, nothing } from 'lit';
import { BUILTIN_CORPORA } from '../data/corpora';
import { countParams, flopsPerToken } from '../model/config';
import { ConfigError, resolve, type FieldSpec } from '../model/validate';
import { resolveRunConfig, seedSpec } from '../train/config';
import { CorpusPicker, USER_CORPUS_ID } from './corpus-picker';
import { emit } from './events';
import { si } from './format';
import { PRESETS } from './presets';
import { nonDefaultConfig, SECTION_SCHEMAS, type PartialRunConfig, type SectionName } from './url-config';
import './corpus-picker';

const SECTION_TITLES: Record<SectionName, string> = { model: 'Model', data: 'Data', optim: 'Optimiser', train: 'Training' };
const SECTION_ORDER: SectionName[] = ['model', 'train', 'optim', 'data'];
// vocabSize follows the tokenizer and the corpus has its own picker: neither is a form field.
const HIDDEN = new Set(['model.vocabSize', 'data.corpus']);

const FIELD_PATHS = new Set([
  'seed',
  ...SECTION_ORDER.flatMap((s) => Object.keys(SECTION_SCHEMAS[s]).map((k) => `${s}.${k}`)).filter((p) => !HIDDEN.has(p)),
]);

type Draft = Map<string, string | boolean>;
const fieldId = (path: string) => `f-${path.replace('.', '-')}`;

/**
 * @summary The run's config: presets first, then every setting generated from the config schemas with inline
 * validation (messages name the field), and the corpus picker.
 * @event spark-config-change - after every edit; detail { config (non-default fields), valid }.
 * @event spark-corpus-change - from the corpus picker inside.
 * @csspart presets - the preset choice.
 */
export class ConfigPanel extends LitElement {
  static override properties = {
    draft: { state: true },
    errors: { state: true },
  };

  /** Raw form values by dotted path ('model.nLayer'); absent means default. */
  declare draft: Draft;
  /** Messages by dotted path ('model.nEmbd', 'seed'). */
  declare errors: Map<string, string>;

  static override styles = css`
    :host { display: block; }
    fieldset { border: none; padding: 0; margin: 0 0 8px 0; }
    legend { font-weight: 600; padding: 0; margin-bottom: 4px; }
    .presets { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: 6px; }
    .preset { display: block; border: 1px solid var(--spark-border, #ccd); border-radius: 6px; padding: 6px 8px; cursor: pointer; font-size: 13px; }
    .preset:has(input:checked) { border-color: #3867d6; background: #eef3ff; }
    .preset:has(input:focus-visible) { outline: 2px solid #3867d6; outline-offset: 1px; }
    .preset strong { font-size: 14px; }
    .preset span { display: block; color: var(--spark-muted, #555); }
    .summary { font-size: 13px; color: var(--spark-muted, #555); margin: 6px 0; }
    details { border-top: 1px solid var(--spark-border, #dde); padding: 4px 0; }
    summary { cursor: pointer; font-weight: 600; padding: 2px 0; }
    .fields { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: 6px 10px; padding: 4px 0; }
    .field label { display: block; font-size: 13px; font-weight: 600; font-family: ui-monospace, monospace; }
    .field input[type='text'], .field select { font: inherit; width: 100%; box-sizing: border-box; padding: 3px 5px; }
    .field small { display: block; color: var(--spark-muted, #666); font-size: 12px; line-height: 1.3; }
    .field.invalid input, .field.invalid select { border: 2px solid #b00020; background: #fff6f6; }
    .field .error { color: #b00020; font-size: 12px; line-height: 1.3; display: block; }
    .field.flash { animation: flash 1.2s ease-out 2; }
    @keyframes flash { 0% { background: #ffe08a; } 100% { background: transparent; } }
    .field.bool label { display: inline; }
  `;

  constructor() {
    super();
    this.draft = new Map();
    this.errors = new Map();
    this.setConfig(PRESETS[0].config);
  }

  private get picker(): CorpusPicker | null {
    return this.renderRoot?.querySelector('spark-corpus-picker') ?? null;
  }

  /** The form's config: the fields that differ from the defaults (the corpus from the picker). */
  get config(): PartialRunConfig {
    return this.build().config;
  }

  /** False while any field shows an error. */
  get valid(): boolean {
    return this.errors.size === 0;
  }

  /** Fills the form from a (partial or resolved) config: a preset, a shared link or a loaded run; `reveal` opens the sections it sets. */
  setConfig(config: PartialRunConfig | object, { reveal = false } = {}): void {
    const diff = nonDefaultConfig(config);
    const draft: Draft = new Map();
    for (const section of SECTION_ORDER) {
      for (const [k, v] of Object.entries(diff[section] ?? {})) if (!HIDDEN.has(`${section}.${k}`)) draft.set(`${section}.${k}`, typeof v === 'boolean' ? v : String(v));
    }
    if (diff.seed !== undefined) draft.set('seed', String(diff.seed));
    this.draft = draft;
    this.corpus = String(diff.data?.corpus ?? BUILTIN_CORPORA[0].id);
    this.validate();
    if (reveal) {
      void this.updateComplete.then(() => {
        for (const d of this.renderRoot.querySelectorAll('details')) if (diff[d.dataset.section as SectionName]) d.open = true;
      });
    }
  }

  private corpusValue = BUILTIN_CORPORA[0].id;
  private set corpus(id: string) {
    // A config naming the dropped file keeps the file only if the picker still holds one.
    this.corpusValue = id === USER_CORPUS_ID && !this.picker?.file ? BUILTIN_CORPORA[0].id : id;
    if (this.picker) this.picker.value = this.corpusValue;
  }

  /** Shows an engine error at its field: opens its section, highlights and focuses it. */
  showFieldError(field: string, message: string): boolean {
    if (!FIELD_PATHS.has(field)) return false;
    const path = field;
    this.errors = new Map(this.errors).set(path, message);
    void this.updateComplete.then(() => {
      const box = this.renderRoot.querySelector<HTMLElement>(`[data-field="${path}"]`);
      if (!box) return;
      const details = box.closest('details');
      if (details) details.open = true;
      box.classList.remove('flash');
      void box.offsetWidth; // restart the animation
      box.classList.add('flash');
      box.querySelector<HTMLElement>('input, select')?.focus();
    });
    return true;
  }

  private build(): { config: PartialRunConfig; local: Map<string, string> } {
    const local = new Map<string, string>();
    const config: Record<string, Record<string, unknown> | number> = {};
    for (const [path, raw] of this.draft) {
      const [section, key] = path.includes('.') ? (path.split('.') as [SectionName, string]) : [null, path];
      const spec = section ? SECTION_SCHEMAS[section][key] : seedSpec;
      let v: unknown = raw;
      if (spec.type === 'int' || spec.type === 'number') {
        const text = String(raw).trim();
        if (text === '') continue;
        v = Number(text);
        if (!Number.isFinite(v)) {
          local.set(path, `${path} must be a number (${spec.doc}), got "${text.slice(0, 20)}"`);
          continue;
        }
      }
      if (section) ((config[section] ??= {}) as Record<string, unknown>)[key] = v;
      else config.seed = v as number;
    }
    ((config.data ??= {}) as Record<string, unknown>).corpus = this.corpusValue;
    return { config: nonDefaultConfig(config), local };
  }

  /** Checks each field alone (so several can show errors), then the whole config for cross-field rules. */
  private validate(): void {
    const { config, local } = this.build();
    const errors = new Map(local);
    for (const section of SECTION_ORDER) {
      for (const [key, v] of Object.entries(config[section] ?? {})) {
        try {
          resolve({ [key]: SECTION_SCHEMAS[section][key] }, { [key]: v }, section);
        } catch (e) {
          if (e instanceof ConfigError) errors.set(e.field, e.message);
        }
      }
    }
    try {
      resolveRunConfig(config.seed === undefined ? {} : { seed: config.seed }); // an absent seed is the default
    } catch (e) {
      if (e instanceof ConfigError) errors.set(e.field, e.message);
    }
    if (errors.size === 0) {
      try {
        resolveRunConfig(config);
      } catch (e) {
        if (e instanceof ConfigError) errors.set(e.field, e.message);
        else errors.set('config', String(e));
      }
    }
    this.errors = errors;
    emit(this, 'spark-config-change', { config, valid: errors.size === 0 });
  }

  private edit(path: string, value: string | boolean): void {
    const draft = new Map(this.draft);
    draft.set(path, value);
    this.draft = draft;
    this.validate();
  }

  private presetMatching(config: PartialRunConfig): string | null {
    const key = JSON.stringify(config);
    const p = PRESETS.find((p) => JSON.stringify(nonDefaultConfig({ ...p.config, data: { corpus: BUILTIN_CORPORA[0].id, ...p.config.data } })) === key);
    return p?.id ?? null;
  }

  private summary(config: PartialRunConfig): string {
    try {
      const r = resolveRunConfig(config);
      const m = r.model;
      const p = countParams(m);
      const moe = m.moeEvery > 0 ? ` · MoE ${m.moeExperts} experts top-${m.moeTopK}` : '';
      const active = p.activePerToken !== p.total ? ` (${si(p.activePerToken)} active)` : '';
      return `${m.nLayer} layers · width ${m.nEmbd} · ${m.nHead} heads · context ${m.contextLength}${moe} · ${si(p.total)} parameters${active} · ${si(flopsPerToken(m))} FLOP/token · ${r.train.steps} steps`;
    } catch {
      return 'Fix the highlighted settings to see the model size.';
    }
  }

  private renderField(path: string, spec: FieldSpec) {
    const id = fieldId(path);
    const err = this.errors.get(path);
    const raw = this.draft.get(path);
    const describedBy = `${id}-doc${err ? ` ${id}-err` : ''}`;
    const cls = `field ${err ? 'invalid' : ''} ${spec.type === 'bool' ? 'bool' : ''}`;
    const doc = html`<small id="${id}-doc">${spec.doc}${spec.type !== 'bool' ? ` (default ${spec.default})` : ''}</small>`;
    const error = err ? html`<span class="error" id="${id}-err" data-testid="field-error">${err}</span>` : nothing;
    if (spec.type === 'bool') {
      const checked = typeof raw === 'boolean' ? raw : spec.default;
      return html`<div class=${cls} data-field=${path}>
        <input type="checkbox" id=${id} .checked=${checked} aria-describedby=${describedBy} @change=${(e: Event) => this.edit(path, (e.target as HTMLInputElement).checked)} />
        <label for=${id}>${path}</label>${doc}${error}</div>`;
    }
    if (spec.type === 'enum') {
      const value = typeof raw === 'string' ? raw : spec.default;
      return html`<div class=${cls} data-field=${path}><label for=${id}>${path}</label>
        <select id=${id} aria-invalid=${err ? 'true' : 'false'} aria-describedby=${describedBy} @change=${(e: Event) => this.edit(path, (e.target as HTMLSelectElement).value)}>
          ${spec.values.map((v) => html`<option value=${v} ?selected=${v === value}>${v}</option>`)}
        </select>${doc}${error}</div>`;
    }
    return html`<div class=${cls} data-field=${path}><label for=${id}>${path}</label>
      <input type="text" id=${id} inputmode="decimal" autocomplete="off" spellcheck="false" placeholder=${String(spec.default)}
        .value=${typeof raw === 'string' ? raw : ''} aria-invalid=${err ? 'true' : 'false'} aria-describedby=${describedBy}
        @input=${(e: Event) => this.edit(path, (e.target as HTMLInputElement).value)} />${doc}${error}</div>`;
  }

  override render() {
    const { config } = this.build();
    const preset = this.presetMatching(config);
    const other = [...this.errors].filter(([f]) => !FIELD_PATHS.has(f) && f !== 'data.corpus');
    return html`
      <fieldset part="presets">
        <legend>Preset</legend>
        <div class="presets" role="radiogroup" aria-label="Preset">
          ${PRESETS.map((p) => html`<label class="preset" data-testid="preset-${p.id}">
            <input type="radio" name="preset" value=${p.id} .checked=${preset === p.id} @change=${() => this.setConfig(p.config)} />
            <strong>${p.title}</strong><span>${p.description}</span></label>`)}
          <label class="preset"><input type="radio" name="preset" value="custom" .checked=${preset === null} disabled />
            <strong>Custom</strong><span>Your own settings below.</span></label>
        </div>
      </fieldset>
      <p class="summary" data-testid="config-summary" aria-live="polite">${this.errors.size ? 'Fix the highlighted settings to see the model size.' : this.summary(config)}</p>
      <spark-corpus-picker .value=${this.corpusValue}
        @spark-corpus-change=${(e: CustomEvent) => { this.corpusValue = (e.target as CorpusPicker).value; this.validate(); }}></spark-corpus-picker>
      ${this.errors.has('data.corpus') ? html`<div class="field invalid" data-field="data.corpus"><span class="error">${this.errors.get('data.corpus')}</span></div>` : nothing}
      ${SECTION_ORDER.map((section) => html`<details ?open=${section === 'train'} data-section=${section}>
        <summary>${SECTION_TITLES[section]}</summary>
        <div class="fields">
          ${Object.entries(SECTION_SCHEMAS[section]).filter(([k]) => !HIDDEN.has(`${section}.${k}`)).map(([k, spec]) => this.renderField(`${section}.${k}`, spec))}
          ${section === 'train' ? this.renderField('seed', seedSpec) : nothing}
        </div>
      </details>`)}
      ${other.map(([f, m]) => html`<p class="field invalid"><span class="error" role="alert">${f}: ${m}</span></p>`)}
    `;
  }
}

customElements.define('spark-config-panel', ConfigPanel);

declare global {
  interface HTMLElementTagNameMap {
    'spark-config-panel': ConfigPanel;
  }
}
