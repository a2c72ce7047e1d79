import { LitElement, css, html } from 'lit';
import { requestGpu, type Gpu } from '../gpu/device';

/**
 * @summary Shows which WebGPU adapter Spark Lab will train on, or why it cannot.
 * @csspart panel - the outer box.
 */
export class GpuStatus extends LitElement {
  static override properties = { state: { state: true } };

  /** 'pending' while the adapter is requested, then 'ready' or 'error'. */
  declare state: { kind: 'pending' } | { kind: 'ready'; gpu: Gpu } | { kind: 'error'; name: string; message: string };

  static override styles = css`
    :host { display: block; font: 14px/1.4 system-ui, sans-serif; }
    .panel { border: 1px solid #ccd; border-radius: 6px; padding: 12px 16px; max-width: 60rem; }
    .error { border-color: #c33; background: #fff4f4; }
    dt { font-weight: 600; } dd { margin: 0 0 6px 0; font-family: ui-monospace, monospace; }
  `;

  constructor() {
    super();
    this.state = { kind: 'pending' };
  }

  override connectedCallback(): void {
    super.connectedCallback();
    requestGpu().then(
      (gpu) => (this.state = { kind: 'ready', gpu }),
      (e: unknown) => (this.state = { kind: 'error', name: e instanceof Error ? e.name : 'Error', message: e instanceof Error ? e.message : String(e) }),
    );
  }

  override render() {
    const s = this.state;
    if (s.kind === 'pending') return html`<div part="panel" class="panel" role="status">Looking for a WebGPU adapter…</div>`;
    if (s.kind === 'error') return html`<div part="panel" class="panel error" role="alert" data-testid="gpu-error"><strong>${s.name}</strong>: ${s.message}</div>`;
    const { adapter, limits, features } = s.gpu;
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    return html`<div part="panel" class="panel" role="status" data-testid="gpu-ready">
      <dl>
        <dt>Adapter</dt><dd data-testid="adapter">${[adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' / ') || 'unknown'}</dd>
        <dt>Limits</dt><dd>max buffer ${mib(limits.maxBufferSize)}, storage binding ${mib(limits.maxStorageBufferBindingSize)}, workgroup storage ${limits.maxComputeWorkgroupStorageSize} B, invocations ${limits.maxComputeInvocationsPerWorkgroup}</dd>
        <dt>Features</dt><dd>subgroups ${features.subgroups ? 'yes' : 'no'}, shader-f16 ${features.shaderF16 ? 'yes' : 'no'}, timestamp-query ${features.timestampQuery ? 'yes' : 'no'}</dd>
      </dl>
    </div>`;
  }
}

customElements.define('spark-gpu-status', GpuStatus);

declare global {
  interface HTMLElementTagNameMap {
    'spark-gpu-status': GpuStatus;
  }
}
