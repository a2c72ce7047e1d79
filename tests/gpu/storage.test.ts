// CheckpointStore against the real IndexedDB of headless Chromium (no GPU needed; it lives in the browser project).
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointError, decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint';
import { CheckpointStore, type SaveStage } from '../../src/train/storage';
import { sameCheckpoint, sampleCheckpoint } from '../util/checkpoint-fixtures';

const opened: CheckpointStore[] = [];
let dbCounter = 0;

function newStore(onSaveStage?: (stage: SaveStage) => void, dbName = `spark-lab-test-${Date.now()}-${dbCounter++}`) {
  const store = new CheckpointStore({ dbName, onSaveStage });
  opened.push(store);
  return store;
}

afterEach(async () => {
  for (const s of opened.splice(0)) {
    s.close();
    await new Promise((resolve) => {
      const r = indexedDB.deleteDatabase(s.dbName);
      r.onsuccess = r.onerror = r.onblocked = resolve;
    });
  }
});

/** Raw access to the store's database, to look behind the API. */
async function raw<T>(store: CheckpointStore, fn: (tx: IDBTransaction) => IDBRequest<T> | void): Promise<T | undefined> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const r = indexedDB.open(store.dbName);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  try {
    const tx = db.transaction(['runs', 'blobs'], 'readwrite');
    const req = fn(tx);
    await new Promise((resolve, reject) => ((tx.oncomplete = resolve), (tx.onabort = () => reject(tx.error))));
    return req ? req.result : undefined;
  } finally {
    db.close();
  }
}

const blobCount = (store: CheckpointStore) => raw(store, (tx) => tx.objectStore('blobs').count());
const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const summary = (step: number, name = 'tiny run') => ({ name, configSummary: '1 layer, d=4, byte tokenizer', step });

async function rejection(p: Promise<unknown>): Promise<CheckpointError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return e as CheckpointError;
  }
  throw new Error('expected the promise to reject');
}

describe('CheckpointStore (IndexedDB)', () => {
  it('saves, lists without loading tensors, and loads a real checkpoint', async () => {
    const store = newStore();
    expect(await store.list()).toEqual([]);
    const c = sampleCheckpoint();
    const file = encodeCheckpoint(c);
    const saved = await store.save('run-1', file, summary(42));
    expect(saved).toMatchObject({ id: 'run-1', name: 'tiny run', step: 42, byteSize: file.length });
    const list = await store.list();
    expect(list).toEqual([saved]);
    expect(Object.keys(list[0]).sort()).toEqual(['byteSize', 'configSummary', 'id', 'name', 'savedAt', 'step']);
    expect(Date.parse(list[0].savedAt)).toBeGreaterThan(Date.now() - 60_000);
    const loaded = await store.load('run-1');
    expect(loaded).toEqual(file);
    expect(sameCheckpoint(decodeCheckpoint(loaded!), c)).toBe(true);
    expect(await store.load('no-such-run')).toBeNull();
  });

  it('stores exactly the given bytes of a view into a larger buffer', async () => {
    const store = newStore();
    const big = new Uint8Array(1000).map((_, i) => i & 0xff);
    await store.save('r', big.subarray(10, 20), summary(1));
    expect(Array.from((await store.load('r'))!)).toEqual(Array.from(big.subarray(10, 20)));
    expect((await store.list())[0].byteSize).toBe(10);
  });

  it('overwrites a run atomically and deletes the old blob', async () => {
    const store = newStore();
    await store.save('r', bytes(100, 1), summary(10));
    await store.save('r', bytes(200, 2), summary(20));
    expect((await store.load('r'))!).toEqual(bytes(200, 2));
    const list = await store.list();
    expect(list.map((r) => [r.id, r.step, r.byteSize])).toEqual([['r', 20, 200]]);
    expect(await blobCount(store)).toBe(1);
  });

  it('a save that fails after writing its blob keeps the previous checkpoint and cleans up', async () => {
    let failAt: SaveStage | null = null;
    const store = newStore((stage) => {
      if (stage === failAt) throw new Error(`simulated failure at ${stage}`);
    });
    await store.save('r', bytes(64, 7), summary(5));
    for (const stage of ['blob-written', 'swapping'] as const) {
      failAt = stage;
      const e = await rejection(store.save('r', bytes(128, 9), summary(6)));
      expect(e.code).toBe('storage');
      expect(e.message).toMatch(new RegExp(`saving run "tiny run".*simulated failure at ${stage}`));
      expect((await store.load('r'))!).toEqual(bytes(64, 7));
      expect((await store.list()).map((r) => r.step)).toEqual([5]);
      expect(await blobCount(store)).toBe(1);
    }
    failAt = null;
    await store.save('r', bytes(32, 3), summary(7));
    expect((await store.load('r'))!).toEqual(bytes(32, 3));
  });

  it('an interrupted save leaves only an orphan blob, which sweepOrphans removes', async () => {
    const store = newStore();
    await store.save('r', bytes(16, 1), summary(1));
    // a tab closed between writing the blob and swapping the record
    await raw(store, (tx) => void tx.objectStore('blobs').put(bytes(16, 2).buffer, `${Date.now() - 3_600_000}:old:r`));
    await raw(store, (tx) => void tx.objectStore('blobs').put(bytes(16, 3).buffer, `${Date.now()}:recent:r`));
    expect((await store.load('r'))!).toEqual(bytes(16, 1));
    expect(await store.sweepOrphans()).toBe(1); // the recent one may be a save in flight in another tab
    expect(await store.sweepOrphans(0)).toBe(1);
    expect(await blobCount(store)).toBe(1);
    expect((await store.load('r'))!).toEqual(bytes(16, 1));
  });

  it('serialises concurrent saves of one run without leaking blobs', async () => {
    const store = newStore();
    await Promise.all([1, 2, 3, 4, 5].map((i) => store.save('r', bytes(10 * i, i), summary(i))));
    const [record] = await store.list();
    expect((await store.load('r'))!).toEqual(bytes(10 * record.step, record.step));
    expect(await blobCount(store)).toBe(1);
  });

  it('lists several runs newest first and deletes one without touching the others', async () => {
    const store = newStore();
    await store.save('a', bytes(8, 1), summary(1, 'first'));
    await new Promise((r) => setTimeout(r, 5));
    await store.save('b', bytes(8, 2), summary(2, 'second'));
    expect((await store.list()).map((r) => r.name)).toEqual(['second', 'first']);
    expect(await store.delete('a')).toBe(true);
    expect(await store.delete('a')).toBe(false);
    expect(await store.load('a')).toBeNull();
    expect((await store.list()).map((r) => r.id)).toEqual(['b']);
    expect(await blobCount(store)).toBe(1);
    expect((await store.load('b'))!).toEqual(bytes(8, 2));
  });

  it('reports a record whose data went missing, and survives reopening', async () => {
    const store = newStore();
    await store.save('r', bytes(8, 1), summary(1));
    store.close();
    const again = newStore(undefined, store.dbName);
    expect((await again.list()).map((r) => r.id)).toEqual(['r']);
    await raw(again, (tx) => void tx.objectStore('blobs').clear());
    const e = await rejection(again.load('r'));
    expect(e.code).toBe('storage');
    expect(e.message).toMatch(/checkpoint data of run "tiny run" is missing/);
  });

  it('refuses a save without an id or with a bad step', async () => {
    const store = newStore();
    expect((await rejection(store.save('', bytes(1, 1), summary(1)))).code).toBe('bad-input');
    expect((await rejection(store.save('r', bytes(1, 1), summary(-1)))).code).toBe('bad-input');
  });
});
