import { LitElement, css, html, nothing } from 'lit';
import type { StudyFits } from '../scaling/study';
import { fitRows, multiplierRows, type MeasureCell } from './scaling-rows';

/**
 * @summary The study's results as tables: per recipe the iso-loss compute multiplier against the baseline on
 * training FLOPs, all-in FLOPs and wall-clock time on this adapter, each with its interval, the target loss L* and
 * whether it is extrapolated, grouped (one ingredient, all together, leave one out); a row that has no multiplier
 * yet says why. Below, the fitted E, A and α of each recipe with their intervals.
 * @csspart multipliers - the multiplier table.
 * @csspart fits - the fitted parameters' table.
 */
export class ScalingTable extends LitElement {
  static override properties = {
    fits: { attribute: false },
  };

  declare fits: StudyFits | null;

  static override styles = css`
    :host { display: block; font-size: 13.5px; }
    .scroll { overflow-x: auto; }
    table { border-collapse: collapse; width: 100%; margin: 4px 0 12px 0; }
    caption { text-align: left; font-weight: 600; font-size: 14px; margin-bottom: 4px; }
    th, td { padding: 4px 8px; border-bottom: 1px solid var(--spark-border, #e2e4ea); text-align: right; white-space: nowrap; vertical-align: top; }
    th:first-child, td:first-child { text-align: left; }
    thead th { font-size: 12.5px; color: #333; background: #f5f6fa; }
    tbody th[colspan] { text-align: left; background: #fafbfd; font-size: 12.5px; color: #444; padding-top: 8px; }
    .ci { display: block; font-size: 11.5px; color: var(--spark-muted, #666); font-family: ui-monospace, monospace; }
    .value { font-family: ui-monospace, monospace; font-weight: 600; }
    .why { text-align: left; color: #8a4b00; white-space: normal; }
    .extra { color: #8a4b00; font-size: 11.5px; display: block; }
    .none { color: var(--spark-muted, #666); font-size: 13px; margin: 4px 0 12px 0; }
  `;

  constructor() {
    super();
    this.fits = null;
  }

  private cell(m: MeasureCell) {
    return html`<td><span class="value">${m.value}</span>${m.interval ? html`<span class="ci">${m.interval}</span>` : nothing}</td>`;
  }

  override render() {
    const groups = multiplierRows(this.fits);
    const fits = fitRows(this.fits);
    return html`
      <div class="scroll">
        ${groups.length ? html`<table part="multipliers" data-testid="scaling-multipliers">
          <caption>Compute multiplier against the baseline (above 1×: the recipe reaches the same loss with less; 95% bootstrap intervals)</caption>
          <thead><tr><th scope="col">recipe</th><th scope="col">training FLOPs</th><th scope="col">all-in FLOPs</th><th scope="col">wall-clock (this adapter)</th><th scope="col">at loss L*</th></tr></thead>
          ${groups.map((g) => html`<tbody>
            <tr><th colspan="5" scope="rowgroup">${g.title}</th></tr>
            ${g.rows.map((r) => html`<tr data-recipe=${r.recipe}>
              <td>${r.label}</td>
              ${r.error && r.flops.value === '–'
                ? html`<td class="why" colspan="4" data-testid="scaling-row-error">${r.error}</td>`
                : html`${this.cell(r.flops)}${this.cell(r.allIn)}${this.cell(r.wallClock)}
                  <td><span class="value">${r.targetLoss}</span>${r.extrapolated ? html`<span class="extra" data-testid="scaling-extrapolated">extrapolated</span>` : nothing}
                  ${r.error ? html`<span class="extra">${r.error}</span>` : nothing}</td>`}
            </tr>`)}
          </tbody>`)}
        </table>` : html`<p class="none" data-testid="scaling-no-multipliers">No multipliers yet: they need the baseline and a recipe with at least 4 finished sizes each.</p>`}
        ${fits.length ? html`<table part="fits" data-testid="scaling-fits">
          <caption>Fitted L(C) = E + A·C<sup>−α</sup> per recipe (training FLOPs; 95% intervals)</caption>
          <thead><tr><th scope="col">recipe</th><th scope="col">E (nats)</th><th scope="col">A</th><th scope="col">α</th><th scope="col">envelope points</th><th scope="col">L(N, D) = E + A/N<sup>α</sup> + B/D<sup>β</sup> (final losses)</th></tr></thead>
          <tbody>${fits.map((f) => html`<tr data-recipe=${f.recipe}>
            <td>${f.label}</td>
            ${f.error ? html`<td class="why" colspan="3" data-testid="scaling-fit-error">${f.error}</td>` : html`${this.cell(f.E)}${this.cell(f.A)}${this.cell(f.alpha)}`}
            <td>${f.points}</td><td class=${f.nd.startsWith('no fit') ? 'why' : ''} data-testid="scaling-nd">${f.nd}</td></tr>`)}</tbody>
        </table>` : nothing}
      </div>
    `;
  }
}

customElements.define('spark-scaling-table', ScalingTable);

declare global {
  interface HTMLElementTagNameMap {
    'spark-scaling-table': ScalingTable;
  }
}
