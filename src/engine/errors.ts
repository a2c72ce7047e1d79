/** Engine failures as data: what crosses the worker boundary in an 'error' event. */
import type { EngineError } from './protocol';

/** A command that does not fit what the engine is doing (train without a run, train while training...). */
export class EngineStateError extends Error {
  override name = 'EngineStateError';
}

/** Any thrown value as data, keeping ConfigError's field and CheckpointError's code. */
export function toEngineError(e: unknown): EngineError {
  const x = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
  const out: EngineError = { name: typeof x.name === 'string' && x.name ? x.name : 'Error', message: typeof x.message === 'string' ? x.message : String(e) };
  if (typeof x.field === 'string') out.field = x.field;
  if (typeof x.code === 'string') out.code = x.code;
  return out;
}
