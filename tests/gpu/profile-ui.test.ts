// The step profile view against a scripted client: the button asks for a profile, the bars show it grouped four
// ways, an adapter without timestamps says so, a refusal is shown. No GPU needed; the test plays the app with
// profileInto as LabApp does. The real profile (engine, trainer, timestamps) is tested in profile.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { page } from 'vitest/browser';
import { EngineRequestError } from '../../src/engine/client';
import { parseLabel, summarise, type DispatchRecord, type StepProfile } from '../../src/lib/step-profile';
import { PROFILE_BARS, type ProfileView } from '../../src/ui/profile-view';
import { profileInto } from '../../src/ui/view-jobs';
import '../../src/ui/profile-view';

const frames = async (n = 2) => {
  for (let i = 0; i < n; i++) await new Promise((r) => requestAnimationFrame(r));
};

/** A 2-layer step: per layer attention and matmuls forward and backward, then the optimizer. */
function fixture(timed: boolean): StepProfile {
  const records: DispatchRecord[] = [];
  const add = (label: string, scope: string, ms: number) => records.push({ label, ...parseLabel(label), scope, workgroups: 4, bytesBound: 4096, ms: timed ? ms : null });
  add('embed?#forward', 'forward', 0.4);
  for (const l of [0, 1]) {
    for (const w of ['q', 'k', 'v', 'o', 'up', 'down']) add(`matmul?TM=4#main`, `forward/h.${l}`, w === 'up' || w === 'down' ? 2.1 : 1.2);
    add('attention?#forward', `forward/h.${l}`, 3.5);
    add('norm?#rms_forward', `forward/h.${l}`, 0.3);
    add('elementwise?SWIGLU=1#swiglu_forward', `forward/h.${l}`, 0.5);
  }
  add('loss?#loss_grad', 'loss', 1.1);
  for (const l of [1, 0]) {
    for (let i = 0; i < 12; i++) add(`matmul?TM=4#${i % 2 ? 'main' : 'dw'}`, `backward/h.${l}`, 1.4);
    add('attention?#backward_dq', `backward/h.${l}`, 4.2);
    add('attention?#backward_dkv', `backward/h.${l}`, 4.8);
  }
  add('reduce?#norms', 'optimizer', 0.7);
  add('adamw?#step', 'optimizer', 1.9);
  return summarise(records, { step: 41, wallMs: timed ? 95 : 80, encodeMs: 2.4, flops: 3.1e8 });
}

describe('the step profile view', () => {
  let view: ProfileView;
  beforeAll(async () => {
    await page.viewport(1100, 1400);
    document.body.style.cssText = 'margin: 12px; font: 15px/1.45 system-ui, sans-serif; color: #1b1b22';
    view = document.createElement('spark-profile-view');
    view.style.cssText = 'width: 760px; display: block';
    document.body.append(view);
    await view.updateComplete;
  });

  const button = () => view.shadowRoot!.querySelector<HTMLButtonElement>('[data-testid="profile-step"]')!;
  const bars = () => [...view.shadowRoot!.querySelectorAll<HTMLLIElement>('[data-testid="profile-bars"] li')];
  const group = async (g: string) => {
    const sel = view.shadowRoot!.querySelector<HTMLSelectElement>('[data-testid="profile-grouping"]')!;
    sel.value = g;
    sel.dispatchEvent(new Event('change'));
    await view.updateComplete;
  };

  it('asks for a profile only while a run can be profiled, then shows it by family, phase, layer and kernel', async () => {
    expect(button().disabled).toBe(true);
    view.canProfile = true;
    await view.updateComplete;
    expect(button().disabled).toBe(false);
    let asked = 0;
    let answer!: (p: StepProfile) => void;
    view.addEventListener('spark-profile', () => {
      asked++;
      void profileInto({ profile: () => new Promise<StepProfile>((r) => (answer = r)) }, view);
    });
    button().click();
    await view.updateComplete;
    expect(asked).toBe(1);
    expect(button().disabled).toBe(true); // one request at a time
    expect(button().textContent).toMatch(/Profiling the next step/);
    answer(fixture(true));
    await frames();
    await view.updateComplete;
    expect(button().disabled).toBe(false);
    const summary = view.shadowRoot!.querySelector('[data-testid="profile-summary"]')!.textContent!;
    expect(summary).toMatch(/Step 41: \d+ dispatches, [\d.]+ ms on the GPU/);
    expect(summary).toMatch(/2\.4 ms recording it in JavaScript/);
    expect(bars().map((b) => b.dataset.key)).toEqual(['matmul', 'attention', 'adamw', 'loss', 'elementwise', 'reduce', 'norm', 'embed']);
    // bar widths follow the times: the largest is full, the rest in proportion
    const width = (li: HTMLLIElement) => parseFloat((li.querySelector('.bar') as HTMLElement).style.width);
    expect(width(bars()[0]!)).toBeCloseTo(100, 2);
    const p = view.profile!;
    expect(width(bars()[1]!)).toBeCloseTo((100 * p.byFamily[1]!.ms!) / p.byFamily[0]!.ms!, 2); // the style keeps ~6 digits
    await page.screenshot({ path: '../../test-results/profile-ui-family.png', element: view });

    await group('top');
    expect(bars().map((b) => b.dataset.key)).toEqual(['backward', 'forward', 'optimizer', 'loss']);
    await group('scope');
    expect(bars().map((b) => b.dataset.key)).toEqual(['backward/h.0', 'backward/h.1', 'forward/h.0', 'forward/h.1', 'optimizer', 'loss', 'forward']);
    await page.screenshot({ path: '../../test-results/profile-ui-layers.png', element: view });
    await group('entry');
    expect(bars()[0]!.dataset.key).toBe('matmul#main');
    expect(bars().length).toBeLessThanOrEqual(PROFILE_BARS + 1);
  });

  it('says when the adapter has no timestamps (the bars then count dispatches), and shows a refusal', async () => {
    view.show({ profile: fixture(false) });
    await group('family');
    expect(view.shadowRoot!.querySelector('[data-testid="profile-summary"]')!.textContent).toMatch(/no timestamp queries: the bars count dispatches/);
    expect(bars()[0]!.textContent).toMatch(/\d+ dispatches/);
    await page.screenshot({ path: '../../test-results/profile-ui-untimed.png', element: view });
    await profileInto({ profile: () => Promise.reject(new EngineRequestError({ name: 'EngineStateError', message: 'profile: train the run first (the profile is of its next training step)' })) }, view);
    await view.updateComplete;
    expect(view.shadowRoot!.querySelector('[data-testid="profile-error"]')!.textContent).toMatch(/train the run first/);
  });
});
