import { LitElement, css, html, nothing } from 'lit';
import type { SweepEvent, SweepSample } from '../eval/sweep';
import type { SelectionRule } from '../eval/select';
import { chosenBy, distinctValues, groupOf, pageOf, SAMPLE_GROUPS, splitCompletion, strategyStyle, type SampleFilter, type SampleGroup } from './sweep-data';

const RULES: readonly SelectionRule[] = ['oracle', 'logprob', 'majority', 'weighted'];
const GROUP_LABEL = Object.fromEntries(SAMPLE_GROUPS.map((g) => [g.id, g.label])) as Record<SampleGroup, string>;

/**
 * @summary Every sample of a test-time sweep, a page at a time: the problem, the thinking (before `</think>`) set
 * apart from the answer, the verdict (✓ / ✗ with words), the mean log-probability and which selection rules chose
 * it; filters by strategy, N, budget, verdict and choosing rule. Holds any number of samples and renders one page.
 * @csspart table - the samples table.
 * @csspart pager - the paging controls.
 */
export class SampleInspector extends LitElement {
  static override properties = {
    pageSize: { type: Number, attribute: 'page-size' },
    filter: { state: true },
    page: { state: true },
    count: { state: true },
  };

  /** Rows per page. */
  declare pageSize: number;
  /** The active filters (all undefined = every sample). */
  declare filter: SampleFilter;
  /** The page shown, 0-based. */
  declare page: number;
  /** Samples held (drives re-rendering as they arrive). */
  declare count: number;

  private list: SweepSample[] = [];

  static override styles = css`
    :host { display: block; }
    .filters { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: end; font-size: 13px; margin-bottom: 6px; }
    .filters label { display: flex; flex-direction: column; font-weight: 600; font-size: 12px; }
    select, button { font: inherit; }
    .filters select { font-size: 13px; }
    .summary { font-size: 13px; color: var(--spark-muted, #555); margin: 4px 0; }
    .scroll { overflow-x: auto; }
    table { border-collapse: collapse; width: 100%; font-size: 13px; }
    th, td { border-bottom: 1px solid var(--spark-border, #dde); padding: 4px 6px; text-align: left; vertical-align: top; }
    th { font-size: 12px; background: #f6f7fb; position: sticky; top: 0; }
    td.num { font-family: ui-monospace, monospace; white-space: nowrap; }
    .problem { font-family: ui-monospace, monospace; white-space: nowrap; }
    .completion { font: 12.5px/1.45 ui-monospace, monospace; word-break: break-word; max-width: 46rem; }
    .completion > span { white-space: pre-wrap; }
    .thinking { display: block; color: #4a3480; background: #f1ecfb; border-left: 3px solid #8854d0; padding: 1px 6px; font-style: italic; }
    .answer { display: block; font-weight: 700; padding: 1px 6px; margin-top: 2px; }
    .tag { font: 600 10.5px system-ui, sans-serif; text-transform: uppercase; letter-spacing: 0.04em; font-style: normal; margin-right: 6px; color: #555; }
    .unclosed { color: #8a5300; font-style: normal; }
    .verdict { white-space: nowrap; font-weight: 600; }
    .verdict.ok { color: #17693d; }
    .verdict.bad { color: #b00020; }
    .rules { font-size: 12px; }
    .empty { color: var(--spark-muted, #666); padding: 1em; text-align: center; border: 1px dashed var(--spark-border, #ccd); border-radius: 6px; }
    .pager { display: flex; gap: 10px; align-items: center; margin-top: 6px; font-size: 13px; }
    button { padding: 2px 10px; }
    button:focus-visible, select:focus-visible { outline: 3px solid #f39c12; outline-offset: 1px; }
  `;

  constructor() {
    super();
    this.pageSize = 50;
    this.filter = {};
    this.page = 0;
    this.count = 0;
  }

  /** Every sample received, in arrival order. */
  get samples(): readonly SweepSample[] {
    return this.list;
  }

  /** Takes one sweep event: samples are kept, the other kinds ignored. */
  add(event: SweepEvent): void {
    if (event.kind === 'samples') this.addSamples(event.samples);
  }

  addSamples(samples: readonly SweepSample[]): void {
    for (const s of samples) this.list.push(s);
    this.count = this.list.length;
  }

  /** Forgets every sample and filter (a new sweep). */
  reset(): void {
    this.list = [];
    this.count = 0;
    this.filter = {};
    this.page = 0;
  }

  private setFilter(patch: Partial<SampleFilter>): void {
    this.filter = { ...this.filter, ...patch };
    this.page = 0;
  }

  private select<T extends string | number>(label: string, testId: string, value: T | undefined, options: { value: T; text: string }[], apply: (v: T | undefined) => void, parse: (s: string) => T) {
    return html`<label>${label}
      <select data-testid=${testId} @change=${(e: Event) => {
        const v = (e.target as HTMLSelectElement).value;
        apply(v === '' ? undefined : parse(v));
      }}>
        <option value="" ?selected=${value === undefined}>all</option>
        ${options.map((o) => html`<option value=${String(o.value)} ?selected=${o.value === value}>${o.text}</option>`)}
      </select></label>`;
  }

  private renderRow(index: number, s: SweepSample) {
    const { thinking, answer, closed } = splitCompletion(s.completion);
    const rules = chosenBy(s);
    const what = s.budget !== undefined ? `${strategyStyle(s.strategy).label} B=${s.budget}` : `${GROUP_LABEL[groupOf(s)]} N=${s.n}`;
    return html`<tr data-testid="sample-row">
      <td class="num">${index + 1}</td>
      <td>${what}</td>
      <td class="problem">${s.problem}</td>
      <td class="completion">
        <span class="thinking" data-testid="sample-thinking"><span class="tag">thinking</span>${thinking || html`<span class="unclosed">(none)</span>`}</span>
        ${closed
          ? html`<span class="answer" data-testid="sample-answer"><span class="tag">answer</span>${answer.trim() || '(empty)'}</span>`
          : html`<span class="answer unclosed" data-testid="sample-answer"><span class="tag">answer</span>none: no ${'</think>'}, the thinking never ended</span>`}
      </td>
      <td class="verdict ${s.correct ? 'ok' : 'bad'}" data-testid="sample-verdict">${s.correct ? '✓ correct' : '✗ wrong'}${s.answer === null ? html`<br /><small>(no answer)</small>` : nothing}</td>
      <td class="num">${Number.isFinite(s.meanLogprob) ? s.meanLogprob.toFixed(3) : '–'}</td>
      <td class="rules">${rules.length ? rules.join(', ') : s.chosen ? 'none' : '–'}</td>
    </tr>`;
  }

  override render() {
    const f = this.filter;
    const p = pageOf(this.list, f, this.page, this.pageSize);
    if (!this.list.length) return html`<div class="empty" data-testid="inspector-empty">Samples appear here as the sweep runs.</div>`;
    const groups = SAMPLE_GROUPS.filter((g) => this.list.some((s) => groupOf(s) === g.id));
    const nums = (key: 'n' | 'budget') => distinctValues(this.list, key).map((v) => ({ value: v, text: String(v) }));
    return html`
      <div class="filters" role="group" aria-label="Filter samples">
        ${this.select<SampleGroup>('strategy', 'filter-group', f.group, groups.map((g) => ({ value: g.id, text: g.label })), (v) => this.setFilter({ group: v }), (s) => s as SampleGroup)}
        ${this.select<number>('N', 'filter-n', f.n, nums('n'), (v) => this.setFilter({ n: v }), Number)}
        ${this.select<number>('budget', 'filter-budget', f.budget, nums('budget'), (v) => this.setFilter({ budget: v }), Number)}
        ${this.select<'correct' | 'incorrect'>('verdict', 'filter-verdict', f.verdict, [{ value: 'correct', text: '✓ correct' }, { value: 'incorrect', text: '✗ wrong' }], (v) => this.setFilter({ verdict: v }), (s) => s as 'correct' | 'incorrect')}
        ${this.select<SelectionRule>('chosen by', 'filter-rule', f.chosenBy, RULES.map((r) => ({ value: r, text: r })), (v) => this.setFilter({ chosenBy: v }), (s) => s as SelectionRule)}
      </div>
      <p class="summary" role="status" data-testid="inspector-summary">${p.total
        ? `Showing ${p.start + 1}–${p.start + p.rows.length} of ${p.total} samples${p.total !== this.list.length ? ` (filtered from ${this.list.length})` : ''}`
        : `No sample of ${this.list.length} matches these filters.`}</p>
      ${p.total ? html`<div class="scroll"><table part="table" aria-label="Sweep samples">
        <thead><tr><th scope="col">#</th><th scope="col">strategy</th><th scope="col">problem</th><th scope="col">completion</th>
          <th scope="col">verdict</th><th scope="col">mean log-prob</th><th scope="col">chosen by</th></tr></thead>
        <tbody>${p.rows.map((r) => this.renderRow(r.index, r.sample))}</tbody>
      </table></div>` : nothing}
      ${p.pages > 1 ? html`<nav class="pager" part="pager" aria-label="Sample pages">
        <button data-testid="page-prev" ?disabled=${p.page === 0} @click=${() => (this.page = p.page - 1)}>‹ Previous</button>
        <span>page ${p.page + 1} of ${p.pages}</span>
        <button data-testid="page-next" ?disabled=${p.page >= p.pages - 1} @click=${() => (this.page = p.page + 1)}>Next ›</button>
      </nav>` : nothing}
    `;
  }
}

customElements.define('spark-sample-inspector', SampleInspector);

declare global {
  interface HTMLElementTagNameMap {
    'spark-sample-inspector': SampleInspector;
  }
}
