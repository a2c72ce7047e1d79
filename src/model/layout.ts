import { isMoeLayer, modelDims, type ModelConfig } from './config';

/**
 * Parameter layout: every parameter tensor lives in ONE flat float32 buffer (so are its gradient and the
 * AdamW moments), each starting at a 64-float (256-byte) aligned offset. That lets a kernel bind a tensor
 * as a sub-range (minStorageBufferOffsetAlignment is at most 256), and lets AdamW and the gradient-norm
 * reduction run as one dispatch over everything.
 *
 * Linear weights are stored (in, out), so a layer is y = x·W: forward uses no transpose, dX = dY·Wᵀ uses
 * transB, dW = Xᵀ·dY uses transA. The tied output head uses wte (V, C) with transB.
 */
export const PARAM_ALIGN = 64;

export type ParamInit = 'normal' | 'residual' | 'ones' | 'zeros';

export interface ParamSpec {
  name: string;
  shape: number[];
  /** Offset in floats into the flat buffer. */
  offset: number;
  length: number;
  init: ParamInit;
  /** AdamW decoupled weight decay applies (matrices yes; norms no). */
  decay: boolean;
}

export interface ParamLayout {
  specs: ParamSpec[];
  byName: Map<string, ParamSpec>;
  /** Floats in the flat buffer, padding included. */
  totalLength: number;
  /** Floats that are parameters (no padding). */
  paramCount: number;
}

export function buildLayout(c: ModelConfig): ParamLayout {
  const { C, hs, ffnIn } = modelDims(c);
  const specs: ParamSpec[] = [];
  let offset = 0;
  const add = (name: string, shape: number[], init: ParamInit, decay: boolean) => {
    const length = shape.reduce((a, b) => a * b, 1);
    specs.push({ name, shape, offset, length, init, decay });
    offset += Math.ceil(length / PARAM_ALIGN) * PARAM_ALIGN;
  };
  // LayerNorm's bias sits after its gain, named as GPT-2's (ln_1.bias); no decay, as the gains
  const norm = (name: string) => {
    add(name, [C], 'ones', false);
    if (c.norm === 'layernorm') add(`${name}.bias`, [C], 'zeros', false);
  };
  // a linear's bias (model.bias) sits right after its weight, as GPT-2's c_attn.bias: zeros, no decay
  const linear = (name: string, shape: number[], init: ParamInit) => {
    add(name, shape, init, true);
    if (c.bias) add(`${name}.bias`, [shape[1]!], 'zeros', false);
  };
  // output projections that write into the residual stream: zero with model.zeroInitProjections
  const outInit: ParamInit = c.zeroInitProjections ? 'zeros' : 'residual';
  add('wte', [c.vocabSize, C], 'normal', true);
  // learned positions (GPT-2's wpe): normal(initScale) and decayed, as wte
  if (c.positions === 'learned') add('wpe', [c.contextLength, C], 'normal', true);
  for (let l = 0; l < c.nLayer; l++) {
    const p = `h.${l}`;
    norm(`${p}.ln1`);
    linear(`${p}.wq`, [C, c.nHead * hs], 'normal');
    linear(`${p}.wk`, [C, c.nKvHead * hs], 'normal');
    linear(`${p}.wv`, [C, c.nKvHead * hs], 'normal');
    // QK-norm gains (OLMo 2 / Qwen3 naming), one per layer shared by its heads; no decay, as the norms
    if (c.qkNorm) {
      add(`${p}.q_norm`, [hs], 'ones', false);
      add(`${p}.k_norm`, [hs], 'ones', false);
    }
    linear(`${p}.wo`, [c.nHead * hs, C], outInit);
    norm(`${p}.ln2`);
    if (isMoeLayer(c, l)) {
      // experts and the router have no biases even with model.bias (the MoE recipe is measured without)
      add(`${p}.moe.router`, [C, c.moeExperts], 'normal', true);
      add(`${p}.moe.wi`, [c.moeExperts, C, ffnIn], 'normal', true);
      add(`${p}.moe.wo`, [c.moeExperts, c.mlpHidden, C], outInit, true);
    } else {
      linear(`${p}.mlp.wi`, [C, ffnIn], 'normal');
      linear(`${p}.mlp.wo`, [c.mlpHidden, C], outInit);
    }
  }
  norm('lnf');
  if (!c.tiedEmbeddings) add('lm_head', [C, c.vocabSize], 'normal', true);
  return {
    specs,
    byName: new Map(specs.map((s) => [s.name, s])),
    totalLength: offset,
    paramCount: specs.reduce((a, s) => a + s.length, 0),
  };
}
