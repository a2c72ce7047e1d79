/**
 * The events the lab's components send up to the app shell. Every one is a CustomEvent that bubbles and
 * crosses shadow roots (composed), so the shell can listen on itself; the detail types below are the contract.
 */
import type { SampleOptions } from '../engine/protocol';
import type { PartialRunConfig } from './url-config';

/** The corpus the config panel's picker holds: a built-in id, or a dropped file's validated text. */
export type CorpusChoice = { kind: 'builtin'; id: string } | { kind: 'user'; name: string; text: string; bytes: number };

export interface SparkEventDetails {
  /** The form changed; `valid` is false while any field shows an error. */
  'spark-config-change': { config: PartialRunConfig; valid: boolean };
  /** The corpus picker changed. */
  'spark-corpus-change': CorpusChoice;
  /** Start a new run from the form. */
  'spark-train': Record<string, never>;
  /** Train the current run on to its configured steps. */
  'spark-continue': Record<string, never>;
  'spark-pause': Record<string, never>;
  'spark-resume': Record<string, never>;
  'spark-stop': Record<string, never>;
  'spark-sample': { prompt: string; options: SampleOptions };
  /** Profile the run's next training step. */
  'spark-profile': Record<string, never>;
  'spark-save': Record<string, never>;
  /** A checkpoint file the user chose, not read yet: the engine checks its size and header first. */
  'spark-load-file': { file: File };
  'spark-resume-autosave': { runId: string };
  'spark-delete-autosave': { runId: string };
  /** Close a notice. */
  'spark-dismiss': { id: number };
  /** Ask for the list of autosaves again. */
  'spark-refresh-autosaves': Record<string, never>;
  /** Start a new engine worker after the old one stopped (the autosaves are kept). */
  'spark-restart-engine': Record<string, never>;
  'spark-retune': Record<string, never>;
  /** The memory budget setting changed: `bytes` is what runs are checked against (undefined: none known yet). */
  'spark-memory-budget-change': { bytes: number | undefined; valid: boolean };
}

export type SparkEventName = keyof SparkEventDetails;

/** Dispatches a typed, bubbling, composed event from `el`. */
export function emit<K extends SparkEventName>(el: EventTarget, type: K, detail: SparkEventDetails[K]): boolean {
  return el.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
}

type SparkEvents = { [K in SparkEventName]: CustomEvent<SparkEventDetails[K]> };

declare global {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface HTMLElementEventMap extends SparkEvents {}
}
