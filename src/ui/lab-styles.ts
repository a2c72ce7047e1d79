import { css } from 'lit';

/** The shell's layout: two columns on a laptop or projector, one on a narrow window. */
export const labStyles = css`
  :host {
    display: block;
    --spark-border: #d5d7e0;
    --spark-muted: #555;
    font: 15px/1.45 system-ui, sans-serif;
    color: #1b1b22;
    max-width: 1800px;
    margin: 0 auto;
  }
  header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0 16px; margin-bottom: 8px; }
  h1 { margin: 0; font-size: 24px; }
  .lede { margin: 0; color: var(--spark-muted); }
  h2 { font-size: 16px; margin: 0 0 8px 0; }
  .grid { display: grid; grid-template-columns: minmax(20rem, 27rem) minmax(0, 1fr); gap: 14px; align-items: start; margin-top: 12px; }
  .col { display: grid; gap: 14px; min-width: 0; }
  .card { border: 1px solid var(--spark-border); border-radius: 8px; padding: 10px 14px; background: #fff; min-width: 0; }
  .card[hidden] { display: none; }
  .card.sweep { margin-top: 14px; }
  .head { display: flex; justify-content: space-between; align-items: baseline; gap: 8px; }
  button.small { font: inherit; font-size: 13px; padding: 2px 10px; }
  input.share { width: 100%; box-sizing: border-box; font: 12px ui-monospace, monospace; margin-bottom: 8px; }
  button:focus-visible, select:focus-visible, input:focus-visible { outline: 3px solid #f39c12; outline-offset: 1px; }
  @media (max-width: 960px) {
    /* One column: settings, controls, chart... and checkpoints last. */
    .grid { grid-template-columns: minmax(0, 1fr); }
    .col { display: contents; }
    .ckpt { order: 1; }
  }
  @media (min-width: 1700px) {
    :host { font-size: 17px; }
    .grid { grid-template-columns: minmax(24rem, 32rem) minmax(0, 1fr); }
  }
`;
