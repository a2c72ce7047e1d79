// The lab's new page states as components, without an engine (no GPU needed): a corpus file refused before it is
// read or when it cannot be read, the memory budget setting, the confirmation for a big linked run, the build
// progress bar, and the stopped engine with its restart button. Screenshots go to test-results/lab-ui-*.png.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { page } from 'vitest/browser';
import { DEFAULT_MAX_USER_TEXT_BYTES } from '../../src/data/corpora';
import type { ConfirmRun } from '../../src/ui/confirm-run';
import { formatBytes, si } from '../../src/ui/format';
import type { CorpusPicker } from '../../src/ui/corpus-picker';
import type { GpuStatus } from '../../src/ui/gpu-status';
import { defaultMemoryBudget } from '../../src/model/memory';
import { MEMORY_BUDGET_KEY, type MemoryBudget } from '../../src/ui/memory-budget';
import { farBeyondPresets, largestPreset, runSize } from '../../src/ui/presets';
import type { RunControls } from '../../src/ui/run-controls';
import '../../src/ui/confirm-run';
import '../../src/ui/corpus-picker';
import '../../src/ui/gpu-status';
import '../../src/ui/memory-budget';
import '../../src/ui/run-controls';

const MiB = 2 ** 20;
const shot = (name: string, element: Element) => page.screenshot({ path: `../../test-results/lab-ui-${name}.png`, element });
const text = (el: Element, sel: string) => el.shadowRoot!.querySelector(sel)?.textContent?.replace(/\s+/g, ' ').trim() ?? null;

/** A File that reports `size` and records reads; `fail` makes reading reject as a file that vanished does. */
function spyFile(name: string, size: number, fail = false): File & { reads: number } {
  const f = new File(['The cat sat on the mat.\n'.repeat(40)], name, { type: 'text/plain' }) as File & { reads: number };
  f.reads = 0;
  Object.defineProperty(f, 'size', { value: size });
  const real = f.arrayBuffer.bind(f);
  f.arrayBuffer = () => {
    f.reads++;
    return fail ? Promise.reject(new DOMException('The requested file could not be read, typically due to permission problems.', 'NotReadableError')) : real();
  };
  return f;
}

async function mount<K extends keyof HTMLElementTagNameMap>(tag: K, setup: (el: HTMLElementTagNameMap[K]) => void = () => undefined): Promise<HTMLElementTagNameMap[K]> {
  const el = document.createElement(tag);
  setup(el);
  el.style.cssText = 'display:block; max-width: 640px; margin: 8px; font: 15px/1.45 system-ui, sans-serif';
  document.body.append(el);
  await (el as unknown as { updateComplete: Promise<unknown> }).updateComplete;
  return el;
}

describe('lab UI states', () => {
  const mounted: Element[] = [];
  const keep = <T extends Element>(el: T) => (mounted.push(el), el);
  beforeAll(async () => {
    await page.viewport(900, 900);
    localStorage.removeItem(MEMORY_BUDGET_KEY);
  });
  afterEach(() => {
    for (const el of mounted.splice(0)) el.remove();
  });
  afterAll(() => localStorage.removeItem(MEMORY_BUDGET_KEY));

  it('refuses a corpus file over the limit without reading it, and names a file that cannot be read', async () => {
    const picker = keep(await mount('spark-corpus-picker')) as CorpusPicker;
    const huge = spyFile('wikipedia-dump.txt', 3 * 2 ** 30);
    await picker.takeFile(huge);
    await picker.updateComplete;
    expect(huge.reads).toBe(0);
    expect(text(picker, '[data-testid="corpus-error"]')).toBe(
      `wikipedia-dump.txt is 3.00 GiB, more than the ${(DEFAULT_MAX_USER_TEXT_BYTES / MiB).toFixed(1)} MiB limit. Use a smaller excerpt of it (a few MB is plenty for a model trained in the browser).`,
    );
    expect(picker.value).not.toBe('user');

    const gone = spyFile('moved-away.txt', 960, true);
    await picker.takeFile(gone);
    await picker.updateComplete;
    expect(gone.reads).toBe(1);
    expect(text(picker, '[data-testid="corpus-error"]')).toMatch(/^Could not read moved-away\.txt: NotReadableError: The requested file could not be read.*Choose it again/);
    await shot('corpus-unreadable', picker);

    const fine = spyFile('notes.txt', 960);
    await picker.takeFile(fine);
    await picker.updateComplete;
    expect(picker.value).toBe('user');
    expect(picker.problem).toBeNull();
  });

  it('the memory budget: a default from the limits, the user’s own value remembered, a wrong value refused at the field', async () => {
    const limits = { maxBufferSize: 1024 * MiB, maxStorageBufferBindingSize: 1024 * MiB };
    const changes: { bytes: number | undefined; valid: boolean }[] = [];
    const budget = keep(await mount('spark-memory-budget', (el) => el.addEventListener('spark-memory-budget-change', (e) => changes.push(e.detail)))) as MemoryBudget;
    expect(budget.bytes).toBeUndefined(); // no limits yet: no budget to claim
    budget.limits = limits;
    budget.needBytes = 3 * 2 ** 30;
    await budget.updateComplete;
    expect(budget.bytes).toBe(defaultMemoryBudget(limits));
    expect(changes.at(-1)).toEqual({ bytes: defaultMemoryBudget(limits), valid: true });
    expect(text(budget, '[data-testid="memory-budget-doc"]')).toMatch(/Default: 2048 MiB, from this GPU's limits\. These settings need about 3\.00 GiB to train: over the 2\.00 GiB budget; they will be refused\./);
    await shot('memory-budget-over', budget);

    const input = budget.shadowRoot!.querySelector<HTMLInputElement>('[data-testid="memory-budget"]')!;
    const type = async (v: string) => {
      input.value = v;
      input.dispatchEvent(new Event('input'));
      await budget.updateComplete;
    };
    await type('lots');
    expect(budget.valid).toBe(false);
    expect(changes.at(-1)).toEqual({ bytes: undefined, valid: false });
    expect(text(budget, '[role="alert"]')).toBe('the memory budget must be a number of MiB, got "lots"');
    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(localStorage.getItem(MEMORY_BUDGET_KEY)).toBeNull(); // never remembered
    await type('0');
    expect(text(budget, '[role="alert"]')).toMatch(/from 1 to \d+ MiB, got 0/);
    await type('6144');
    expect(budget.bytes).toBe(6144 * MiB);
    expect(localStorage.getItem(MEMORY_BUDGET_KEY)).toBe('6144');
    expect(text(budget, '[data-testid="memory-over-budget"]')).toBeNull();

    // A new page (a new element) starts with the remembered value; "Use the default" forgets it.
    const again = keep(await mount('spark-memory-budget', (el) => (el.limits = limits))) as MemoryBudget;
    expect(again.bytes).toBe(6144 * MiB);
    expect(again.shadowRoot!.querySelector<HTMLInputElement>('[data-testid="memory-budget"]')!.value).toBe('6144');
    again.shadowRoot!.querySelector<HTMLButtonElement>('[data-testid="memory-budget-default"]')!.click();
    await again.updateComplete;
    expect(again.bytes).toBe(defaultMemoryBudget(limits));
    expect(localStorage.getItem(MEMORY_BUDGET_KEY)).toBeNull();
  });

  it('asks before a big linked run: states parameters and memory; Go back, Escape and Train it answer', async () => {
    const size = runSize({ model: { nLayer: 12, nEmbd: 768, nHead: 12 } })!;
    expect(farBeyondPresets(size)).toBe(true);
    expect(farBeyondPresets(largestPreset())).toBe(false);
    expect(farBeyondPresets(runSize({ model: { nLayer: 8, nEmbd: 512, nHead: 8 } })!)).toBe(false);
    const confirm = keep(await mount('spark-confirm-run')) as ConfirmRun;
    const info = { size, largestPreset: largestPreset(), budgetBytes: 64 * MiB };

    let answer = confirm.ask(info);
    await confirm.updateComplete;
    const dialog = confirm.shadowRoot!.querySelector('dialog')!;
    expect(dialog.open).toBe(true);
    const top = largestPreset();
    expect(size.params).toBeGreaterThan(85e6);
    expect(text(confirm, '[data-testid="confirm-size"]')).toContain(
      `a model of ${si(size.params)} parameters that needs about ${formatBytes(size.memoryBytes)} of GPU memory to train: far beyond the presets ` +
        `(the largest has ${si(top.params)} parameters and needs ${formatBytes(top.memoryBytes)})`,
    );
    expect(text(confirm, '[data-testid="confirm-over"]')).toMatch(/over your GPU memory budget of 64\.0 MiB/);
    expect(confirm.shadowRoot!.activeElement?.getAttribute('data-testid')).toBe('confirm-back'); // the safe choice has the focus
    await page.screenshot({ path: '../../test-results/lab-ui-confirm-run.png' });
    confirm.shadowRoot!.querySelector<HTMLButtonElement>('[data-testid="confirm-back"]')!.click();
    expect(await answer).toBe(false);
    expect(confirm.shadowRoot!.querySelector('dialog')!.open).toBe(false);

    answer = confirm.ask(info);
    await confirm.updateComplete;
    confirm.shadowRoot!.querySelector('dialog')!.dispatchEvent(new Event('cancel', { cancelable: true })); // Escape
    expect(await answer).toBe(false);

    answer = confirm.ask({ ...info, budgetBytes: 4 * 2 ** 30 });
    await confirm.updateComplete;
    expect(text(confirm, '[data-testid="confirm-over"]')).toBeNull();
    confirm.shadowRoot!.querySelector<HTMLButtonElement>('[data-testid="confirm-train"]')!.click();
    expect(await answer).toBe(true);
  });

  it('shows the build progress under the busy line, by phase', async () => {
    const controls = keep(await mount('spark-run-controls', (el) => {
      el.state = 'no-run';
      el.busy = 'Creating the run (tokenizing the corpus, building the model)…';
      el.building = { phase: 'tokenizer', done: 1234, total: 4000 };
    })) as RunControls;
    const bar = () => controls.shadowRoot!.querySelector<HTMLElement>('[data-testid="build-progress"]');
    expect(bar()!.textContent).toContain('Training the BPE tokenizer: 30%');
    const progress = bar()!.querySelector('progress')!;
    expect([progress.value, progress.max]).toEqual([1234, 4000]);
    expect(progress.getAttribute('aria-label')).toBe('Building the run');
    await shot('build-progress', controls);
    controls.building = { phase: 'encoding', done: 1, total: 2 };
    await controls.updateComplete;
    expect(bar()!.textContent).toContain('Encoding the corpus: 50%');
    controls.building = { phase: 'compiling', done: 7, total: 31 };
    await controls.updateComplete;
    expect(bar()!.textContent).toContain('Compiling the GPU kernels: 7 of 31');
    expect(bar()!.querySelector('progress')!.value).toBe(7);
    controls.busy = ''; // done: the bar goes with the busy line
    await controls.updateComplete;
    expect(bar()).toBeNull();
  });

  it('says the engine stopped and offers a restart that the app hears', async () => {
    const status = keep(await mount('spark-gpu-status', (el) => {
      el.status = { kind: 'stopped', message: 'The engine stopped: its worker failed: Uncaught RangeError: Array buffer allocation failed.' };
    })) as GpuStatus;
    const box = status.shadowRoot!.querySelector('[data-testid="engine-stopped"]')!;
    expect(box.getAttribute('role')).toBe('alert');
    expect(box.textContent!.replace(/\s+/g, ' ')).toMatch(/The engine stopped\. Its worker failed: Uncaught RangeError: Array buffer allocation failed\. What it was doing is lost; the runs autosaved in this browser are kept/);
    let restarts = 0;
    document.body.addEventListener('spark-restart-engine', () => restarts++, { once: true });
    status.shadowRoot!.querySelector<HTMLButtonElement>('[data-testid="restart-engine"]')!.click();
    expect(restarts).toBe(1);
    await shot('engine-stopped', status);
  });
});
