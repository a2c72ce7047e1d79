/**
 * The kernel choices of one device, measured on that device by the autotuner (autotune.ts) instead of chosen by
 * adapter name: the matmul tiling per shape class, the norms' row mapping and the reductions' workgroup count.
 * Kernels read them here when they are built (matmul.ts, norm.ts, reduce.ts); a device that was never tuned gets
 * GENERIC_CHOICES, the choices for a GPU. Pure data and a per-device slot: no timing, no kernels (no import cycle).
 */
import type { Gpu } from '../gpu/device';

/** Bumped when the candidates or what they mean change: a stored tuning of another version is measured again. */
export const TUNING_VERSION = 1;

/**
 * Work split of the tiled matmul (shaders/matmul.wgsl; matmul.ts calls it MatmulTiling): a workgroup of wgX·wgY
 * invocations, each tm x tn outputs. Defined here, where the tuner's choices live, so this file imports no kernel.
 */
export interface TiledChoice {
  wgX: number;
  wgY: number;
  /** Rows per invocation: 4, 8 or 16. */
  tm: 4 | 8 | 16;
  /** Columns per invocation: 4 or 8. */
  tn: 4 | 8;
  /** K slice staged in workgroup memory per step, a multiple of 4. */
  bk: number;
  /**
   * Each lane of a 4-wide subgroup reads a quarter of the A fragment and subgroupBroadcast shares it. Needs the
   * 'subgroups' feature and subgroups of exactly 4 consecutive invocations (SwiftShader's; the tuner checks the
   * product on the device and never picks it where it is wrong) and wgX a multiple of 4.
   */
  subgroupA: boolean;
}

/** Matmuls are tuned per class of work: 'small' under SMALL_MATMUL_FLOPS a product (toy layers), 'large' above. */
export type MatmulClass = 'small' | 'large';
export const SMALL_MATMUL_FLOPS = 2 ** 24;

export function matmulClass(flops: number): MatmulClass {
  return flops < SMALL_MATMUL_FLOPS ? 'small' : 'large';
}

/**
 * The norms' row mapping: 'row' one invocation per row and no barriers (where a barrier costs about as much as a
 * row, as on CPU emulation), 'shared' several invocations per row combining through workgroup memory.
 */
export type NormMapping = 'row' | 'shared';

export interface KernelChoices {
  matmul: Record<MatmulClass, TiledChoice>;
  norm: NormMapping;
  /** Stage-1 workgroups of a reduction at most (ReduceOptions.maxPartials); the order of its additions depends on it. */
  reduceMaxPartials: number;
}

/**
 * One measured choice: each candidate's median time; null when it was dropped after its first round (over 2× the
 * best) or gave a wrong result on this device (`wrong`: e.g. the subgroup tiling, which assumes subgroups of 4).
 */
export interface TuningMeasurement {
  op: 'matmul-small' | 'matmul-large' | 'norm' | 'reduce';
  shape: string;
  candidates: { name: string; ms: number | null; wrong?: boolean }[];
  pick: string;
}

export interface KernelTuning {
  version: number;
  /** The adapter and features the choices were measured on (tuningKey). */
  key: string;
  choices: KernelChoices;
  measured: TuningMeasurement[];
  /** When it was measured (ms since 1970) and how long the measuring took. */
  tunedAt: number;
  ms: number;
  /** True when it came from the browser's storage rather than measured in this session. */
  cached?: boolean;
}

/** A GPU's choices: 64×64 tiles of 16×16 invocations with 4×4 outputs each, rows shared, up to 1024 partials. */
export const GENERIC_CHOICES: KernelChoices = {
  matmul: {
    small: { wgX: 16, wgY: 16, tm: 4, tn: 4, bk: 16, subgroupA: false },
    large: { wgX: 16, wgY: 16, tm: 4, tn: 4, bk: 16, subgroupA: false },
  },
  norm: 'shared',
  reduceMaxPartials: 1024,
};

const tunings = new WeakMap<Gpu, KernelTuning>();

/** The device's tuning, if it was tuned (or given one) in this session. */
export function tuningOf(gpu: Gpu): KernelTuning | undefined {
  return tunings.get(gpu);
}

/** The choices kernels built on `gpu` take now: its tuning's, else GENERIC_CHOICES. */
export function choicesOf(gpu: Gpu): KernelChoices {
  return tunings.get(gpu)?.choices ?? GENERIC_CHOICES;
}

/** Sets the device's tuning: kernels built from now on use it (those already built keep theirs). */
export function setTuning(gpu: Gpu, tuning: KernelTuning): void {
  tunings.set(gpu, tuning);
}

/** What identifies a tuning's device: the tuner's version, the adapter's description and the features in use. */
export function tuningKey(gpu: Gpu): string {
  const a = gpu.adapter;
  return JSON.stringify([TUNING_VERSION, a.vendor, a.architecture, a.device, a.description, gpu.features.subgroups, gpu.features.shaderF16]);
}

const isCount = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

function isTiled(v: unknown, subgroups: boolean): v is TiledChoice {
  const t = v as TiledChoice;
  return typeof v === 'object' && v !== null && [4, 8, 16, 32].includes(t.wgX) && [4, 8, 16, 32].includes(t.wgY) && [4, 8, 16].includes(t.tm) &&
    [4, 8].includes(t.tn) && isCount(t.bk, 4, 64) && t.bk % 4 === 0 && typeof t.subgroupA === 'boolean' && (!t.subgroupA || subgroups);
}

/**
 * A stored record checked before use (storage is not trusted: another version, another device, a damaged entry):
 * the tuning when it is one for this device, else null (the caller measures again).
 */
export function validTuning(v: unknown, gpu: Gpu): KernelTuning | null {
  const t = v as KernelTuning;
  if (typeof v !== 'object' || v === null || t.version !== TUNING_VERSION || t.key !== tuningKey(gpu)) return null;
  const c = t.choices;
  if (typeof c !== 'object' || c === null || typeof c.matmul !== 'object' || c.matmul === null) return null;
  const sub = gpu.features.subgroups;
  const wg = gpu.limits.maxComputeInvocationsPerWorkgroup;
  const fits = (x: TiledChoice) => x.wgX * x.wgY <= wg && 4 * x.bk * (x.wgY * x.tm + x.wgX * x.tn) <= gpu.limits.maxComputeWorkgroupStorageSize;
  if (!isTiled(c.matmul.small, sub) || !isTiled(c.matmul.large, sub) || !fits(c.matmul.small) || !fits(c.matmul.large)) return null;
  if (c.norm !== 'row' && c.norm !== 'shared') return null;
  if (!isCount(c.reduceMaxPartials, 1, 4096)) return null;
  if (!Array.isArray(t.measured) || typeof t.tunedAt !== 'number' || typeof t.ms !== 'number') return null;
  return t;
}

/** One line per choice, for logs and the bench's header: "matmul-small 128x64 (16x8 of 8x8) …". */
export function describeChoices(c: KernelChoices): string {
  const m = (t: TiledChoice) => `${t.wgY * t.tm}x${t.wgX * t.tn} tile (${t.wgY}x${t.wgX} of ${t.tm}x${t.tn}${t.subgroupA ? ', subgroup A' : ''})`;
  return `matmul small ${m(c.matmul.small)}, large ${m(c.matmul.large)}; norm ${c.norm === 'row' ? 'one invocation per row' : 'rows shared'}; reduce ${c.reduceMaxPartials} partials`;
}
