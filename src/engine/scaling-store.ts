/**
 * The scaling study in IndexedDB: one study (the page runs one at a time), saved whole after every run, in its own
 * database so the checkpoint store's versions stay its own. Failures are CheckpointErrors as in train/storage.ts
 * ('quota' when the storage is full, 'storage' otherwise). A StudyState is small (curves of a few points per run).
 */
import { CheckpointError } from '../train/checkpoint';
import { finished, IdbConnection, request, storageError } from '../train/storage';
import type { StudyState } from '../scaling/study';

export const DEFAULT_STUDY_DB_NAME = 'spark-lab-scaling';
const DB_VERSION = 1;
const STUDIES = 'studies';
const KEY = 'current';

export interface StudyStoreOptions {
  /** Defaults to the global `indexedDB`. */
  indexedDB?: IDBFactory;
  dbName?: string;
}

function isStudy(v: unknown): v is StudyState {
  const s = v as StudyState;
  return typeof v === 'object' && v !== null && typeof s.id === 'string' && Array.isArray(s.runs) && typeof s.spec === 'object' && s.spec !== null &&
    typeof s.tunedLr === 'object' && s.tunedLr !== null;
}

export class StudyStore {
  private readonly conn: IdbConnection;
  readonly dbName: string;

  constructor(opts: StudyStoreOptions = {}) {
    this.dbName = opts.dbName ?? DEFAULT_STUDY_DB_NAME;
    this.conn = new IdbConnection(
      opts.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB, this.dbName, DB_VERSION, 'the scaling study store',
      'IndexedDB is not available here, so the scaling study cannot be kept across reloads (private browsing or an old browser?)',
      (db) => {
        if (!db.objectStoreNames.contains(STUDIES)) db.createObjectStore(STUDIES);
      },
    );
  }

  private open(): Promise<IDBDatabase> {
    return this.conn.open();
  }

  close(): void {
    this.conn.close();
  }

  /** Replaces the stored study (one write: a failed save leaves the previous one whole). */
  async save(state: StudyState): Promise<void> {
    try {
      const db = await this.open();
      const tx = db.transaction(STUDIES, 'readwrite');
      tx.objectStore(STUDIES).put(state, KEY);
      await finished(tx);
    } catch (e) {
      throw storageError('saving the scaling study', e);
    }
  }

  /** The stored study, or null when there is none. */
  async load(): Promise<StudyState | null> {
    let value: unknown;
    try {
      const db = await this.open();
      value = await request(db.transaction(STUDIES).objectStore(STUDIES).get(KEY));
    } catch (e) {
      throw storageError('loading the scaling study', e);
    }
    if (value === undefined) return null;
    if (!isStudy(value)) throw new CheckpointError('storage', 'the stored scaling study is damaged (not a study record): clear it and start again');
    return value;
  }

  async clear(): Promise<void> {
    try {
      const db = await this.open();
      const tx = db.transaction(STUDIES, 'readwrite');
      tx.objectStore(STUDIES).delete(KEY);
      await finished(tx);
    } catch (e) {
      throw storageError('deleting the scaling study', e);
    }
  }
}
