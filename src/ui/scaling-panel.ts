import { LitElement, css, html, nothing } from 'lit';
import { GRID_PRESETS, type PresetName } from '../scaling/grid';
import type { StudyPlanSummary, StudySpec } from '../scaling/study';
import { BASELINE_RECIPE, RECIPES } from '../scaling/recipes';
import { recipeStyle } from './scaling-data';
import { buildSpec, flopText, planSummaryText, type ScalingForm } from './scaling-rows';

/** What the panel's buttons ask for; the view turns each into an engine command. */
export interface ScalingPanelEvents {
  /** The form changed: its spec (null while a field shows an error), for a new estimate. */
  'spark-scaling-form': { spec: StudySpec | null };
  'spark-scaling-run': { spec: StudySpec };
  'spark-scaling-cancel': Record<string, never>;
  'spark-scaling-resume': Record<string, never>;
  'spark-scaling-clear': Record<string, never>;
}

/** The running study's line: which run, its step, the time left and the study's done fraction. */
export interface ScalingProgressLine {
  run: string;
  eta: string;
  done: number;
}

/**
 * @summary The scaling study's settings and controls: recipes (the baseline always runs), the grid preset, seeds
 * and an optional custom grid (JSON over the preset); the plan's estimate before starting (runs, FLOPs, time on
 * this adapter, measured or assumed); Run / Cancel / Resume / Clear, with an inline confirmation before a stored
 * study is deleted (a new study starts only once the stored one is cleared); the progress bar of the running study.
 * @event spark-scaling-form - detail { spec }: the form changed.
 * @event spark-scaling-run - detail { spec }: start this study.
 * @event spark-scaling-cancel - stop the running study.
 * @event spark-scaling-resume - continue the stored study.
 * @event spark-scaling-clear - delete the stored study.
 */
export class ScalingPanel extends LitElement {
  static override properties = {
    form: { state: true },
    errors: { state: true },
    confirming: { state: true },
    plan: { attribute: false },
    planNote: { attribute: false },
    running: { type: Boolean },
    cancelling: { type: Boolean },
    resumable: { type: Boolean },
    stored: { type: Boolean },
    blocked: { attribute: false },
    progress: { attribute: false },
  };

  declare form: ScalingForm;
  declare errors: Map<string, string>;
  /** Clearing the stored study waits for a second click. */
  declare confirming: 'clear' | null;
  /** The engine's estimate for the form's spec, or null. */
  declare plan: StudyPlanSummary | null;
  /** Said where the estimate goes while there is none: "estimating…", or why there is none. */
  declare planNote: string;
  declare running: boolean;
  declare cancelling: boolean;
  /** A stored study has runs left (after a reload or a cancel). */
  declare resumable: boolean;
  /** A study is stored: the engine starts no other until it is cleared (nothing measured is dropped unasked). */
  declare stored: boolean;
  /** Why nothing can start now ('' when it can): the engine is busy, starting or stopped. */
  declare blocked: string;
  declare progress: ScalingProgressLine | null;

  static override styles = css`
    :host { display: block; font-size: 14px; }
    fieldset { border: 1px solid var(--spark-border, #d5d7e0); border-radius: 6px; margin: 0 0 8px 0; padding: 6px 10px; }
    legend { font-weight: 600; font-size: 13px; padding: 0 4px; }
    .recipes { display: grid; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); gap: 2px 12px; }
    .recipes label { display: flex; gap: 6px; align-items: baseline; font-size: 13.5px; }
    .recipes small { display: block; color: var(--spark-muted, #666); font-size: 11.5px; line-height: 1.25; }
    .dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; flex: none; align-self: center; }
    .row { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: 6px 12px; }
    .field label { display: block; font-size: 13px; font-weight: 600; }
    .field select, .field input, textarea { font: inherit; width: 100%; box-sizing: border-box; padding: 3px 5px; }
    textarea { font: 12px ui-monospace, monospace; min-height: 3.2em; }
    .field small, details small { display: block; color: var(--spark-muted, #666); font-size: 11.5px; line-height: 1.3; }
    .invalid input, .invalid textarea { border: 2px solid #b00020; background: #fff6f6; }
    .error { color: #b00020; font-size: 12px; display: block; }
    .error::before { content: '⚠ '; }
    details { font-size: 13px; margin-top: 4px; }
    .plan { background: #f5f6fa; border-radius: 6px; padding: 6px 10px; margin: 8px 0; font-size: 13px; }
    .plan ul { margin: 4px 0 0 0; padding-left: 1.2em; }
    .actions { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; margin: 8px 0; }
    button { font: inherit; padding: 4px 14px; }
    button.primary { font-weight: 600; }
    .why, .confirm { font-size: 13px; color: var(--spark-muted, #555); }
    .confirm { color: #8a4b00; }
    .progress { display: grid; gap: 2px; font-size: 13px; }
    progress { width: 100%; height: 1em; }
    button:focus-visible, select:focus-visible, input:focus-visible, textarea:focus-visible { outline: 3px solid #f39c12; outline-offset: 1px; }
  `;

  constructor() {
    super();
    this.form = { recipes: [BASELINE_RECIPE, 'modern'], preset: 'classroom', seeds: '1, 2', custom: '' };
    this.errors = new Map();
    this.confirming = null;
    this.plan = null;
    this.planNote = '';
    this.running = false;
    this.cancelling = false;
    this.resumable = false;
    this.stored = false;
    this.blocked = '';
    this.progress = null;
  }

  /** The form's spec, or null while a field shows an error. */
  get spec(): StudySpec | null {
    return buildSpec(this.form).spec;
  }

  /** Sets some of the form (tests, and a custom grid handed over by a link or a script); emits the new spec. */
  setForm(part: Partial<ScalingForm>): void {
    this.edit(part);
  }

  /**
   * Shows an engine refusal of the spec at the field it concerns: the seeds, or the custom grid for any other
   * grid setting (the preset's own values are valid by construction); false when it concerns neither.
   */
  showFieldError(field: string, message: string): boolean {
    const at = field === 'grid.seeds' || field.startsWith('grid.seeds[') ? 'scaling.seeds' : field.startsWith('grid') ? 'scaling.custom' : null;
    if (!at) return false;
    this.errors = new Map(this.errors).set(at, message);
    return true;
  }

  private send<K extends keyof ScalingPanelEvents>(type: K, detail: ScalingPanelEvents[K]): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  private edit(part: Partial<ScalingForm>): void {
    this.form = { ...this.form, ...part };
    const { spec, errors } = buildSpec(this.form);
    this.errors = errors;
    this.confirming = null;
    this.send('spark-scaling-form', { spec });
  }

  private toggle(id: string, on: boolean): void {
    const set = new Set(this.form.recipes);
    if (on) set.add(id);
    else set.delete(id);
    this.edit({ recipes: RECIPES.map((r) => r.id).filter((r) => r === BASELINE_RECIPE || set.has(r)) });
  }

  private run(): void {
    const spec = this.spec;
    if (!spec || this.running || this.blocked || this.stored) return;
    this.send('spark-scaling-run', { spec });
  }

  private clear(): void {
    if (this.confirming !== 'clear') {
      this.confirming = 'clear';
      return;
    }
    this.confirming = null;
    this.send('spark-scaling-clear', {});
  }

  override firstUpdated(): void {
    this.send('spark-scaling-form', { spec: this.spec });
  }

  private renderPlan() {
    const p = this.plan;
    if (!p) return html`<div class="plan" data-testid="scaling-plan" role="status">${this.planNote || 'Choose recipes and a grid for an estimate.'}</div>`;
    const t = planSummaryText(p);
    return html`<div class="plan" data-testid="scaling-plan" role="status">
      <strong>Plan:</strong> ${t.runs} runs (learning-rate search included) · training ${t.trainFlops} · all-in ${t.allInFlops} ·
      about <strong data-testid="scaling-plan-time">${t.time}</strong> <span class="why">(${t.basis})</span>
      <details><summary>per recipe</summary><ul>
        ${p.recipes.map((r) => html`<li>${recipeStyle(r.recipe).label}: ${r.runs} runs + ${r.lrSearchRuns} search · training ${flopText(r.trainFlops)} · optimizer ${flopText(r.optimizerFlops)} · search ${flopText(r.lrSearchFlops)} · all-in ${flopText(r.allInFlops)}</li>`)}
      </ul></details></div>`;
  }

  private renderActions() {
    const spec = this.spec;
    const why = this.running ? '' : this.blocked || (!spec ? 'Fix the highlighted settings.'
      : this.stored ? `A study is stored: ${this.resumable ? 'resume it, or ' : ''}export and clear it to start another.` : '');
    return html`<div class="actions">
      ${this.running
        ? html`<button data-testid="scaling-cancel" ?disabled=${this.cancelling} @click=${() => this.send('spark-scaling-cancel', {})}>${this.cancelling ? 'Cancelling…' : 'Cancel study'}</button>`
        : html`<button class="primary" data-testid="scaling-run" ?disabled=${!spec || !!this.blocked || this.stored} @click=${this.run} aria-describedby="sc-why">Run study</button>
          ${this.resumable ? html`<button data-testid="scaling-resume" ?disabled=${!!this.blocked} @click=${() => this.send('spark-scaling-resume', {})}>Resume stored study</button>` : nothing}
          ${this.stored ? html`<button data-testid="scaling-clear" @click=${this.clear}>${this.confirming === 'clear' ? 'Yes, delete it' : 'Clear stored study'}</button>` : nothing}`}
      <span class="why" id="sc-why">${why}</span>
      ${this.confirming === 'clear' ? html`<span class="confirm" role="alert">This deletes the stored study and its curves: export them first to keep them. <button @click=${() => (this.confirming = null)}>Keep it</button></span>` : nothing}
    </div>`;
  }

  override render() {
    const fieldError = (f: string) => this.errors.get(f);
    const seedsErr = fieldError('scaling.seeds');
    const customErr = fieldError('scaling.custom');
    const p = this.progress;
    const off = this.running;
    return html`
      <fieldset ?disabled=${off}><legend>Recipes (the baseline always runs: it is the reference)</legend>
        <div class="recipes">${RECIPES.map((r) => html`<label>
          <input type="checkbox" data-testid="scaling-recipe-${r.id}" .checked=${r.id === BASELINE_RECIPE || this.form.recipes.includes(r.id)} ?disabled=${r.id === BASELINE_RECIPE}
            @change=${(e: Event) => this.toggle(r.id, (e.target as HTMLInputElement).checked)} />
          <span class="dot" style="background:${recipeStyle(r.id).color}"></span>
          <span>${r.label}<small>${r.description}</small></span></label>`)}</div>
      </fieldset>
      <div class="row">
        <div class="field"><label for="sc-preset">grid</label>
          <select id="sc-preset" data-testid="scaling-preset" ?disabled=${off} @change=${(e: Event) => this.edit({ preset: (e.target as HTMLSelectElement).value as PresetName })}>
            ${(Object.keys(GRID_PRESETS) as PresetName[]).map((k) => html`<option value=${k} ?selected=${k === this.form.preset}>${k}</option>`)}
          </select><small>${GRID_PRESETS[this.form.preset].doc}</small></div>
        <div class="field ${seedsErr ? 'invalid' : ''}"><label for="sc-seeds">seeds</label>
          <input id="sc-seeds" data-testid="scaling-seeds" type="text" autocomplete="off" .value=${this.form.seeds} ?disabled=${off} aria-invalid=${seedsErr ? 'true' : 'false'}
            @input=${(e: Event) => this.edit({ seeds: (e.target as HTMLInputElement).value })} />
          <small>every size and budget runs once per seed (at least 2)</small>${seedsErr ? html`<span class="error" data-testid="scaling-field-error">${seedsErr}</span>` : nothing}</div>
      </div>
      <details ?open=${!!this.form.custom || !!customErr}><summary>Custom grid (advanced)</summary>
        <div class="field ${customErr ? 'invalid' : ''}">
          <textarea aria-label="Custom grid as JSON" data-testid="scaling-custom" ?disabled=${off} spellcheck="false" placeholder='{"tokensPerParam": [5, 20], "sizes": {"count": 4}}'
            .value=${this.form.custom} @change=${(e: Event) => this.edit({ custom: (e.target as HTMLTextAreaElement).value })}></textarea>
          <small>JSON laid over the preset: sizes, tokensPerParam, lrSearch, batchSize, evalPoints… (the engine checks every field).</small>
          ${customErr ? html`<span class="error" data-testid="scaling-field-error">${customErr}</span>` : nothing}</div>
      </details>
      ${this.renderPlan()}
      ${this.renderActions()}
      ${this.running || p ? html`<div class="progress" data-testid="scaling-progress">
        <progress max="1" .value=${p?.done ?? 0} aria-label="Study progress" aria-valuetext=${p ? `${Math.round(p.done * 100)}%: ${p.run}` : 'starting'}></progress>
        <span role="status" data-testid="scaling-progress-label">${p ? `${Math.round(p.done * 100)}% · ${p.run} · ${p.eta}` : 'starting…'}</span></div>` : nothing}
    `;
  }
}

customElements.define('spark-scaling-panel', ScalingPanel);

type PanelEvents = { [K in keyof ScalingPanelEvents]: CustomEvent<ScalingPanelEvents[K]> };
declare global {
  interface HTMLElementTagNameMap {
    'spark-scaling-panel': ScalingPanel;
  }
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface HTMLElementEventMap extends PanelEvents {}
}
