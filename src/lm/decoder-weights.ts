/** The weights of a Llama-style decoder, by the Hugging Face names, shape-checked. */
import type { DecoderConfig } from './config.js';
import { finiteTensor } from './finite-tensor.js';
import type { Safetensors } from './safetensors.js';

export interface DecoderLayerWeights {
  inputNorm: Float32Array;
  q: Float32Array; // [heads*headDim, hidden]
  k: Float32Array; // [kvHeads*headDim, hidden]
  v: Float32Array;
  o: Float32Array; // [hidden, heads*headDim]
  qBias?: Float32Array | undefined;
  kBias?: Float32Array | undefined;
  vBias?: Float32Array | undefined;
  postNorm: Float32Array;
  gate: Float32Array; // [intermediate, hidden]
  up: Float32Array;
  down: Float32Array; // [hidden, intermediate]
}

export interface DecoderWeights {
  embed: Float32Array; // [vocab, hidden]
  layers: DecoderLayerWeights[];
  finalNorm: Float32Array;
  head: Float32Array; // [vocab, hidden] (the embeddings when tied)
}

/** The decoder's tensors as fp32; CORRUPT_FILE, DIM_MISMATCH or NON_FINITE naming a bad one. */
export function decoderWeights(st: Safetensors, c: DecoderConfig): DecoderWeights {
  const get = (name: string, shape: number[]) => finiteTensor(st, name, shape);
  const H = c.hidden;
  const qDim = c.heads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  const embed = get('model.embed_tokens.weight', [c.vocab, H]);
  const layers: DecoderLayerWeights[] = [];
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    const bias = (name: string, n: number) => (c.qkvBias ? get(`${p}self_attn.${name}_proj.bias`, [n]) : undefined);
    layers.push({
      inputNorm: get(`${p}input_layernorm.weight`, [H]),
      q: get(`${p}self_attn.q_proj.weight`, [qDim, H]),
      k: get(`${p}self_attn.k_proj.weight`, [kvDim, H]),
      v: get(`${p}self_attn.v_proj.weight`, [kvDim, H]),
      o: get(`${p}self_attn.o_proj.weight`, [H, qDim]),
      qBias: bias('q', qDim),
      kBias: bias('k', kvDim),
      vBias: bias('v', kvDim),
      postNorm: get(`${p}post_attention_layernorm.weight`, [H]),
      gate: get(`${p}mlp.gate_proj.weight`, [c.intermediate, H]),
      up: get(`${p}mlp.up_proj.weight`, [c.intermediate, H]),
      down: get(`${p}mlp.down_proj.weight`, [H, c.intermediate]),
    });
  }
  return {
    embed,
    layers,
    finalNorm: get('model.norm.weight', [H]),
    head: c.tiedEmbeddings ? embed : get('lm_head.weight', [c.vocab, H]),
  };
}
