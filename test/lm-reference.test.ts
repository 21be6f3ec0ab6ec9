/**
 * The reference forward pass against the transformers library on real weights: the
 * stories260K Llama in ../shared/fixtures (every layer, the last logits, 40 greedy tokens).
 */
import { describe, expect, it } from 'vitest';
import { readConfig, type DecoderConfig } from '../src/lm/config.js';
import { decoderWeights } from '../src/lm/decoder-weights.js';
import { decoderForward, lastLogits } from './oracle/decoder.js';
import { Safetensors } from '../src/lm/safetensors.js';
import { maxAbsDiff } from './helpers/compare.js';
import { hasStories, storiesDir, storiesNote, storiesReference } from './helpers/stories.js';

// describe bodies run even when skipped, so nothing is read unless the fixture is there
describe.runIf(hasStories)(`reference decoder on stories260K (vs transformers)${storiesNote}`, () => {
  const ref = hasStories ? storiesReference() : (undefined as never);
  const config = (hasStories ? readConfig(storiesDir) : undefined) as DecoderConfig;
  const weights = hasStories ? decoderWeights(Safetensors.open(storiesDir), config) : (undefined as never);

  it('reads the config', () => {
    expect(config).toMatchObject({ family: 'decoder', layers: 5, heads: 8, kvHeads: 4, headDim: 8, tiedEmbeddings: true });
  });

  it('matches every layer within 1e-4, and the logits', () => {
    const out = decoderForward(config, weights, ref.input_ids);
    for (let l = 0; l < config.layers; l++) {
      expect(maxAbsDiff(out.layers[l]!, ref.hidden_states[l]!.flat()), `layer ${l}`).toBeLessThanOrEqual(1e-4);
    }
    expect(maxAbsDiff(out.layers[config.layers]!, ref.last_layer_prenorm.flat())).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(out.final, ref.hidden_states[config.layers]!.flat())).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(lastLogits(config, weights, out), ref.last_logits)).toBeLessThanOrEqual(1e-4);
  });

  it('continues greedily with the same 40 tokens', () => {
    const ids = [...ref.input_ids];
    for (let i = 0; i < ref.greedy_next_ids.length; i++) {
      const logits = lastLogits(config, weights, decoderForward(config, weights, ids));
      let best = 0;
      for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[best]!) best = v;
      ids.push(best);
    }
    expect(ids.slice(ref.input_ids.length)).toEqual(ref.greedy_next_ids);
  });
});
