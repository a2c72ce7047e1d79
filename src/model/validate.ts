/**
 * A small schema validator for plain config objects: defaults, type checks, ranges, and rejection of unknown
 * keys, with messages that name the field and say how to fix it (as nanoGPT's configurator does).
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    message: string,
    /** Dotted path of the offending field, e.g. 'model.nHead'. */
    readonly field: string,
  ) {
    super(message);
  }
}

export type FieldSpec =
  | { type: 'int'; default: number; min?: number; max?: number; doc: string }
  | { type: 'number'; default: number; min?: number; max?: number; doc: string }
  | { type: 'bool'; default: boolean; doc: string }
  | { type: 'enum'; default: string; values: readonly string[]; doc: string }
  | { type: 'string'; default: string; maxLength?: number; doc: string };

export type Schema = Record<string, FieldSpec>;

/** The value type of one field: an enum field is the union of its `values` (when the schema is declared `as const`). */
export type FieldValue<F extends FieldSpec> = F extends { type: 'bool' }
  ? boolean
  : F extends { type: 'enum'; values: readonly (infer V)[] }
    ? V
    : F extends { type: 'string' }
      ? string
      : number;

/** The resolved type of a schema: every field present with its default filled in. */
export type Resolved<S extends Schema> = {
  -readonly [K in keyof S]: FieldValue<S[K]>;
};

/** Whether `key` is the object's own property: input keys are looked up this way, never with `in` (which sees `toString`). */
export const hasOwn = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return typeof v === 'object' ? 'an object' : String(v);
}

function closest(name: string, options: string[]): string | null {
  const lower = name.toLowerCase();
  return options.find((o) => o.toLowerCase() === lower || o.toLowerCase().includes(lower) || lower.includes(o.toLowerCase())) ?? null;
}

/** Validates `input` (possibly partial) against `schema` and returns a complete object. */
export function resolve<S extends Schema>(schema: S, input: unknown, path: string): Resolved<S> {
  if (input === undefined) input = {};
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError(`${path} must be an object, got ${describe(input)}`, path);
  }
  const obj = input as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!hasOwn(schema, key)) {
      const hint = closest(key, Object.keys(schema));
      throw new ConfigError(
        `${path}.${key} is not a known setting${hint ? ` (did you mean '${hint}'?)` : ''}; known: ${Object.keys(schema).join(', ')}`,
        `${path}.${key}`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const field = `${path}.${key}`;
    out[key] = checkField(spec, hasOwn(obj, key) ? obj[key] : spec.default, field);
  }
  return out as Resolved<S>;
}

/** Checks one value against its field spec (`field` is the dotted path for the message) and returns it, typed. */
export function checkField<F extends FieldSpec>(spec: F, v: unknown, field: string): FieldValue<F> {
  switch (spec.type) {
    case 'int':
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(`${field} must be a finite number (${spec.doc}), got ${describe(v)}`, field);
      if (spec.type === 'int' && !Number.isInteger(v)) throw new ConfigError(`${field} must be a whole number (${spec.doc}), got ${v}`, field);
      if (spec.min !== undefined && v < spec.min) throw new ConfigError(`${field} must be at least ${spec.min} (${spec.doc}), got ${v}`, field);
      if (spec.max !== undefined && v > spec.max) throw new ConfigError(`${field} must be at most ${spec.max} (${spec.doc}), got ${v}`, field);
      break;
    }
    case 'bool':
      if (typeof v !== 'boolean') throw new ConfigError(`${field} must be true or false (${spec.doc}), got ${describe(v)}`, field);
      break;
    case 'enum':
      if (typeof v !== 'string' || !spec.values.includes(v)) {
        throw new ConfigError(`${field} must be one of ${spec.values.map((x) => `'${x}'`).join(', ')} (${spec.doc}), got ${describe(v)}`, field);
      }
      break;
    case 'string':
      if (typeof v !== 'string') throw new ConfigError(`${field} must be text (${spec.doc}), got ${describe(v)}`, field);
      if (spec.maxLength !== undefined && v.length > spec.maxLength) throw new ConfigError(`${field} must be at most ${spec.maxLength} characters`, field);
      break;
  }
  return v as FieldValue<F>;
}
