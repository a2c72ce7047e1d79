// Node has no IndexedDB: the store's behaviour on real IndexedDB is tested in tests/gpu/storage.test.ts
// (headless Chromium). Here: what happens without one, and how IndexedDB failures are reported.
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/train/checkpoint';
import { CheckpointStore } from '../../src/train/storage';

/** An IDBFactory whose open() fails with `error`, asynchronously like the real one. */
function failingFactory(error: DOMException): IDBFactory {
  return {
    open: () => {
      const req = { error, onerror: null as null | (() => void) } as unknown as IDBOpenDBRequest;
      setTimeout(() => (req.onerror as unknown as () => void)?.());
      return req;
    },
  } as unknown as IDBFactory;
}

async function rejection(p: Promise<unknown>): Promise<CheckpointError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return e as CheckpointError;
  }
  throw new Error('expected the promise to reject');
}

describe('CheckpointStore without a working IndexedDB', () => {
  it('says IndexedDB is unavailable', async () => {
    const e = await rejection(new CheckpointStore().list());
    expect(e.code).toBe('storage');
    expect(e.message).toMatch(/IndexedDB is not available/);
  });

  it('reports a full quota as quota, with what to do', async () => {
    const store = new CheckpointStore({ indexedDB: failingFactory(new DOMException('full', 'QuotaExceededError')) });
    const e = await rejection(store.save('r', new Uint8Array(4), { name: 'run', configSummary: '', step: 1 }));
    expect(e.code).toBe('quota');
    expect(e.message).toMatch(/saving run "run".*quota is full; delete old runs/);
  });

  it('reports other failures with their name and message, and retries the open next time', async () => {
    let opens = 0;
    const factory = failingFactory(new DOMException('disk on fire', 'UnknownError'));
    const counting = { open: (...a: [string, number]) => (opens++, factory.open(...a)) } as unknown as IDBFactory;
    const store = new CheckpointStore({ indexedDB: counting });
    const e = await rejection(store.load('r'));
    expect(e.code).toBe('storage');
    expect(e.message).toMatch(/loading run "r".*UnknownError: disk on fire/);
    await rejection(store.delete('r'));
    expect(opens).toBe(2);
  });
});
