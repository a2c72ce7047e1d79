/**
 * The second training-benchmark peer (issue 15): our dense transformer written in jax-js (`@jax-js/jax`, pinned in
 * devDependencies), its loss differentiated by `valueAndGrad` and the whole step (forward, backward, Adam with
 * bias correction, written by hand as the issue asks) compiled by `jit`, which fuses its elementwise work into
 * few kernels. jax-js runs on its own WebGPU device, on the same adapter as ours.
 *
 * The math is that of tests/reference/model.ts and bench/peers/tf-transformer.ts for dense models with RMSNorm:
 * token embedding (no positions) → L × [x += attn(rmsnorm(x)); x += mlp(rmsnorm(x))] → rmsnorm → head (wte
 * transposed when tied) → mean cross-entropy. RoPE is GPT-NeoX's (pairs i, i + HS/2); attention is jax-js's own
 * `nn.dotProductAttention` with its causal mask. Parameters are shaped and named as in src/model/layout.ts.
 *
 * jax-js counts references: every function takes ownership of the arrays passed to it, so an array used twice is
 * passed as `x.ref` the first time (see its README).
 */
import { init, defaultDevice, jit, nn, numpy as np, random, tree, valueAndGrad, blockUntilReady } from '@jax-js/jax';
import { headSize, type ModelConfig } from '../../src/model/config';
import { buildLayout, type ParamLayout } from '../../src/model/layout';

type Arr = np.Array;
type Params = { [name: string]: Arr };

export interface JaxTrainerOptions {
  batchSize: number;
  seqLen: number;
  lr: number;
  seed: number;
}

export interface JaxTrainer {
  /** One jit'ed training step (forward, backward, Adam) on the batch given at creation; nothing is awaited. */
  step(): void;
  /** Resolves once every array the steps produced is computed (blockUntilReady: nothing is read back). */
  done(): Promise<void>;
  /** The loss of the last step, read back (tests). */
  lastLoss(): Promise<number>;
  /** The loss of the current parameters on the batch, without an update (tests). */
  loss(): Promise<number>;
  /** Sets every parameter from a flat buffer laid out as `layout` (buildLayout of the same config). */
  loadFlat(flat: Float32Array, layout: ParamLayout): void;
  dispose(): void;
}

let ready: Promise<void> | null = null;

/** Starts jax-js's WebGPU backend once per page and makes it the default device. */
export function initJax(): Promise<void> {
  ready ??= init('webgpu').then((devices) => {
    if (!devices.includes('webgpu')) throw new Error(`jax-js found no WebGPU device (it has ${devices.join(', ') || 'none'})`);
    defaultDevice('webgpu');
  });
  return ready;
}

/** What this peer computes; it refuses the rest instead of timing a different model. */
function checkSupported(c: ModelConfig): void {
  const bad: string[] = [];
  if (c.moeEvery) bad.push('mixture-of-experts blocks');
  if (c.norm !== 'rmsnorm') bad.push(`norm ${c.norm}`);
  if (c.positions !== 'rope') bad.push(`${c.positions} positions`);
  if (c.bias) bad.push('biases');
  if (c.qkNorm) bad.push('qkNorm');
  if (bad.length) throw new Error(`jax-js peer: only dense RMSNorm models are written; this config has ${bad.join(', ')}`);
}

export async function createJaxTrainer(config: ModelConfig, opts: JaxTrainerOptions, tokens: Int32Array, targets: Int32Array): Promise<JaxTrainer> {
  await initJax();
  const c = config;
  checkSupported(c);
  const { batchSize: B, seqLen: T } = opts;
  const N = B * T;
  if (T > c.contextLength) throw new Error(`jax-js peer: seqLen ${T} exceeds contextLength ${c.contextLength}`);
  if (tokens.length !== N || targets.length !== N) throw new Error(`jax-js peer: expected ${N} tokens and targets, got ${tokens.length} and ${targets.length}`);
  const NH = c.nHead;
  const NKV = c.nKvHead || c.nHead;
  const HS = headSize(c);
  const V = c.vocabSize;
  const layout = buildLayout(c);
  const eps = c.normEps;

  // Parameters: normal(0, initScale) (residual projections / √(2L)), norms 1, as the TF.js peer.
  let params: Params = {};
  let key = random.key(opts.seed);
  for (const spec of layout.specs) {
    if (spec.init === 'ones') params[spec.name] = np.ones(spec.shape);
    else if (spec.init === 'zeros') params[spec.name] = np.zeros(spec.shape);
    else {
      const [k1, k2] = random.split(key);
      key = k1;
      const std = spec.init === 'residual' ? c.initScale / Math.sqrt(2 * c.nLayer) : c.initScale;
      params[spec.name] = random.normal(k2, spec.shape).mul(std);
    }
  }
  key.dispose();
  let m: Params = Object.fromEntries(layout.specs.map((s) => [s.name, np.zeros(s.shape)]));
  let v: Params = Object.fromEntries(layout.specs.map((s) => [s.name, np.zeros(s.shape)]));

  // RoPE tables (1, T, 1, HS/2) in float64 on the CPU, as the TF.js peer.
  const half = HS / 2;
  const cosT = new Float32Array(T * half);
  const sinT = new Float32Array(T * half);
  for (let t = 0; t < T; t++)
    for (let i = 0; i < half; i++) {
      const angle = t * Math.pow(c.ropeTheta, (-2 * i) / HS);
      cosT[t * half + i] = Math.cos(angle);
      sinT[t * half + i] = Math.sin(angle);
    }
  const consts = {
    cos: np.array(cosT).reshape([1, T, 1, half]),
    sin: np.array(sinT).reshape([1, T, 1, half]),
    tokens: np.array(tokens, { dtype: np.int32 }),
    targets: np.array(targets, { dtype: np.int32 }),
  };
  type Consts = typeof consts;

  const rmsnorm = (x: Arr, w: Arr): Arr => {
    const inv = np.reciprocal(np.sqrt(np.square(x.ref).mean(-1, { keepdims: true }).add(eps)));
    return x.mul(inv).mul(w);
  };
  /** x (B, T, H, HS); cos and sin are taken (pass .ref). */
  const rope = (x: Arr, cos: Arr, sin: Arr): Arr => {
    const [x1, x2] = np.split(x, 2, -1);
    const a = x1.ref.mul(cos.ref).sub(x2.ref.mul(sin.ref));
    const b = x1.mul(sin).add(x2.mul(cos));
    return np.concatenate([a, b], -1);
  };
  const activate = (u: Arr): Arr => {
    if (c.mlp === 'swiglu') {
      const [gate, up] = np.split(u, 2, -1);
      return nn.silu(gate).mul(up);
    }
    return nn.gelu(u, { approximate: true });
  };

  const lossOf = (p: Params, k: Consts): Arr => {
    let x = np.take(c.tiedEmbeddings ? p.wte.ref : p.wte, k.tokens, 0); // (N, C)
    for (let l = 0; l < c.nLayer; l++) {
      const h = rmsnorm(x.ref, p[`h.${l}.ln1`]);
      const q = rope(np.matmul(h.ref, p[`h.${l}.wq`]).reshape([B, T, NH, HS]), k.cos.ref, k.sin.ref);
      const kk = rope(np.matmul(h.ref, p[`h.${l}.wk`]).reshape([B, T, NKV, HS]), k.cos.ref, k.sin.ref);
      const vv = np.matmul(h, p[`h.${l}.wv`]).reshape([B, T, NKV, HS]);
      const y = nn.dotProductAttention(q, kk, vv, { isCausal: true }).reshape([N, NH * HS]);
      x = x.add(np.matmul(y, p[`h.${l}.wo`]));
      const h2 = rmsnorm(x.ref, p[`h.${l}.ln2`]);
      x = x.add(np.matmul(activate(np.matmul(h2, p[`h.${l}.mlp.wi`])), p[`h.${l}.mlp.wo`]));
    }
    k.cos.dispose();
    k.sin.dispose();
    const hf = rmsnorm(x, p.lnf);
    const logits = c.tiedEmbeddings ? np.matmul(hf, p.wte.transpose()) : np.matmul(hf, p.lm_head); // (N, V)
    const picked = nn.logSoftmax(logits, -1).mul(nn.oneHot(k.targets, V)).sum(-1);
    return picked.mean().neg();
  };

  const [b1, b2, adamEps] = [0.9, 0.999, 1e-8];
  const trainStep = jit((p: Params, mm: Params, vv: Params, k: Consts, lrt: Arr) => {
    const [loss, g] = valueAndGrad(lossOf)(tree.ref(p), k);
    const np1: Params = {};
    const nm: Params = {};
    const nv: Params = {};
    for (const name of Object.keys(p)) {
      const gi = g[name];
      nm[name] = mm[name].mul(b1).add(gi.ref.mul(1 - b1));
      nv[name] = vv[name].mul(b2).add(np.square(gi).mul(1 - b2));
      np1[name] = p[name].sub(nm[name].ref.mul(lrt.ref).div(np.sqrt(nv[name].ref).add(adamEps)));
    }
    lrt.dispose();
    return [loss, np1, nm, nv] as [Arr, Params, Params, Params];
  });
  const evalLoss = jit((p: Params, k: Consts) => lossOf(p, k));

  let t = 0;
  // Every step's loss is kept until done(): jax-js is lazy, and an output disposed before anything realises it
  // may never be computed (the parameters chain the steps, so the rest of each step is computed regardless).
  let losses: Arr[] = [];
  let last: Arr | null = null;
  let disposed = false;
  const live = () => {
    if (disposed) throw new Error('jax-js peer: trainer used after dispose()');
  };
  return {
    step() {
      live();
      t++;
      const lrt = np.array([(opts.lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t)]).reshape([]);
      last?.dispose(); // losses[] still holds it until done()
      [last, params, m, v] = trainStep(params, m, v, tree.ref(consts), lrt);
      losses.push(last.ref);
    },
    async done() {
      live();
      await blockUntilReady([losses, params, m, v]);
      for (const l of losses) l.dispose();
      losses = [];
    },
    async lastLoss() {
      live();
      if (!last) throw new Error('jax-js peer: no step taken yet');
      return (await last.ref.data())[0];
    },
    async loss() {
      live();
      const l = evalLoss(tree.ref(params), tree.ref(consts));
      return (await l.data())[0];
    },
    loadFlat(flat, from) {
      live();
      for (const spec of layout.specs) {
        const src = from.byName.get(spec.name);
        if (!src || src.length !== spec.length) throw new Error(`jax-js peer: layout has no parameter '${spec.name}' of ${spec.length} floats`);
        if (src.offset + src.length > flat.length) throw new Error(`jax-js peer: flat buffer too short for '${spec.name}'`);
        params[spec.name].dispose();
        params[spec.name] = np.array(flat.slice(src.offset, src.offset + src.length)).reshape(spec.shape);
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      last?.dispose();
      for (const l of losses) l.dispose();
      tree.dispose([params, m, v, consts]);
      trainStep.dispose();
      evalLoss.dispose();
    },
  };
}

/** A matmul (M, K) · (K, N) (either operand transposed as given) through jax-js's jit, for the matmul rows. */
export async function createJaxMatmul(a: Float32Array, b: Float32Array, s: { M: number; N: number; K: number; transA?: boolean; transB?: boolean }) {
  await initJax();
  const A = np.array(a).reshape(s.transA ? [s.K, s.M] : [s.M, s.K]);
  const Bm = np.array(b).reshape(s.transB ? [s.N, s.K] : [s.K, s.N]);
  const mm = jit((x: Arr, y: Arr) => np.matmul(s.transA ? x.transpose() : x, s.transB ? y.transpose() : y));
  // jax-js is lazy: an output disposed before anything realises it is never computed, so every product is kept
  // until done() has waited for all of them.
  let outs: Arr[] = [];
  const release = () => {
    for (const o of outs) o.dispose();
    outs = [];
  };
  return {
    step() {
      outs.push(mm(A.ref, Bm.ref));
    },
    async done() {
      await blockUntilReady(outs);
      release();
    },
    dispose() {
      release();
      A.dispose();
      Bm.dispose();
      mm.dispose();
    },
  };
}
