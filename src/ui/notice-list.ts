import { LitElement, css, html } from 'lit';
import { emit } from './events';

export interface Notice {
  id: number;
  kind: 'error' | 'warning' | 'info';
  title: string;
  text: string;
  /** Stable test id by subject ('engine-error', 'device-lost', 'url-error'...). */
  testId: string;
}

/**
 * @summary The page's messages: errors (announced as alerts), warnings and information, each with a close button.
 * @event spark-dismiss - detail { id }: the user closed a notice.
 */
export class NoticeList extends LitElement {
  static override properties = { notices: { attribute: false } };

  /** The notices to show, oldest first. */
  declare notices: Notice[];

  static override styles = css`
    :host { display: grid; gap: 6px; margin-top: 8px; }
    :host([empty]) { display: none; }
    .notice { display: flex; justify-content: space-between; gap: 8px; align-items: start; border-radius: 6px; padding: 8px 12px; border: 1px solid; }
    .error { border-color: #c33; background: #fff4f4; }
    .warning { border-color: #d99a00; background: #fff9e8; }
    .info { border-color: #3867d6; background: #eef3ff; }
    button { font: inherit; font-size: 18px; line-height: 1; border: none; background: none; cursor: pointer; padding: 0 4px; }
    button:focus-visible { outline: 3px solid #f39c12; }
  `;

  constructor() {
    super();
    this.notices = [];
  }

  protected override updated(): void {
    this.toggleAttribute('empty', this.notices.length === 0);
  }

  override render() {
    return this.notices.map((n) => html`<div class="notice ${n.kind}" role=${n.kind === 'error' ? 'alert' : 'status'} data-testid=${n.testId}>
      <div><strong>${n.title}.</strong> ${n.text}</div>
      <button aria-label="Dismiss: ${n.title}" @click=${() => emit(this, 'spark-dismiss', { id: n.id })}>×</button>
    </div>`);
  }
}

customElements.define('spark-notice-list', NoticeList);

declare global {
  interface HTMLElementTagNameMap {
    'spark-notice-list': NoticeList;
  }
}
