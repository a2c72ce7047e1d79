/**
 * Benchmark page: runs every case of bench/suites/*.ts against TensorFlow.js's WebGPU backend on the same
 * adapter in the same page, and hands the rows to scripts/bench.mjs (or shows them when opened by hand).
 *
 * Timing: both sides by wall clock over R back-to-back iterations after warm-up (ours: R iterations encoded
 * in one pass, submitted, then onSubmittedWorkDone; peer: R calls, then awaiting the last output's data),
 * R chosen so one sample lasts ~targetMs; the reported time is the median per-iteration time of several samples.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { requestGpu, type Gpu } from '../src/gpu/device';
import { median, medianPassTime } from '../src/gpu/timing';
import type { BenchCase, BenchRow, PeerRunner, Suite } from './types';

const suites = import.meta.glob<{ default: Suite }>('./suites/*.ts', { eager: true });

const params = new URLSearchParams(location.search);
const quick = params.has('quick');
const only = (params.get('only') ?? '').split(',').filter(Boolean);
const targetMs = quick ? 150 : 400;
const samples = quick ? 3 : 5;

const logEl = document.getElementById('log') as HTMLPreElement;
function log(line: string): void {
  console.log(`[bench] ${line}`);
  logEl.textContent += `\n${line}`;
}

async function timePeer(p: PeerRunner): Promise<number> {
  const once = async (repeats: number): Promise<number> => {
    const t0 = performance.now();
    let last: tf.Tensor[] = [];
    for (let i = 0; i < repeats; i++) {
      for (const t of last) t.dispose();
      const out = p.run();
      last = Array.isArray(out) ? out : [out];
    }
    await last[0].data();
    const dt = performance.now() - t0;
    for (const t of last) t.dispose();
    return dt;
  };
  await once(1);
  const first = await once(1);
  const repeats = Math.max(1, Math.min(100, Math.round(targetMs / Math.max(first, 0.01))));
  const times: number[] = [];
  for (let s = 0; s < samples; s++) times.push((await once(repeats)) / repeats);
  return median(times);
}

async function runCase(gpu: Gpu, c: BenchCase): Promise<BenchRow & { error?: string }> {
  const gflops = (ms: number | null) => (ms && c.flops ? c.flops / (ms * 1e6) : 0);
  const gbps = (ms: number | null) => (ms && c.bytes ? c.bytes / (ms * 1e6) : 0);
  const ours = await c.ours(gpu);
  let oursMs: number;
  try {
    oursMs = await medianPassTime(gpu, (pass) => ours.record(pass), targetMs, samples);
  } finally {
    ours.dispose();
  }
  let peerMs: number | null = null;
  if (c.peer) {
    const peer = await c.peer(tf);
    try {
      peerMs = await timePeer(peer);
    } finally {
      peer.dispose();
    }
  }
  const row: BenchRow = {
    op: c.op,
    shape: c.shape,
    ours_ms: oursMs,
    peer_ms: peerMs,
    ratio: peerMs === null ? null : peerMs / oursMs,
    ours_gflops: gflops(oursMs),
    peer_gflops: peerMs === null ? null : gflops(peerMs),
  };
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
  const adapter = { vendor: gpu.adapter.vendor, architecture: gpu.adapter.architecture, description: gpu.adapter.description };
  log(`adapter: ${JSON.stringify(adapter)}  tfjs backend: ${tf.getBackend()}  quick: ${quick}`);
  const rows: (BenchRow & { error?: string })[] = [];
  for (const [path, mod] of Object.entries(suites).sort(([x], [y]) => x.localeCompare(y))) {
    for (const c of mod.default({ quick })) {
      if (quick && !c.quick) continue;
      if (only.length && !only.some((o) => c.op === o || c.op.startsWith(`${o}_`))) continue;
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
  const result = { adapter, browser: navigator.userAgent, rows };
  const report = (window as unknown as { __benchReport?: (json: string) => void }).__benchReport;
  if (report) report(JSON.stringify(result));
  else log(JSON.stringify(result, null, 1));
}

main().catch((e) => {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  log(`FATAL ${msg}`);
  const fail = (window as unknown as { __benchFail?: (m: string) => void }).__benchFail;
  fail?.(msg);
});
