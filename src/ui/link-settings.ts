import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { ConfirmRunInfo } from './confirm-run';
import { farBeyondPresets, largestPreset, runSize } from './presets';
import { decodeConfigHash, encodeConfigHash, type DecodedConfig, type PartialRunConfig } from './url-config';

/**
 * The settings link (`#config=`), as a Lit controller: reads it when the page opens and when it changes, keeps
 * it in step with the form, shares it, and holds a stranger's big run back until the user confirms its size
 * (a link can ask for a model that takes gigabytes of GPU memory).
 */
export class LinkSettings implements ReactiveController {
  /** The link shown after "Share link", '' when hidden. */
  shareUrl = '';
  /** The form holds settings from a link that were not confirmed yet. */
  private fromLink = false;
  private readonly onHashChange = () => this.read(location.hash);

  /** `apply` gets every link that was read (a refusal too); the host shows it. */
  constructor(private readonly host: ReactiveControllerHost & HTMLElement, private readonly apply: (r: DecodedConfig) => void) {
    host.addController(this);
  }

  hostConnected(): void {
    window.addEventListener('hashchange', this.onHashChange);
    // After the first render (the form exists), outside any update.
    void this.host.updateComplete.then(() => this.read(location.hash));
  }

  hostDisconnected(): void {
    window.removeEventListener('hashchange', this.onHashChange);
  }

  private read(hash: string): void {
    const r = decodeConfigHash(hash);
    if (!r) return;
    if (r.ok) this.fromLink = true;
    this.apply(r);
  }

  /** The form changed: a valid config becomes the page's link (without a history entry); the shared link hides. */
  follow(config: PartialRunConfig, valid: boolean): void {
    if (this.shareUrl) {
      this.shareUrl = '';
      this.host.requestUpdate();
    }
    if (!valid) return;
    const hash = encodeConfigHash(config);
    const want = hash ? `#${hash}` : '';
    if (location.hash !== want) history.replaceState(history.state, '', `${location.pathname}${location.search}${want}`);
  }

  async share(): Promise<void> {
    this.shareUrl = location.href;
    this.host.requestUpdate();
    await navigator.clipboard?.writeText(location.href).catch(() => undefined);
  }

  /**
   * Whether `config` may train now: yes unless it came from a link and is far beyond the presets, in which case
   * `ask` states its size and the user decides. Once confirmed (or trained small), the link asks no more.
   */
  async mayTrain(config: PartialRunConfig, budgetBytes: number | undefined, ask: (info: ConfirmRunInfo) => Promise<boolean>): Promise<boolean> {
    if (!this.fromLink) return true;
    const size = runSize(config);
    if (size && farBeyondPresets(size) && !(await ask({ size, largestPreset: largestPreset(), budgetBytes }))) return false;
    this.fromLink = false;
    return true;
  }
}
