/**
 * Which optimizer owns each parameter tensor. With optim.optimizer 'muon', Muon takes the hidden matrices: every
 * 2-D weight inside a block (wq, wk, wv, wo, mlp.wi, mlp.wo) and each expert's matrix of the 3-D moe.wi / moe.wo
 * ([E, rows, cols]: E matrices). AdamW keeps the rest: wte, wpe, lm_head (not hidden: their rows are tokens or
 * positions), norm gains and biases, linear biases, QK-norm gains, and the MoE router (a small [C, E] map whose
 * logits feed a softmax; the Muon literature keeps such maps on AdamW). One rule, used by the trainer to build
 * its groups, by the memory estimate to count Muon's scratch, and by the scaling lab to count the optimizer's
 * FLOPs without a device. It lives in the model layer so memory.ts can use it; src/train/param-groups.ts
 * re-exports it for the jobs.
 */
import { newtonSchulzFlops } from '../kernels/muon';
import type { ModelConfig } from './config';
import { buildLayout, type ParamLayout, type ParamSpec } from './layout';

/** One matrix Muon updates: `rows × cols` floats at `offset` in the flat parameter buffer. */
export interface MuonMatrix {
  name: string;
  offset: number;
  rows: number;
  cols: number;
}

/** True when Muon owns the tensor (see the file's comment). */
export function isMuonTensor(spec: Pick<ParamSpec, 'name' | 'shape'>): boolean {
  if (!spec.name.startsWith('h.') || spec.name.endsWith('.bias') || spec.name.endsWith('.router')) return false;
  return spec.shape.length === 2 || spec.shape.length === 3;
}

/** The matrices Muon updates, in layout order; a 3-D expert tensor gives one per expert. */
export function muonMatrices(layout: ParamLayout): MuonMatrix[] {
  const out: MuonMatrix[] = [];
  for (const s of layout.specs) {
    if (!isMuonTensor(s)) continue;
    const [rows, cols] = s.shape.slice(-2) as [number, number];
    const count = s.shape.length === 3 ? s.shape[0]! : 1;
    for (let e = 0; e < count; e++) {
      out.push({ name: count > 1 ? `${s.name}[${e}]` : s.name, offset: s.offset + e * rows * cols, rows, cols });
    }
  }
  return out;
}

/** FLOPs the optimizer spends per step beyond elementwise work: Muon's Newton–Schulz iterations (0 for AdamW). */
export function optimizerFlopsPerStep(model: ModelConfig, optim: { optimizer: 'adamw' | 'muon' }): number {
  if (optim.optimizer !== 'muon') return 0;
  return muonMatrices(buildLayout(model)).reduce((sum, m) => sum + newtonSchulzFlops(m.rows, m.cols), 0);
}

/** The distinct (rows, cols) among `matrices`, in first-seen order: one NewtonSchulz5 (and its scratch) serves each. */
export function muonShapes(matrices: readonly MuonMatrix[]): { rows: number; cols: number; count: number }[] {
  const byKey = new Map<string, { rows: number; cols: number; count: number }>();
  for (const m of matrices) {
    const key = `${m.rows}x${m.cols}`;
    const s = byKey.get(key);
    if (s) s.count++;
    else byKey.set(key, { rows: m.rows, cols: m.cols, count: 1 });
  }
  return [...byKey.values()];
}
