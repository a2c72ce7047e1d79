import { LitElement, css, html } from 'lit';
import type { AdapterDescription, GpuFeatures, KernelTuning } from '../engine/protocol';
import { emit } from './events';

/** What the engine said about its device (the engine worker owns it; this view only shows it). */
export type GpuStatusState =
  | { kind: 'pending' }
  | {
    kind: 'ready'; adapter: AdapterDescription; features: GpuFeatures; limits: Record<string, number>;
    /** The kernel choices measured on this device (null until the engine says), and the measuring's progress. */
    tuning?: KernelTuning | null; tuningProgress?: { done: number; total: number } | null;
  }
  | { kind: 'error'; name: string; message: string }
  /** The engine worker died (crashed, ran out of memory, or stopped answering): it can be restarted. */
  | { kind: 'stopped'; message: string };

const CHROME_HELP = [
  'Use Chrome or Edge 113 or later (desktop), or Chrome 121 or later on Android.',
  'Open the page over https or from localhost: WebGPU is off on plain http.',
  'Check chrome://gpu: "WebGPU" should say "Hardware accelerated". If not, turn on "Use graphics acceleration when available" in chrome://settings/system and restart Chrome.',
  'On Linux, start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan, or enable chrome://flags/#enable-unsafe-webgpu.',
];

/**
 * @summary Shows which WebGPU adapter the engine trains on, or why it cannot and what to do in Chrome, or that the
 * engine stopped, with a button to start a new one.
 * @event spark-restart-engine - the user asked for a new engine after it stopped.
 * @event spark-retune - the user asked to measure the kernel choices on this device again.
 * @csspart panel - the outer box.
 */
export class GpuStatus extends LitElement {
  static override properties = { status: { attribute: false } };

  /** The engine's device as reported by its 'ready' or 'error' event. */
  declare status: GpuStatusState;

  static override styles = css`
    :host { display: block; font: 14px/1.4 system-ui, sans-serif; }
    .panel { border: 1px solid var(--spark-border, #ccd); border-radius: 6px; padding: 8px 12px; }
    .error { border-color: #c33; background: #fff4f4; }
    dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
    dt { font-weight: 600; } dd { margin: 0; font-family: ui-monospace, monospace; font-size: 13px; overflow-wrap: anywhere; }
    ul { margin: 6px 0 0 0; padding-left: 20px; }
    .restart { font: inherit; font-weight: 600; padding: 4px 14px; margin-top: 6px; }
    .restart:focus-visible, .retune:focus-visible { outline: 3px solid #f39c12; outline-offset: 2px; }
    .retune { font: inherit; font-size: 13px; padding: 1px 10px; margin-left: 8px; }
    details { margin-top: 2px; } summary { cursor: pointer; }
    table { border-collapse: collapse; font-size: 12px; } td, th { padding: 0 8px 0 0; text-align: left; }
  `;

  constructor() {
    super();
    this.status = { kind: 'pending' };
  }

  override render() {
    const s = this.status;
    if (s.kind === 'pending') return html`<div part="panel" class="panel" role="status">Starting the engine and looking for a WebGPU adapter…</div>`;
    if (s.kind === 'stopped') {
      const why = s.message.replace(/^The engine stopped: /, '');
      return html`<div part="panel" class="panel error" role="alert" data-testid="engine-stopped">
        <strong>The engine stopped.</strong> ${why.charAt(0).toUpperCase() + why.slice(1)} What it was doing is lost;
        the runs autosaved in this browser are kept, and a new engine offers to resume the newest.
        <div><button class="restart" data-testid="restart-engine" @click=${() => emit(this, 'spark-restart-engine', {})}>Restart the engine</button></div>
      </div>`;
    }
    if (s.kind === 'error') {
      const noWebGpu = s.name === 'WebGPUUnavailableError';
      return html`<div part="panel" class="panel error" role="alert" data-testid="gpu-error">
        <strong>${s.name}</strong>: ${s.message}
        ${noWebGpu ? html`<div>What to do in Chrome:</div><ul>${CHROME_HELP.map((t) => html`<li>${t}</li>`)}</ul>` : null}
      </div>`;
    }
    const { adapter, limits, features } = s;
    const mib = (b: number | undefined) => (b === undefined ? '?' : `${(b / 2 ** 20).toFixed(0)} MiB`);
    return html`<div part="panel" class="panel" role="status" data-testid="gpu-ready">
      <dl>
        <dt>Adapter</dt><dd data-testid="adapter">${[adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' / ') || 'unknown'}</dd>
        <dt>Limits</dt><dd>max buffer ${mib(limits.maxBufferSize)}, storage binding ${mib(limits.maxStorageBufferBindingSize)}, workgroup storage ${limits.maxComputeWorkgroupStorageSize ?? '?'} B</dd>
        <dt>Features</dt><dd>subgroups ${features.subgroups ? 'yes' : 'no'}, shader-f16 ${features.shaderF16 ? 'yes' : 'no'}, timestamp-query ${features.timestampQuery ? 'yes' : 'no'}</dd>
        <dt>Kernels</dt><dd data-testid="tuning">${this.renderTuning(s.tuning ?? null, s.tuningProgress ?? null)}</dd>
      </dl>
    </div>`;
  }

  private renderTuning(t: KernelTuning | null, progress: { done: number; total: number } | null) {
    if (progress) {
      return html`<span data-testid="tuning-progress">measuring which kernel variants are fastest on this device (${progress.done} of ${progress.total}); once per adapter, kept in this browser…</span>`;
    }
    if (!t) return html`waiting for the engine…`;
    const when = t.cached ? `measured in an earlier session (${(t.ms / 1000).toFixed(1)} s), kept in this browser` : `measured now in ${(t.ms / 1000).toFixed(1)} s`;
    const ms = (x: number | null, wrong?: boolean) => (wrong ? 'wrong result here' : x === null ? 'over 2× the best: dropped' : `${x < 10 ? x.toFixed(2) : x.toFixed(0)} ms`);
    return html`<span data-testid="tuning-summary">${tuningSummary(t)}</span>; ${when}
      <button class="retune" data-testid="retune" @click=${() => emit(this, 'spark-retune', {})}>Measure again</button>
      <details><summary>What was measured</summary>
        <table>${t.measured.map((m) => html`<tr><th colspan="2">${m.op} (${m.shape}): ${m.pick}</th></tr>
          ${m.candidates.map((c) => html`<tr><td>${c.name}</td><td>${ms(c.ms, c.wrong)}</td></tr>`)}`)}</table>
        New runs use these choices; a run already built keeps its kernels.
      </details>`;
  }
}

/** The picks in one line: "matmul 128x64 / 64x64 tiles, norm one invocation per row, reduce 64 partials". */
export function tuningSummary(t: KernelTuning): string {
  const tile = (x: KernelTuning['choices']['matmul']['small']) => `${x.wgY * x.tm}x${x.wgX * x.tn}${x.subgroupA ? ' (subgroups)' : ''}`;
  const { matmul, norm, reduceMaxPartials } = t.choices;
  return `matmul tiles ${tile(matmul.small)} (small) and ${tile(matmul.large)} (large), norms ${norm === 'row' ? 'one invocation per row' : 'rows shared by invocations'}, reductions over ${reduceMaxPartials} workgroups`;
}

customElements.define('spark-gpu-status', GpuStatus);

declare global {
  interface HTMLElementTagNameMap {
    'spark-gpu-status': GpuStatus;
  }
}
