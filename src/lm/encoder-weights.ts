/** The weights of a BERT-style encoder, by the Hugging Face names, shape-checked. */
import { LmrecError } from '../errors.js';
import type { EncoderConfig } from './config.js';
import { finiteTensor } from './finite-tensor.js';
import type { Safetensors } from './safetensors.js';

export interface Norm {
  weight: Float32Array;
  bias: Float32Array;
}

export interface Dense {
  weight: Float32Array; // [out, in]
  bias: Float32Array;
}

export interface EncoderLayerWeights {
  q: Dense;
  k: Dense;
  v: Dense;
  attnOut: Dense;
  attnNorm: Norm;
  up: Dense; // intermediate
  down: Dense; // output
  outNorm: Norm;
}

export interface EncoderWeights {
  word: Float32Array; // [vocab, hidden]
  position: Float32Array; // [maxPositions, hidden]
  tokenType: Float32Array; // [typeVocab, hidden]
  embedNorm: Norm;
  layers: EncoderLayerWeights[];
}

/** The encoder's tensors as fp32; CORRUPT_FILE, DIM_MISMATCH or NON_FINITE naming a bad one. */
export function encoderWeights(st: Safetensors, c: EncoderConfig): EncoderWeights {
  const get = (name: string, shape: number[]) => finiteTensor(st, name, shape);
  // BertModel checkpoints name tensors 'embeddings...'; BertFor* ones prefix them with 'bert.'
  const prefix = st.has('embeddings.word_embeddings.weight') ? '' : st.has('bert.embeddings.word_embeddings.weight') ? 'bert.' : null;
  if (prefix === null) throw new LmrecError('the checkpoint has no embeddings.word_embeddings.weight: not a BERT model', 'CORRUPT_FILE');
  const H = c.hidden;
  const norm = (name: string): Norm => {
    // older checkpoints call LayerNorm's parameters gamma and beta
    const w = st.has(`${prefix}${name}.weight`) ? 'weight' : 'gamma';
    const b = st.has(`${prefix}${name}.bias`) ? 'bias' : 'beta';
    return { weight: get(`${prefix}${name}.${w}`, [H]), bias: get(`${prefix}${name}.${b}`, [H]) };
  };
  const dense = (name: string, out: number, inp: number): Dense => ({
    weight: get(`${prefix}${name}.weight`, [out, inp]),
    bias: get(`${prefix}${name}.bias`, [out]),
  });
  const layers: EncoderLayerWeights[] = [];
  for (let l = 0; l < c.layers; l++) {
    const p = `encoder.layer.${l}.`;
    layers.push({
      q: dense(`${p}attention.self.query`, H, H),
      k: dense(`${p}attention.self.key`, H, H),
      v: dense(`${p}attention.self.value`, H, H),
      attnOut: dense(`${p}attention.output.dense`, H, H),
      attnNorm: norm(`${p}attention.output.LayerNorm`),
      up: dense(`${p}intermediate.dense`, c.intermediate, H),
      down: dense(`${p}output.dense`, H, c.intermediate),
      outNorm: norm(`${p}output.LayerNorm`),
    });
  }
  return {
    word: get(`${prefix}embeddings.word_embeddings.weight`, [c.vocab, H]),
    position: get(`${prefix}embeddings.position_embeddings.weight`, [c.maxPositions, H]),
    tokenType: get(`${prefix}embeddings.token_type_embeddings.weight`, [c.typeVocab, H]),
    embedNorm: norm('embeddings.LayerNorm'),
    layers,
  };
}
