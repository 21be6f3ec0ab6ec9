/**
 * The bundled default model (models/default, made by `npm run make-default-model` from
 * WordNet's glosses): it loads with no download, ships its licence and card, is small, and
 * knows enough English that related item titles start out closer than unrelated ones.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../src/lm/default-model.js';
import { LanguageModel } from '../src/index.js';

let lm: LanguageModel;
beforeAll(async () => {
  lm = await LanguageModel.load(DEFAULT_MODEL_DIR);
});
afterAll(() => lm.close());

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);

describe('the default model', () => {
  it('is a small Llama-style decoder with its tokenizer, card and WordNet licence', () => {
    expect(lm.config).toMatchObject({ family: 'decoder', modelType: 'llama', layers: 4, hidden: 256, vocab: 4096 });
    const bytes = statSync(path.join(DEFAULT_MODEL_DIR, 'model.safetensors')).size;
    expect(bytes).toBeLessThan(10 * 2 ** 20);
    expect(readFileSync(path.join(DEFAULT_MODEL_DIR, 'LICENSE-WORDNET.txt'), 'utf8')).toMatch(/Princeton University/);
    expect(readFileSync(path.join(DEFAULT_MODEL_DIR, 'MODEL_CARD.md'), 'utf8')).toMatch(/WordNet/);
    const text = 'Lip gloss, 12 ml — “sheer” ✨';
    expect(lm.tokenize(text).length).toBeGreaterThan(3);
  });

  it('puts related titles closer than unrelated ones more often than chance', async () => {
    // (title, related, unrelated): mean-pooled middle-layer states, cosine. Measured 11 of 16
    // for the committed model; a random one places half (8) on the right side.
    const triples: [string, string, string][] = [
      ['lip gloss', 'lipstick', 'tractor'], ['running shoes', 'sneakers', 'violin'], ['coffee maker', 'espresso machine', 'novel'],
      ['guitar', 'violin', 'sandwich'], ['dog food', 'cat food', 'screwdriver'], ['hammer', 'screwdriver', 'perfume'],
      ['novel', 'book', 'wrench'], ['shampoo', 'soap', 'bicycle'], ['laptop', 'computer', 'banana'], ['apple', 'banana', 'car'],
      ['shirt', 'jacket', 'piano'], ['necklace', 'bracelet', 'tractor'], ['tent', 'sleeping bag', 'lipstick'], ['wine', 'beer', 'pillow'],
      ['sofa', 'chair', 'violin'], ['pencil', 'pen', 'cheese'],
    ];
    let wins = 0;
    for (const [a, near, far] of triples) {
      const [va, vn, vf] = await lm.encode([a, near, far], { layer: 2, pooling: 'mean', normalize: true });
      if (cosine(va!, vn!) > cosine(va!, vf!)) wins++;
    }
    expect(wins).toBeGreaterThanOrEqual(11);
    const [gloss, stick, tractor] = await lm.encode(['lip gloss', 'lipstick', 'tractor'], { layer: 2, pooling: 'mean', normalize: true });
    expect(cosine(gloss!, stick!)).toBeGreaterThan(cosine(gloss!, tractor!) + 0.1);
  });

  it('predicts dictionary English far better than chance', async () => {
    // The gloss of "lipstick" in WordNet's own words: its tokens should be likely, not uniform.
    const ids = lm.tokenize('lipstick: makeup that is used to color the lips');
    let nll = 0;
    for (let i = 1; i < ids.length; i++) {
      const logits = await lm.logits(ids.slice(0, i));
      const max = Math.max(...logits);
      const lse = max + Math.log(logits.reduce((s, v) => s + Math.exp(v - max), 0));
      nll += lse - logits[ids[i]!]!;
    }
    const perplexity = Math.exp(nll / (ids.length - 1));
    expect(perplexity).toBeLessThan(4096 / 20);
  });
});
