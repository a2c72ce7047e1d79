// The engine's command handling that needs no GPU, driven directly in Node (where requestGpu fails, as on a
// browser without WebGPU): the heartbeat, a chosen checkpoint file checked before it is read, the memory budget's
// type, and build progress thinned for the page.
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine';
import { throttleProgress } from '../../src/engine/build-options';
import type { EngineCommand, EngineEvent } from '../../src/engine/protocol';
import type { CreateProgress } from '../../src/engine/run';
import { MAX_CHECKPOINT_BYTES } from '../../src/train/checkpoint';

/** A Blob that says it is `size` bytes and records what is read of it; `failRead` makes reads fail as a vanished file does. */
class SpyBlob extends Blob {
  readonly reads: string[] = [];
  constructor(private readonly fakeSize: number, private readonly head: Uint8Array, private readonly failRead = false) {
    super([]);
  }
  override get size(): number {
    return this.fakeSize;
  }
  override slice(start = 0, end = this.fakeSize): Blob {
    this.reads.push(`slice ${start}-${end}`);
    if (this.failRead) return new SpyBlob(end - start, new Uint8Array(0), true);
    return new Blob([this.head.slice(start, end) as Uint8Array<ArrayBuffer>]);
  }
  override arrayBuffer(): Promise<ArrayBuffer> {
    this.reads.push('whole');
    if (this.failRead) return Promise.reject(new DOMException('The requested file could not be read', 'NotReadableError'));
    return Promise.resolve(new ArrayBuffer(this.fakeSize));
  }
}

/** 8-byte little-endian header length, then '{'. */
function headerPrefix(headerBytes: number): Uint8Array {
  const b = new Uint8Array(9);
  new DataView(b.buffer).setUint32(0, headerBytes, true);
  b[8] = 0x7b;
  return b;
}

function engine() {
  const events: EngineEvent[] = [];
  const e = new Engine((ev) => events.push(ev), { store: { load: async () => null, list: async () => [] } as never });
  const answer = async (cmd: EngineCommand & { requestId: number }) => {
    e.handle(cmd);
    for (let i = 0; i < 200; i++) {
      const hit = events.find((x) => 'requestId' in x && x.requestId === cmd.requestId && x.type !== 'build-progress');
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`no answer to ${cmd.type}`);
  };
  return { events, handle: (c: EngineCommand) => e.handle(c), answer };
}

describe('engine commands (no GPU)', () => {
  it("answers 'ping' with 'pong' at once", () => {
    const { events, handle } = engine();
    const before = events.length;
    handle({ type: 'ping' });
    expect(events.slice(before)).toEqual([{ type: 'pong' }]);
  });

  it('refuses a checkpoint file over the size cap without reading any of it', async () => {
    const { answer } = engine();
    const huge = new SpyBlob(MAX_CHECKPOINT_BYTES + 1, headerPrefix(100));
    const r = await answer({ type: 'load', requestId: 1, checkpoint: huge });
    expect(r).toMatchObject({ type: 'error', error: { name: 'CheckpointError', code: 'too-large', message: expect.stringMatching(/^file is 2\.00 GiB; checkpoints over 2\.00 GiB/) } });
    expect(huge.reads).toEqual([]);
  });

  it('reads only the 9-byte prefix of a file whose header length is absurd', async () => {
    const { answer } = engine();
    const bomb = new SpyBlob(200 * 2 ** 20, headerPrefix(150 * 2 ** 20));
    const r = await answer({ type: 'load', requestId: 2, checkpoint: bomb });
    expect(r).toMatchObject({ type: 'error', error: { name: 'CheckpointError', code: 'header-too-large' } });
    expect(bomb.reads).toEqual(['slice 0-9']);
  });

  it('a file that cannot be read is refused with the reason (read-failed), not dropped', async () => {
    const { answer } = engine();
    const gone = new SpyBlob(1000, headerPrefix(100), true);
    const r = await answer({ type: 'load', requestId: 3, checkpoint: gone });
    expect(r).toMatchObject({ type: 'error', error: { name: 'CheckpointError', code: 'read-failed', message: expect.stringMatching(/could not read the file header: .*could not be read/) } });
  });

  it('a file that passes the checks is read whole once, then waits for the device', async () => {
    const { answer } = engine();
    const ok = new SpyBlob(4096, headerPrefix(100));
    const r = await answer({ type: 'load', requestId: 4, checkpoint: ok });
    expect(ok.reads).toEqual(['slice 0-9', 'whole']);
    expect(r).toMatchObject({ type: 'error', error: { name: 'WebGPUUnavailableError' } }); // Node has no WebGPU
  });

  it('refuses a memory budget that is not a positive number of bytes, naming it', async () => {
    const { answer } = engine();
    for (const [i, bad] of [0, -5, Number.NaN, Infinity, '2GB' as unknown as number].entries()) {
      const r = await answer({ type: 'create', requestId: 10 + i, config: {}, memoryBudgetBytes: bad });
      expect(r).toMatchObject({ type: 'error', error: { name: 'RangeError', message: expect.stringMatching(/^memoryBudgetBytes must be a positive number of bytes/) } });
    }
    const fine = await answer({ type: 'create', requestId: 20, config: {}, memoryBudgetBytes: 2 ** 30 });
    expect(fine).toMatchObject({ type: 'error', error: { name: 'WebGPUUnavailableError' } });
  });

  it('a load with neither a file nor bytes is a TypeError that says what it needs', async () => {
    const { answer } = engine();
    const r = await answer({ type: 'load', requestId: 30, checkpoint: 'ckpt.safetensors' as unknown as Blob });
    expect(r).toMatchObject({ type: 'error', error: { name: 'TypeError', message: 'load: checkpoint must be a File, a Blob or a Uint8Array' } });
  });
});

describe('throttleProgress', () => {
  it("sends each phase's first and last report and at most one per interval between, as copies", () => {
    let t = 0;
    const sent: CreateProgress[] = [];
    const report = throttleProgress((p) => sent.push(p), 100, () => t);
    const p: CreateProgress & { extra?: number } = { phase: 'tokenizer', done: 0, total: 1000, extra: 1 };
    for (let i = 0; i <= 1000; i++) {
      p.done = i;
      report(p);
      t += 1; // 1 ms per merge: 1000 merges in 1 s
    }
    report({ phase: 'encoding', done: 0, total: 5 });
    report({ phase: 'encoding', done: 1, total: 5 });
    report({ phase: 'building', done: 0, total: 1 });
    report({ phase: 'building', done: 1, total: 1 });
    const tok = sent.filter((s) => s.phase === 'tokenizer');
    expect(tok[0]).toEqual({ phase: 'tokenizer', done: 0, total: 1000 });
    expect(tok.at(-1)).toEqual({ phase: 'tokenizer', done: 1000, total: 1000 });
    expect(tok.length).toBeGreaterThanOrEqual(10);
    expect(tok.length).toBeLessThanOrEqual(12);
    expect(sent.slice(tok.length)).toEqual([
      { phase: 'encoding', done: 0, total: 5 },
      { phase: 'building', done: 0, total: 1 },
      { phase: 'building', done: 1, total: 1 },
    ]);
  });
});
