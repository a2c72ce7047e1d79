import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Gpu } from '../../src/gpu/device';
import { medianPassTimes, passWork, type TimedWork } from '../../src/gpu/timing';

// A fake clock: each side's work advances it by its cost per repetition, so the timings are exact.
let now = 0;
afterEach(() => vi.restoreAllMocks());

function side(name: string, msPerRepeat: (call: number) => number, log: string[]): TimedWork {
  let call = 0;
  return async (repeats) => {
    log.push(`${name}×${repeats}`);
    now += repeats * msPerRepeat(call++);
  };
}

describe('medianPassTimes', () => {
  it('warms each side up, sizes its repeats to the target, then alternates the sides round by round', async () => {
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    const log: string[] = [];
    const [ours, peer] = await medianPassTimes([side('ours', () => 2, log), side('peer', () => 25, log)], { targetMs: 100, samples: 7 });
    // two warm-up calls each (the second one sizes the repeats: 100 / 2 = 50, 100 / 25 = 4), then ours, peer, ours, ...
    expect(log).toEqual(['ours×1', 'ours×1', 'peer×1', 'peer×1', ...Array.from({ length: 7 }, () => ['ours×50', 'peer×4']).flat()]);
    expect(ours).toEqual({ medianMs: 2, samplesMs: Array(7).fill(2), repeats: 50 });
    expect(peer).toEqual({ medianMs: 25, samplesMs: Array(7).fill(25), repeats: 4 });
  });

  it('reports the median per-repetition time, so one slow sample does not move it; repeats stay within [1, maxRepeats]', async () => {
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    const log: string[] = [];
    // calls 0-1 warm up; samples 2..8: one of them (call 5) is 10x slower, as when another job wakes up
    const [fast] = await medianPassTimes([side('fast', (c) => (c === 5 ? 0.1 : 0.01), log)], { targetMs: 100, samples: 7, maxRepeats: 30 });
    expect(fast.repeats).toBe(30);
    expect(fast.medianMs).toBeCloseTo(0.01, 12);
    expect(Math.max(...fast.samplesMs)).toBeCloseTo(0.1, 12);
    const [slow] = await medianPassTimes([side('slow', () => 500, log)], { targetMs: 100, samples: 3 });
    expect(slow.repeats).toBe(1);
    expect(slow.medianMs).toBe(500);
  });

  it('passWork times our encoding with the GPU work, up to onSubmittedWorkDone', async () => {
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    let pending = 0;
    const pass = { end: () => undefined };
    // Encoding one iteration costs 1 ms of JavaScript, running it 3 ms of GPU time that ends at onSubmittedWorkDone.
    const gpu = {
      device: { createCommandEncoder: () => ({ beginComputePass: () => pass, finish: () => ({}) }) },
      queue: {
        submit: () => undefined,
        onSubmittedWorkDone: async () => {
          now += pending;
          pending = 0;
        },
      },
    } as unknown as Gpu;
    const record = () => {
      now += 1;
      pending += 3;
    };
    const [t] = await medianPassTimes([passWork(gpu, record)], { targetMs: 40, samples: 7 });
    expect(t.repeats).toBe(10);
    expect(t.medianMs).toBe(4);
  });
});
