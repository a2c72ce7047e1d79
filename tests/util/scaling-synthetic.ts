// Synthetic scaling curves with planted laws, for the fitter's unit tests.
import type { Run } from '../../src/scaling/envelope';
import { expect } from 'vitest';
import { ScalingFitError, type ComputeLoss } from '../../src/scaling/fit';
import { randn } from './random';

/** L(C) = E + A·C^−α with A given through the reducible loss at 1e9 FLOPs (so the table reads in nats). */
export interface Planted {
  E: number;
  alpha: number;
  A: number;
}

export function planted(E: number, alpha: number, reducibleAt1e9: number): Planted {
  return { E, alpha, A: reducibleAt1e9 * 1e9 ** alpha };
}

export function plantedLoss(p: Planted, flops: number): number {
  return p.E + p.A * flops ** -p.alpha;
}

/** n points log-spaced over [1e9, 1e14] FLOPs with log-normal noise of relative size `noise`. */
export function noisyPoints(p: Planted, n: number, noise: number, seed: number): ComputeLoss[] {
  const z = randn(n, seed);
  return Array.from({ length: n }, (_, i) => {
    const flops = 10 ** (9 + (5 * i) / (n - 1));
    return { flops, loss: plantedLoss(p, flops) * Math.exp(noise * z[i]) };
  });
}

/**
 * Runs on consecutive slices of [1e9, 1e14] FLOPs, each `perRun` points, lying on the planted law with noise.
 * `k` makes a recipe k times as compute-efficient: it reaches at C the loss the law gives at k·C, so its
 * iso-loss multiplier against k = 1 is exactly k. With `seeds`, every run is repeated once per seed.
 */
export function syntheticRuns(p: Planted, o: { runs: number; perRun: number; noise: number; seed: number; k?: number; seeds?: number[] }): Run[] {
  const seeds = o.seeds ?? [undefined];
  const z = randn(o.runs * o.perRun * seeds.length, o.seed);
  let next = 0;
  const out: Run[] = [];
  for (const seed of seeds) {
    for (let j = 0; j < o.runs; j++) {
      const points = Array.from({ length: o.perRun }, (_, i) => {
        const flops = 10 ** (9 + (5 * (j + i / o.perRun)) / o.runs);
        return { flops, loss: plantedLoss(p, (o.k ?? 1) * flops) * Math.exp(o.noise * z[next++]) };
      });
      out.push(seed === undefined ? { id: `run${j}`, points } : { id: `run${j}/seed${seed}`, seed, points });
    }
  }
  return out;
}

/** A planted L(N, D) = E + A/N^α + B/D^β. */
export interface PlantedND {
  E: number;
  A: number;
  alpha: number;
  B: number;
  beta: number;
}

/**
 * Training curves of a grid as a sweep records them: `sizes` models (N doubling from 1e6) per seed, each evaluated
 * at 30 log-spaced token counts from 1e7 to 10^10.5, loss L(N, tokens so far) with log-normal noise, FLOPs 6·N·t / k
 * (k as in {@link syntheticRuns}). The envelope of such curves follows E + G·C^−αβ/(α+β) (Hoffmann et al. 2022).
 */
export function trainingCurves(p: PlantedND, o: { sizes: number; seeds: number[]; noise: number; seed: number; k?: number }): Run[] {
  const out: Run[] = [];
  let stream = o.seed;
  for (const seed of o.seeds) {
    for (let i = 0; i < o.sizes; i++) {
      const params = 1e6 * 2 ** i;
      const z = randn(30, stream++);
      const points = Array.from({ length: 30 }, (_, j) => {
        const tokens = 1e7 * 10 ** ((3.5 * j) / 29);
        return { flops: (6 * params * tokens) / (o.k ?? 1), loss: (p.E + p.A / params ** p.alpha + p.B / tokens ** p.beta) * Math.exp(o.noise * z[j]) };
      });
      out.push({ id: `N${params}/seed${seed}`, seed, points });
    }
  }
  return out;
}

/** The ScalingFitError a call throws (the test fails if it throws none, or throws something else). */
/** The error `f` throws, checked to be a `type` (by default the fitter's ScalingFitError); fails when it throws none. */
export function refusal<E extends Error = ScalingFitError>(f: () => unknown, type: new (...args: never[]) => E = ScalingFitError as unknown as new (...args: never[]) => E): E {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(type);
    return e as E;
  }
  throw new Error(`expected a ${type.name}, got none`);
}
