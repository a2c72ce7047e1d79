/**
 * Autosaved runs in IndexedDB. Two object stores: `runs` holds one small index record per run (what the
 * run list shows), `blobs` holds the checkpoint bytes under a fresh key per save. A save writes the new blob
 * first, then swaps the run's record and deletes the old blob in one transaction, so a failed or interrupted
 * save leaves the previous checkpoint whole (at worst an orphan blob, which `sweepOrphans` removes).
 */
import { CheckpointError } from './safetensors';

export interface RunSummary {
  /** What the run list shows as the run's title. */
  name: string;
  /** One line describing the config, e.g. `4 layers, d=128, byte tokenizer`. */
  configSummary: string;
  step: number;
}

export interface StoredRun extends RunSummary {
  id: string;
  /** ISO 8601 time of the save. */
  savedAt: string;
  byteSize: number;
}

interface RunRecord extends StoredRun {
  blobKey: string;
}

export type SaveStage = 'blob-written' | 'swapping';

export interface CheckpointStoreOptions {
  /** Defaults to the global `indexedDB`. */
  indexedDB?: IDBFactory;
  dbName?: string;
  /**
   * Fault injection for tests: called as a save reaches each stage ('swapping' runs inside the swap
   * transaction); throwing makes the save fail right there.
   */
  onSaveStage?: (stage: SaveStage) => void;
}

const DB_VERSION = 1;
const RUNS = 'runs';
const BLOBS = 'blobs';
export const DEFAULT_DB_NAME = 'spark-lab-checkpoints';

/** An IndexedDB failure as a CheckpointError: `quota` when the storage is full, else `storage`, prefixed by what failed. */
export function storageError(action: string, cause: unknown): CheckpointError {
  if (cause instanceof CheckpointError) {
    return cause.code === 'storage' || cause.code === 'quota' ? new CheckpointError(cause.code, `${action}: ${cause.message}`) : cause;
  }
  const name = cause instanceof DOMException || cause instanceof Error ? cause.name : '';
  const detail = cause instanceof Error || cause instanceof DOMException ? cause.message : String(cause);
  if (name === 'QuotaExceededError') {
    return new CheckpointError('quota', `${action}: the browser's storage quota is full; delete old runs or download and remove checkpoints`);
  }
  return new CheckpointError('storage', `${action}: ${name ? `${name}: ` : ''}${detail || 'IndexedDB failed'}`);
}

export const request = <T>(r: IDBRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });

/** Resolves when the transaction commits; rejects with `reason()` (or the transaction's error) if it aborts. */
export const finished = (tx: IDBTransaction, reason: () => unknown = () => undefined): Promise<void> =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(reason() ?? tx.error ?? new Error('transaction aborted'));
  });

function isRunRecord(v: unknown): v is RunRecord {
  const r = v as RunRecord;
  return typeof v === 'object' && v !== null && typeof r.id === 'string' && typeof r.blobKey === 'string' &&
    typeof r.name === 'string' && typeof r.step === 'number' && typeof r.byteSize === 'number';
}

const publicView = ({ id, name, configSummary, step, savedAt, byteSize }: RunRecord): StoredRun =>
  ({ id, name, configSummary, step, savedAt, byteSize });

let blobCounter = 0;
/** Blob keys start with their creation time so a sweep can leave recent (possibly in-flight) saves alone. */
const newBlobKey = (id: string) => `${Date.now()}:${(blobCounter++).toString(36)}${Math.random().toString(36).slice(2, 8)}:${id}`;
const blobKeyTime = (key: string) => Number(key.slice(0, key.indexOf(':')));

/**
 * One IndexedDB database, opened on first use and kept open: `what` names it in errors ("the checkpoint store"),
 * `upgrade` creates its object stores. Another tab's upgrade or deletion closes it (the next call reopens); a failed
 * open is forgotten, so the next call retries.
 */
export class IdbConnection {
  private db: Promise<IDBDatabase> | null = null;

  constructor(
    private readonly factory: IDBFactory | undefined,
    readonly dbName: string,
    private readonly version: number,
    private readonly what: string,
    private readonly unavailable: string,
    private readonly upgrade: (db: IDBDatabase) => void,
  ) {}

  open(): Promise<IDBDatabase> {
    if (this.db) return this.db;
    const factory = this.factory;
    if (!factory) return Promise.reject(new CheckpointError('storage', this.unavailable));
    const opened = new Promise<IDBDatabase>((resolve, reject) => {
      const r = factory.open(this.dbName, this.version);
      r.onupgradeneeded = () => this.upgrade(r.result);
      r.onsuccess = () => {
        const db = r.result;
        db.onversionchange = () => this.close(); // another tab upgrades or deletes the database
        resolve(db);
      };
      r.onerror = () => reject(storageError(`opening ${this.what}`, r.error));
      r.onblocked = () => reject(new CheckpointError('storage', `opening ${this.what} is blocked by another Spark Lab tab; close it and retry`));
    });
    this.db = opened;
    opened.catch(() => {
      if (this.db === opened) this.db = null;
    });
    return opened;
  }

  /** Closes the connection; the next call reopens it. */
  close(): void {
    const db = this.db;
    this.db = null;
    db?.then((d) => d.close(), () => undefined);
  }
}

export class CheckpointStore {
  private readonly conn: IdbConnection;
  readonly dbName: string;

  constructor(private readonly opts: CheckpointStoreOptions = {}) {
    this.dbName = opts.dbName ?? DEFAULT_DB_NAME;
    this.conn = new IdbConnection(
      opts.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB, this.dbName, DB_VERSION, 'the checkpoint store',
      'IndexedDB is not available here, so runs cannot be autosaved (private browsing or an old browser?)',
      (db) => {
        if (!db.objectStoreNames.contains(RUNS)) db.createObjectStore(RUNS, { keyPath: 'id' });
        if (!db.objectStoreNames.contains(BLOBS)) db.createObjectStore(BLOBS);
      },
    );
  }

  private open(): Promise<IDBDatabase> {
    return this.conn.open();
  }

  /** Closes the connection; the next call reopens it. */
  close(): void {
    this.conn.close();
  }

  /** Every saved run, newest first, without reading any checkpoint bytes. */
  async list(): Promise<StoredRun[]> {
    try {
      const db = await this.open();
      const records = await request(db.transaction(RUNS, 'readonly').objectStore(RUNS).getAll());
      return records.filter(isRunRecord).map(publicView).sort((a, b) => (a.savedAt < b.savedAt ? 1 : a.savedAt > b.savedAt ? -1 : 0));
    } catch (e) {
      throw storageError('listing saved runs', e);
    }
  }

  /** Saves (or replaces) run `id`'s checkpoint atomically: the old one survives until the new one is complete. */
  async save(id: string, bytes: Uint8Array, summary: RunSummary): Promise<StoredRun> {
    if (typeof id !== 'string' || id === '') throw new CheckpointError('bad-input', 'a saved run needs a non-empty id');
    if (!Number.isSafeInteger(summary.step) || summary.step < 0) throw new CheckpointError('bad-input', `step must be a non-negative integer, got ${summary.step}`);
    const action = `saving run "${summary.name}"`;
    const db = await this.open().catch((e) => Promise.reject(storageError(action, e)));
    const blobKey = newBlobKey(id);
    const record: RunRecord = {
      id, name: summary.name, configSummary: summary.configSummary, step: summary.step,
      savedAt: new Date().toISOString(), byteSize: bytes.length, blobKey,
    };
    // An exact-size copy: cloning a view would store its whole underlying buffer.
    const payload = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    try {
      const tx = db.transaction(BLOBS, 'readwrite');
      tx.objectStore(BLOBS).put(payload, blobKey);
      await finished(tx);
      this.opts.onSaveStage?.('blob-written');
      await this.swap(db, record);
    } catch (e) {
      await this.deleteBlob(db, blobKey).catch(() => undefined); // best effort; sweepOrphans catches the rest
      throw storageError(action, e);
    }
    return publicView(record);
  }

  /** Points the run's record at the new blob and deletes the old blob, in one transaction. */
  private swap(db: IDBDatabase, record: RunRecord): Promise<void> {
    const tx = db.transaction([RUNS, BLOBS], 'readwrite');
    const runs = tx.objectStore(RUNS);
    const blobs = tx.objectStore(BLOBS);
    let failure: unknown;
    const present = blobs.count(record.blobKey);
    const old = runs.get(record.id);
    old.onsuccess = () => {
      try {
        if (present.result !== 1) throw new CheckpointError('storage', 'the new checkpoint data vanished before it could be recorded');
        this.opts.onSaveStage?.('swapping');
        runs.put(record);
        const previous = old.result as unknown;
        if (isRunRecord(previous) && previous.blobKey !== record.blobKey) blobs.delete(previous.blobKey);
      } catch (e) {
        failure = e;
        tx.abort();
      }
    };
    return finished(tx, () => failure);
  }

  private async deleteBlob(db: IDBDatabase, key: string): Promise<void> {
    const tx = db.transaction(BLOBS, 'readwrite');
    tx.objectStore(BLOBS).delete(key);
    await finished(tx);
  }

  /** The run's checkpoint bytes, or null if there is no such run. */
  async load(id: string): Promise<Uint8Array | null> {
    try {
      const db = await this.open();
      const tx = db.transaction([RUNS, BLOBS], 'readonly');
      let value: unknown;
      let record: unknown;
      const get = tx.objectStore(RUNS).get(id);
      get.onsuccess = () => {
        record = get.result;
        if (!isRunRecord(record)) return;
        const blob = tx.objectStore(BLOBS).get(record.blobKey);
        blob.onsuccess = () => (value = blob.result);
      };
      await finished(tx);
      if (record === undefined) return null;
      if (!isRunRecord(record)) throw new CheckpointError('storage', `the saved record of run "${id}" is damaged`);
      if (value instanceof ArrayBuffer) return new Uint8Array(value);
      throw new CheckpointError('storage', `the checkpoint data of run "${record.name}" is missing from browser storage`);
    } catch (e) {
      throw storageError(`loading run "${id}"`, e);
    }
  }

  /** Deletes the run and its checkpoint; false if there was no such run. */
  async delete(id: string): Promise<boolean> {
    try {
      const db = await this.open();
      const tx = db.transaction([RUNS, BLOBS], 'readwrite');
      let existed = false;
      const get = tx.objectStore(RUNS).get(id);
      get.onsuccess = () => {
        const record = get.result as unknown;
        if (record === undefined) return;
        existed = true;
        tx.objectStore(RUNS).delete(id);
        if (isRunRecord(record)) tx.objectStore(BLOBS).delete(record.blobKey);
      };
      await finished(tx);
      return existed;
    } catch (e) {
      throw storageError(`deleting run "${id}"`, e);
    }
  }

  /** Deletes blobs no run refers to (left by an interrupted save) older than `minAgeMs`; returns how many. */
  async sweepOrphans(minAgeMs = 10 * 60_000): Promise<number> {
    try {
      const db = await this.open();
      const tx = db.transaction([RUNS, BLOBS], 'readwrite');
      const records = tx.objectStore(RUNS).getAll();
      const keys = tx.objectStore(BLOBS).getAllKeys();
      let removed = 0;
      keys.onsuccess = () => {
        const live = new Set(records.result.filter(isRunRecord).map((r) => r.blobKey));
        const cutoff = Date.now() - minAgeMs;
        for (const key of keys.result) {
          if (typeof key === 'string' && live.has(key)) continue;
          const t = typeof key === 'string' ? blobKeyTime(key) : NaN;
          if (Number.isFinite(t) && t > cutoff) continue;
          tx.objectStore(BLOBS).delete(key);
          removed++;
        }
      };
      await finished(tx);
      return removed;
    } catch (e) {
      throw storageError('cleaning up checkpoint storage', e);
    }
  }
}
