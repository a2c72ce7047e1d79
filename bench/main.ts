/**
 * Benchmark page: runs every case of bench/suites/*.ts against TensorFlow.js's WebGPU backend and, where the case
 * has one, jax-js's jit (bench/peers/jax-transformer.ts), all on the same adapter in the same page, and hands the
 * rows to scripts/bench.mjs (or shows them when opened by hand).
 *
 * Timing (src/gpu/timing.ts medianPassTimes, the same clock on every side): wall time over R back-to-back
 * iterations, JavaScript work included (ours: encoding R iterations into one pass, submitting; TF.js: R calls of its
 * ops; jax-js: R calls of its jit'ed function), ending when the GPU has finished (onSubmittedWorkDone on each
 * side's queue; jax-js's blockUntilReady), nothing read back. R is chosen per side so one sample lasts ~targetMs;
 * after warm-up, rounds alternate the sides (round r: one sample of ours, then TF.js's, then jax-js's), and each
 * side's time is the median per-iteration time of its samples.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { requestGpu, type Gpu } from '../src/gpu/device';
import { tuneKernels } from '../src/kernels/autotune';
import { describeChoices } from '../src/kernels/tuning';
import { medianPassTimes, passWork, type PassTiming, type TimedWork } from '../src/gpu/timing';
import { profileRun } from './profile';
import type { BenchCase, BenchRow, JaxRunner, PeerRunner, Suite } from './types';

const suites = import.meta.glob<{ default: Suite }>('./suites/*.ts', { eager: true });

const params = new URLSearchParams(location.search);
const quick = params.has('quick');
/** `--only op[:shape prefix],...`: rows of these ops (e.g. matmul, train_gpt), optionally only shapes starting so. */
const only = (params.get('only') ?? '').split(',').filter(Boolean);
function selected(c: BenchCase): boolean {
  return only.some((o) => {
    const [op, shape] = o.split(':');
    return (c.op === op || c.op.startsWith(`${op}_`)) && (shape === undefined || c.shape.startsWith(shape));
  });
}
/** `--profile X`: profile a run's steps instead of timing the suites (bench/profile.ts). */
const profileSpec = params.get('profile');
/** `--no-jax`: leave the jax-js peer out (it compiles its own kernels, which takes a while on SwiftShader). */
const noJax = params.has('no-jax');
const targetMs = quick ? 150 : 400;
/** Timed samples per side (DESIGN.md: median of at least 7). */
const samples = quick ? 7 : 9;

const logEl = document.getElementById('log') as HTMLPreElement;
function log(line: string): void {
  console.log(`[bench] ${line}`);
  logEl.textContent += `\n${line}`;
}

/**
 * Waits until TF.js's GPU work is done without reading anything back. The WebGPU backend records dispatches into
 * a command encoder that it submits every WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches or when data is read, so
 * its queue may hold nothing yet: flush the encoder the way the backend's own reads do (end the pass, submitQueue),
 * then await the queue, as ours ends. The alternatives do work our side does not: data() copies and maps the whole
 * output, and a one-element slice().data() adds a kernel, a copy and a buffer map to every sample.
 */
async function peerGpuDone(): Promise<void> {
  const backend = tf.backend() as WebGPUBackend;
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.submitQueue();
  await backend.queue.onSubmittedWorkDone();
}

/** The peer as a TimedWork: `repeats` calls of its TF.js ops (each disposing the previous outputs), then its GPU finishing. */
function peerWork(p: PeerRunner): TimedWork {
  return async (repeats) => {
    let last: tf.Tensor[] = [];
    for (let i = 0; i < repeats; i++) {
      tf.dispose(last);
      const out = p.run();
      last = Array.isArray(out) ? out : [out];
    }
    await peerGpuDone();
    tf.dispose(last);
  };
}

/** The jax-js peer as a TimedWork: `repeats` jit'ed iterations, then every array they produced computed. */
function jaxWork(j: JaxRunner): TimedWork {
  return async (repeats) => {
    for (let i = 0; i < repeats; i++) j.step();
    await j.done();
  };
}

async function runCase(gpu: Gpu, c: BenchCase): Promise<BenchRow & { error?: string }> {
  const gflops = (ms: number | null) => (ms && c.flops ? c.flops / (ms * 1e6) : 0);
  const gbps = (ms: number | null) => (ms && c.bytes ? c.bytes / (ms * 1e6) : 0);
  const ours = await c.ours(gpu);
  let peer: PeerRunner | null = null;
  let jax: JaxRunner | null = null;
  let ourTiming: PassTiming;
  let peerTiming: PassTiming | null = null;
  let jaxTiming: PassTiming | null = null;
  try {
    peer = c.peer ? await c.peer(tf) : null;
    jax = c.jax && !noJax ? await c.jax() : null;
    if (!ours.work && !ours.record) throw new Error(`${c.op} ${c.shape}: its runner has neither record nor work`);
    const sides = [ours.work ?? passWork(gpu, (pass) => ours.record!(pass)), ...(peer ? [peerWork(peer)] : []), ...(jax ? [jaxWork(jax)] : [])];
    const timings = await medianPassTimes(sides, { targetMs, samples });
    ourTiming = timings[0];
    peerTiming = peer ? timings[1] : null;
    jaxTiming = jax ? timings[peer ? 2 : 1] : null;
  } finally {
    ours.dispose();
    peer?.dispose();
    jax?.dispose();
  }
  const oursMs = ourTiming.medianMs;
  const peerMs = peerTiming?.medianMs ?? null;
  const row: BenchRow = {
    op: c.op,
    shape: c.shape,
    ours_ms: oursMs,
    peer_ms: peerMs,
    ratio: peerMs === null ? null : peerMs / oursMs,
    ours_gflops: gflops(oursMs),
    peer_gflops: peerMs === null ? null : gflops(peerMs),
    ours_samples_ms: ourTiming.samplesMs,
    peer_samples_ms: peerTiming?.samplesMs ?? null,
    ours_repeats: ourTiming.repeats,
    peer_repeats: peerTiming?.repeats ?? null,
  };
  if (jaxTiming) {
    row.jax_ms = jaxTiming.medianMs;
    row.jax_ratio = jaxTiming.medianMs / oursMs;
    row.jax_gflops = gflops(jaxTiming.medianMs);
    row.jax_samples_ms = jaxTiming.samplesMs;
    row.jax_repeats = jaxTiming.repeats;
  }
  if (c.tokens) row.ours_tokens_per_s = (1000 * c.tokens) / oursMs;
  if (c.bytes) {
    row.ours_gbps = gbps(oursMs);
    row.peer_gbps = peerMs === null ? null : gbps(peerMs);
  }
  return row;
}

async function main(): Promise<void> {
  const gpu = await requestGpu({ onError: (e) => log(`GPU error: ${e.message}`) });
  await tf.setBackend('webgpu');
  await tf.ready();
  const backend = tf.backend() as Partial<WebGPUBackend>;
  if (typeof backend.submitQueue !== 'function' || typeof backend.ensureCommandEncoderReady !== 'function' || !backend.queue) {
    throw new Error('the TF.js WebGPU backend no longer has submitQueue / ensureCommandEncoderReady / queue: the peer cannot be timed to GPU completion');
  }
  const adapter = { vendor: gpu.adapter.vendor, architecture: gpu.adapter.architecture, description: gpu.adapter.description };
  // the kernel choices measured on this adapter (as the engine does at its start), recorded with the rows
  const tuning = await tuneKernels(gpu);
  log(`kernel tuning (${(tuning.ms / 1000).toFixed(1)} s): ${describeChoices(tuning.choices)}`);
  for (const m of tuning.measured) log(`  ${m.op} ${m.shape}: ${m.candidates.map((c) => `${c.name} ${c.wrong ? 'wrong' : c.ms === null ? 'dropped' : `${c.ms.toFixed(2)} ms`}`).join(', ')} -> ${m.pick}`);
  const report = (window as unknown as { __benchReport?: (json: string) => void }).__benchReport;
  if (profileSpec !== null) {
    log(`adapter: ${JSON.stringify(adapter)}  profiling ${profileSpec}`);
    const profile = await profileRun(gpu, profileSpec, log);
    const result = { adapter, browser: navigator.userAgent, tuning, profile };
    if (report) report(JSON.stringify(result));
    else log(JSON.stringify(result, null, 1));
    return;
  }
  log(`adapter: ${JSON.stringify(adapter)}  tfjs backend: ${tf.getBackend()}  quick: ${quick}`);
  const rows: (BenchRow & { error?: string })[] = [];
  for (const [path, mod] of Object.entries(suites).sort(([x], [y]) => x.localeCompare(y))) {
    for (const c of mod.default({ quick })) {
      if (quick && !c.quick) continue;
      if (only.length && !selected(c)) continue;
      try {
        const row = await runCase(gpu, c);
        rows.push(row);
        log(`${row.op} ${row.shape}: ours ${row.ours_ms.toFixed(3)} ms, peer ${row.peer_ms?.toFixed(3) ?? '-'} ms, ratio ${row.ratio?.toFixed(2) ?? '-'}`);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        log(`${c.op} ${c.shape} (${path}) FAILED: ${msg}`);
        rows.push({ op: c.op, shape: c.shape, ours_ms: NaN, peer_ms: null, ratio: null, ours_gflops: 0, peer_gflops: null, error: msg });
      }
    }
  }
  if (only.length && rows.length === 0) throw new Error(`--only ${only.join(',')} names no benchmark row${quick ? ' in the quick suite' : ''}`);
  const method = {
    clock: 'wall time, JavaScript work included on both sides, ending when the GPU finishes; nothing read back',
    samples,
    targetMs,
    order: 'alternating: each round one sample of ours, then one of the TF.js peer, then one of the jax-js peer (where the row has them)',
  };
  const result = { adapter, browser: navigator.userAgent, tuning, method, rows };
  if (report) report(JSON.stringify(result));
  else log(JSON.stringify(result, null, 1));
}

main().catch((e) => {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  log(`FATAL ${msg}`);
  const fail = (window as unknown as { __benchFail?: (m: string) => void }).__benchFail;
  fail?.(msg);
});
