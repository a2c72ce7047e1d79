/**
 * The validated config of a test-time sweep (src/eval/sweep.ts): scalars through the shared schema validator,
 * the lists (N values, budgets) checked here, every message naming its field.
 */
import { findTask, TASKS } from '../data/tasks';
import { ConfigError, hasOwn, resolve, type Schema } from '../model/validate';
import type { SweepConfig } from './sweep';

export const sweepSchema = {
  task: { type: 'string', default: 'addition', maxLength: 40, doc: `task id: ${TASKS.map((t) => t.id).join(', ')}` },
  difficulty: { type: 'int', default: 2, min: 1, max: 10, doc: 'task difficulty level' },
  problems: { type: 'int', default: 16, min: 1, max: 4096, doc: 'problems drawn per point' },
  reasoners: { type: 'int', default: 4, min: 0, max: 256, doc: 'parallel reasoners of the contemplating mode; 0 for none' },
  maxThinkingTokens: { type: 'int', default: 40, min: 0, max: 8192, doc: 'thinking tokens allowed in best-of-N samples' },
  maxAnswerTokens: { type: 'int', default: 8, min: 1, max: 1024, doc: 'answer tokens after </think>' },
  temperature: { type: 'number', default: 0.8, min: 0, max: 10, doc: 'sampling temperature' },
  topK: { type: 'int', default: 0, min: 0, max: 1e6, doc: 'top-k filter; 0 = off' },
  topP: { type: 'number', default: 1, min: 0.001, max: 1, doc: 'top-p filter; 1 = off' },
  seed: { type: 'int', default: 7, min: 0, max: 2 ** 32 - 1, doc: 'problems and sampling seed' },
} as const satisfies Schema;

const LISTS = { ns: [1, 2, 4, 8], budgets: [0, 4, 8, 16, 32], extends: [] as number[] } as const;
const LIST_LIMITS: Record<keyof typeof LISTS, { min: number; max: number; maxLength: number }> = {
  ns: { min: 1, max: 256, maxLength: 12 },
  budgets: { min: 0, max: 8192, maxLength: 16 },
  extends: { min: 1, max: 8192, maxLength: 16 },
};

function list(input: Record<string, unknown>, key: keyof typeof LISTS, path: string): number[] {
  const v = hasOwn(input, key) ? input[key] : undefined;
  if (v === undefined) return [...LISTS[key]];
  const { min, max, maxLength } = LIST_LIMITS[key];
  if (!Array.isArray(v) || v.length > maxLength || !v.every((x) => Number.isInteger(x) && x >= min && x <= max)) {
    throw new ConfigError(`${path}.${key} must be a list of at most ${maxLength} whole numbers from ${min} to ${max}, got ${JSON.stringify(v)?.slice(0, 60)}`, `${path}.${key}`);
  }
  return [...new Set(v as number[])].sort((a, b) => a - b);
}

export function resolveSweepConfig(input: unknown, path = 'sweep'): SweepConfig {
  const obj = (input ?? {}) as Record<string, unknown>;
  if (input === null || typeof obj !== 'object' || Array.isArray(obj)) throw new ConfigError(`${path} must be an object`, path);
  // Lists are checked here and everything else by the schema; a key such as 'toString' is neither, and is refused.
  const scalars = Object.fromEntries(Object.entries(obj).filter(([k]) => !hasOwn(LISTS, k)));
  const s = resolve(sweepSchema, scalars, path);
  const task = findTask(s.task);
  if (!task) throw new ConfigError(`${path}.task '${s.task}' is not a task; use one of ${TASKS.map((t) => t.id).join(', ')}`, `${path}.task`);
  if (!task.difficulties.includes(s.difficulty)) {
    throw new ConfigError(`${path}.difficulty ${s.difficulty} is not offered by ${task.id}; use one of ${task.difficulties.join(', ')}`, `${path}.difficulty`);
  }
  const ns = list(obj, 'ns', path);
  const largest = Math.max(1, ...ns, s.reasoners);
  if (s.problems * largest > 4096) {
    throw new ConfigError(`${path}: ${s.problems} problems × ${largest} samples is ${s.problems * largest} sequences in one batch; keep it at most 4096 (fewer problems or a smaller N)`, `${path}.problems`);
  }
  return { ...s, ns, budgets: list(obj, 'budgets', path), extends: list(obj, 'extends', path) };
}
