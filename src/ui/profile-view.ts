import { LitElement, css, html } from 'lit';
import { foldScopes, type ProfileRow, type StepProfile } from '../lib/step-profile';
import { emit } from './events';
import { si } from './format';

/** How the bars group the step's dispatches. */
export type ProfileGrouping = 'family' | 'entry' | 'scope' | 'top';

const GROUPINGS: { id: ProfileGrouping; label: string }[] = [
  { id: 'family', label: 'op family' },
  { id: 'entry', label: 'kernel (entry point)' },
  { id: 'top', label: 'phase' },
  { id: 'scope', label: 'phase and layer' },
];

/** The rows of a profile under a grouping. */
export function profileRows(p: StepProfile, g: ProfileGrouping): ProfileRow[] {
  return g === 'family' ? p.byFamily : g === 'entry' ? p.byEntry : g === 'scope' ? p.byScope : foldScopes(p.byScope);
}

/** Most bars shown; the rest are summed into one "other" row. */
export const PROFILE_BARS = 14;

/**
 * @summary Where a training step's time goes: asks the engine to profile the next step (a real step, each dispatch
 * timed by timestamp queries) and shows the GPU time per op family, kernel, phase or layer as bars, with the step's
 * dispatch count, GPU and wall time, JavaScript encode time, achieved FLOP rate and bytes bound.
 * @fires spark-profile - the user asked for a profile of the next step.
 */
export class ProfileView extends LitElement {
  static override properties = {
    profile: { attribute: false },
    canProfile: { type: Boolean, attribute: 'can-profile' },
    pending: { type: Boolean },
    error: { type: String },
    grouping: { type: String },
  };

  declare profile: StepProfile | null;
  /** True while the run trains (or is paused: the profile then waits for it to resume). */
  declare canProfile: boolean;
  /** True from the request until its answer. */
  declare pending: boolean;
  declare error: string;
  declare grouping: ProfileGrouping;

  static override styles = css`
    :host { display: block; font-size: 13px; }
    .head { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin-bottom: 6px; }
    .summary { color: var(--spark-muted, #555); margin: 4px 0 8px 0; }
    ol { list-style: none; margin: 0; padding: 0; display: grid; gap: 3px; }
    li { display: grid; grid-template-columns: minmax(7rem, 14rem) 1fr 8.5rem; gap: 8px; align-items: center; }
    .key { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-family: ui-monospace, monospace; }
    .track { background: #eef1f7; height: 12px; border-radius: 2px; }
    .bar { background: #3867d6; height: 12px; border-radius: 2px; min-width: 1px; }
    .fig { text-align: right; font-variant-numeric: tabular-nums; }
    .error { color: #b00020; }
  `;

  constructor() {
    super();
    this.profile = null;
    this.canProfile = false;
    this.pending = false;
    this.error = '';
    this.grouping = 'family';
  }

  /** Called by the app with the engine's answer (or its failure). */
  show(result: { profile: StepProfile } | { error: string }): void {
    this.pending = false;
    if ('profile' in result) {
      this.profile = result.profile;
      this.error = '';
    } else this.error = result.error;
  }

  private request(): void {
    this.pending = true;
    this.error = '';
    emit(this, 'spark-profile', {});
  }

  override render() {
    const p = this.profile;
    return html`
      <div class="head">
        <button data-testid="profile-step" ?disabled=${!this.canProfile || this.pending} @click=${() => this.request()}>${this.pending ? 'Profiling the next step…' : 'Profile the next step'}</button>
        <label>Group by <select data-testid="profile-grouping" .value=${this.grouping} @change=${(e: Event) => (this.grouping = (e.target as HTMLSelectElement).value as ProfileGrouping)}>
          ${GROUPINGS.map((g) => html`<option value=${g.id} ?selected=${g.id === this.grouping}>${g.label}</option>`)}
        </select></label>
      </div>
      ${this.error ? html`<p class="error" role="alert" data-testid="profile-error">${this.error}</p>` : ''}
      ${p ? this.renderProfile(p) : html`<p class="summary">${this.canProfile ? 'Profiles one real training step: every GPU dispatch in its own timed pass.' : 'Train a run to profile its steps.'}</p>`}
    `;
  }

  private renderProfile(p: StepProfile) {
    const rows = profileRows(p, this.grouping);
    const shown = rows.slice(0, PROFILE_BARS);
    const rest = rows.slice(PROFILE_BARS);
    if (rest.length) {
      shown.push({
        key: `${rest.length} more`, dispatches: rest.reduce((s, r) => s + r.dispatches, 0), bytesBound: rest.reduce((s, r) => s + r.bytesBound, 0),
        ms: p.gpuMs === null ? null : rest.reduce((s, r) => s + r.ms!, 0), share: p.gpuMs === null ? null : rest.reduce((s, r) => s + r.share!, 0),
      });
    }
    const top = Math.max(...shown.map((r) => r.ms ?? r.dispatches), 1e-9);
    const rate = p.gpuMs ? `${si(p.flops / (p.gpuMs / 1000))}FLOP/s of GPU time` : 'no GPU times';
    return html`
      <p class="summary" data-testid="profile-summary">
        Step ${p.step}: ${p.dispatches} dispatches, ${p.gpuMs === null ? 'GPU time not measured' : `${p.gpuMs.toFixed(1)} ms on the GPU`},
        ${p.wallMs.toFixed(1)} ms wall (timed passes included), ${p.encodeMs.toFixed(1)} ms recording it in JavaScript; ${si(p.flops)}FLOPs, ${rate};
        ${si(p.bytesBound)}B bound.
        ${p.timing === 'none' ? html`<strong>This adapter has no timestamp queries: the bars count dispatches, not time.</strong>` : ''}
      </p>
      <ol data-testid="profile-bars" aria-label="Step time by ${this.grouping}">
        ${shown.map((r) => html`<li data-key=${r.key}>
          <span class="key" title=${r.key}>${r.key}</span>
          <span class="track"><span class="bar" style="display:block;width:${(100 * (r.ms ?? r.dispatches)) / top}%"></span></span>
          <span class="fig">${r.ms === null ? `${r.dispatches} dispatches` : `${r.ms.toFixed(2)} ms · ${(100 * r.share!).toFixed(1)}%`}</span>
        </li>`)}
      </ol>
    `;
  }
}

customElements.define('spark-profile-view', ProfileView);

declare global {
  interface HTMLElementTagNameMap {
    'spark-profile-view': ProfileView;
  }
}
