/**
 * The one way the page turns a failure into words: any thrown value (an Error, an EngineRequestError carrying the
 * engine's field and code, or anything else) becomes its class name, message, and the field and code it names.
 */

export interface ErrorText {
  /** The error's class name: ConfigError, CheckpointError, EngineStoppedError... */
  name: string;
  message: string;
  /** The setting to change (ConfigError, LimitExceededError). */
  field?: string;
  /** CheckpointError's code. */
  code?: string;
}

/** Name, message, field and code of any thrown value. */
export function errorText(e: unknown): ErrorText {
  const x = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
  const out: ErrorText = {
    name: typeof x.name === 'string' && x.name ? x.name : 'Error',
    message: typeof x.message === 'string' ? x.message : String(e),
  };
  if (typeof x.field === 'string' && x.field) out.field = x.field;
  if (typeof x.code === 'string' && x.code) out.code = x.code;
  return out;
}

/** One line: `CheckpointError [checksum]: message (setting: data.corpus)`. */
export function describeError(e: unknown): string {
  const t = errorText(e);
  return `${t.name}${t.code ? ` [${t.code}]` : ''}: ${t.message}${t.field ? ` (setting: ${t.field})` : ''}`;
}
