/**
 * A run config in the page's URL: `#config=` + base64url(UTF-8 JSON of the fields that differ from the defaults).
 * Decoding treats the link as hostile: bounded length, strict base64url, strict UTF-8, JSON, only known sections
 * and fields (so `__proto__` and friends never reach an object), then the config validator for types and ranges.
 * Every failure is a value with a message; nothing here throws. Pure: runs in Node and in the page.
 */
import { BUILTIN_CORPORA } from '../data/corpora';
import { countParams, modelSchema } from '../model/config';
import { ConfigError, type Schema } from '../model/validate';
import { dataSchema, optimSchema, resolveRunConfig, seedSpec, trainSchema } from '../train/config';

export type SectionName = 'model' | 'data' | 'optim' | 'train';
export type FieldValue = number | string | boolean;

/** A run config as the form and the URL hold it: only the fields that were set. */
export interface PartialRunConfig {
  model?: Record<string, FieldValue>;
  data?: Record<string, FieldValue>;
  optim?: Record<string, FieldValue>;
  train?: Record<string, FieldValue>;
  seed?: number;
}

export const SECTION_SCHEMAS: Readonly<Record<SectionName, Schema>> = { model: modelSchema, data: dataSchema, optim: optimSchema, train: trainSchema };
export const SECTIONS = Object.keys(SECTION_SCHEMAS) as SectionName[];
export const DEFAULT_SEED = seedSpec.default;

/** Longest `config=` value accepted from a link; a real config's non-default fields need a few hundred. */
export const MAX_URL_CONFIG_CHARS = 4096;
/** Above this many parameters a linked config still loads, with a warning that it is unlikely to fit. */
export const WARN_PARAMS = 2e9;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/**
 * The fields of `config` (partial or resolved) that differ from the defaults. Values the resolver derives are
 * dropped when they equal what it would derive (nKvHead = nHead, mlpHidden from nEmbd; vocabSize is always the
 * tokenizer's), so a loaded run's config encodes as short as the form that made it.
 */
export function nonDefaultConfig(config: PartialRunConfig | object): PartialRunConfig {
  const c = config as Record<string, unknown>;
  const out: PartialRunConfig = {};
  for (const section of SECTIONS) {
    const values = c[section];
    if (!values || typeof values !== 'object') continue;
    const schema = SECTION_SCHEMAS[section];
    const picked: Record<string, FieldValue> = {};
    for (const [key, spec] of Object.entries(schema)) {
      if (!own(values, key)) continue;
      const v = (values as Record<string, unknown>)[key];
      if (v === spec.default || (typeof v !== 'number' && typeof v !== 'string' && typeof v !== 'boolean')) continue;
      picked[key] = v;
    }
    if (section === 'model') dropDerived(picked, values as Record<string, unknown>);
    if (Object.keys(picked).length) out[section] = picked;
  }
  if (typeof c.seed === 'number' && c.seed !== DEFAULT_SEED) out.seed = c.seed;
  return out;
}

function dropDerived(picked: Record<string, FieldValue>, model: Record<string, unknown>): void {
  delete picked.vocabSize;
  const nHead = (model.nHead as number | undefined) ?? modelSchema.nHead.default;
  if (picked.nKvHead === nHead) delete picked.nKvHead;
  const nEmbd = (model.nEmbd as number | undefined) ?? modelSchema.nEmbd.default;
  const mlp = (model.mlp as string | undefined) ?? modelSchema.mlp.default;
  const derivedHidden = mlp === 'gelu' ? 4 * nEmbd : Math.ceil((8 * nEmbd) / 3 / 8) * 8;
  if (picked.mlpHidden === derivedHidden) delete picked.mlpHidden;
}

function toBase64Url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) return null;
  const bare = text.replace(/=+$/, '');
  if (bare.length % 4 === 1) return null;
  try {
    const bin = atob(bare.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (bare.length % 4)) % 4));
    return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  } catch {
    return null;
  }
}

/** The URL fragment (without '#') for `config`: `config=…`, or '' when every field is at its default (a dropped file's corpus is left out). */
export function encodeConfigHash(config: PartialRunConfig | object): string {
  const diff = nonDefaultConfig(config);
  // A dropped file never leaves its browser: a link cannot carry it.
  if (diff.data?.corpus !== undefined && !BUILTIN_CORPORA.some((c) => c.id === diff.data!.corpus)) {
    delete diff.data.corpus;
    if (Object.keys(diff.data).length === 0) delete diff.data;
  }
  if (Object.keys(diff).length === 0) return '';
  return `config=${toBase64Url(new TextEncoder().encode(JSON.stringify(diff)))}`;
}

export type DecodedConfig =
  | { ok: true; config: PartialRunConfig; warnings: string[] }
  | { ok: false; message: string; field?: string };

/** Reads `#config=…` from a URL fragment; null when the fragment has no config. */
export function decodeConfigHash(hash: string): DecodedConfig | null {
  const fragment = hash.startsWith('#') ? hash.slice(1) : hash;
  if (fragment.length > 4 * MAX_URL_CONFIG_CHARS) return fail(`The link is too long (${fragment.length} characters) to hold a Spark Lab config.`);
  let raw: string | null;
  try {
    raw = new URLSearchParams(fragment).get('config');
  } catch {
    return fail('The link could not be read as key=value pairs.');
  }
  if (raw === null) return null;
  if (raw.length === 0) return fail('The link has an empty config; remove "#config=" or share the link again.');
  if (raw.length > MAX_URL_CONFIG_CHARS) {
    return fail(`The link's config is ${raw.length} characters long, more than the ${MAX_URL_CONFIG_CHARS} a config needs; it was not loaded.`);
  }
  const bytes = fromBase64Url(raw);
  if (!bytes) return fail("The link's config is not valid base64url text (letters, digits, '-' and '_'); it may have been cut off when copied.");
  let json: string;
  try {
    json = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return fail("The link's config is not UTF-8 text; it may have been cut off or altered.");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return fail("The link's config is not valid JSON; it may have been cut off when copied.");
  }
  return sanitize(parsed);
}

function fail(message: string, field?: string): DecodedConfig {
  return field ? { ok: false, message, field } : { ok: false, message };
}

/** Copies only known sections and fields of plain JSON values into fresh objects, then validates the result. */
export function sanitize(parsed: unknown): DecodedConfig {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return fail("The link's config must be a JSON object.");
  const warnings: string[] = [];
  const out: PartialRunConfig = {};
  for (const key of Object.keys(parsed)) {
    if (FORBIDDEN_KEYS.has(key)) return fail(`The link's config contains the key "${key}", which is not allowed; it was not loaded.`, key);
    const value = (parsed as Record<string, unknown>)[key];
    if (key === 'seed') {
      if (typeof value !== 'number') return fail(`seed must be a whole number, got ${typeof value}.`, 'seed');
      out.seed = value;
      continue;
    }
    if (!own(SECTION_SCHEMAS, key)) return fail(`The link's config has an unknown section "${clip(key)}"; known: seed, ${SECTIONS.join(', ')}.`, clip(key));
    const section = key as SectionName;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail(`${section} must be an object in the link's config.`, section);
    const schema = SECTION_SCHEMAS[section];
    const fields: Record<string, FieldValue> = {};
    for (const name of Object.keys(value)) {
      const field = `${section}.${clip(name)}`;
      if (FORBIDDEN_KEYS.has(name)) return fail(`The link's config contains the key "${field}", which is not allowed; it was not loaded.`, field);
      if (!own(schema, name)) return fail(`${field} is not a known setting; the link may come from another version of Spark Lab.`, field);
      const v = (value as Record<string, unknown>)[name];
      if (typeof v !== 'number' && typeof v !== 'string' && typeof v !== 'boolean') return fail(`${field} must be a number, text or true/false in the link's config.`, field);
      fields[name] = v;
    }
    out[section] = fields;
  }
  const corpus = out.data?.corpus;
  if (corpus !== undefined && !BUILTIN_CORPORA.some((c) => c.id === corpus)) {
    warnings.push(`The link names the corpus "${clip(String(corpus))}", which is not built in (a dropped file never leaves its browser); choose a corpus or drop the file again.`);
    delete out.data!.corpus;
  }
  try {
    const resolved = resolveRunConfig(out);
    const params = countParams(resolved.model).total;
    if (params > WARN_PARAMS) warnings.push(`The linked model has ${(params / 1e9).toFixed(1)} billion parameters; it will not fit in a browser's GPU memory. Choose a smaller size before training.`);
  } catch (e) {
    if (e instanceof ConfigError) return fail(`The link's config is not valid: ${e.message}`, e.field);
    return fail(`The link's config could not be checked: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { ok: true, config: out, warnings };
}

const clip = (s: string) => (s.length > 40 ? `${s.slice(0, 40)}…` : s);
