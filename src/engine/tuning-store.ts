/**
 * The kernel tunings in IndexedDB (kernels/autotune.ts measures them), one per adapter key, in their own database
 * so the other stores' versions stay their own. Failures are CheckpointErrors as in train/storage.ts. A record read
 * back is checked by validTuning before use; a damaged one is measured again, not trusted.
 */
import type { TuningStore } from '../kernels/autotune';
import type { KernelTuning } from '../kernels/tuning';
import { finished, IdbConnection, request, storageError } from '../train/storage';

export const DEFAULT_TUNING_DB_NAME = 'spark-lab-tuning';
const DB_VERSION = 1;
const TUNINGS = 'tunings';

export class IdbTuningStore implements TuningStore {
  private readonly conn: IdbConnection;

  constructor(opts: { indexedDB?: IDBFactory; dbName?: string } = {}) {
    this.conn = new IdbConnection(
      opts.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB, opts.dbName ?? DEFAULT_TUNING_DB_NAME, DB_VERSION, 'the kernel tuning store',
      'IndexedDB is not available here, so the kernel tuning is measured again in every session (private browsing or an old browser?)',
      (db) => {
        if (!db.objectStoreNames.contains(TUNINGS)) db.createObjectStore(TUNINGS);
      },
    );
  }

  async load(key: string): Promise<unknown> {
    try {
      const db = await this.conn.open();
      return (await request(db.transaction(TUNINGS).objectStore(TUNINGS).get(key))) ?? null;
    } catch (e) {
      throw storageError('loading the kernel tuning', e);
    }
  }

  async save(key: string, tuning: KernelTuning): Promise<void> {
    try {
      const db = await this.conn.open();
      const tx = db.transaction(TUNINGS, 'readwrite');
      tx.objectStore(TUNINGS).put(tuning, key);
      await finished(tx);
    } catch (e) {
      throw storageError('saving the kernel tuning', e);
    }
  }

  /** Forgets every stored tuning (the page's "measure again" clears, then measures). */
  async clear(): Promise<void> {
    try {
      const db = await this.conn.open();
      const tx = db.transaction(TUNINGS, 'readwrite');
      tx.objectStore(TUNINGS).clear();
      await finished(tx);
    } catch (e) {
      throw storageError('clearing the kernel tuning', e);
    }
  }

  close(): void {
    this.conn.close();
  }
}
