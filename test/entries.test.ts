/**
 * The package's entry points: the main entry holds the product and no internals; each
 * specialist part has its subpath, declared in package.json with its types.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const entries: Record<string, () => Promise<Record<string, unknown>>> = {
  late: () => import('../src/late.js'),
  collab: () => import('../src/collab.js'),
  train: () => import('../src/train.js'),
  eval: () => import('../src/eval.js'),
  serve: () => import('../src/serve.js'),
  tools: () => import('../src/tools.js'),
};
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { exports: Record<string, unknown> };

describe('entry points', () => {
  it('the main entry exports the product, not the internals', async () => {
    const main = await import('../src/index.js');
    for (const name of ['Recommender', 'VectorIndex', 'LanguageModel', 'LmrecError', 'ERROR_CODES', 'readItems', 'readEvents', 'INPUT_LIMITS']) expect(main, name).toHaveProperty(name);
    for (const name of ['IdMap', 'collectInteractions', 'readCatalogIds', 'ItemHead', 'DEFAULT_MODEL_DIR', 'fusedScore', 'fusedOrder', 'candidateProbabilities', 'inconsistency', 'thresholdForRate', 'validateReply', 'rerank']) {
      expect(main, name).not.toHaveProperty(name);
    }
    expect(Object.keys(main).length).toBeLessThanOrEqual(10);
  });

  it.each([
    ['late', ['LateInteraction', 'SegmentCache', 'EarlyExit', 'ItemHead', 'LmRanker']],
    ['collab', ['DeviceRecommender', 'FUSION_RULES', 'ThresholdPolicy', 'RandomPolicy', 'evaluateCollab', 'rerankCandidates']],
    ['train', ['SequentialRecommender', 'pretrain', 'distill', 'trainTokenizer', 'tokenizerFiles']],
    ['eval', ['leaveOneOut', 'evaluate', 'popularityScorer', 'readInteractions', 'IdMap', 'compareModels']],
    ['serve', ['createServer', 'RecommendationService', 'openStore', 'STORE_LIMITS']],
    ['tools', ['generateSynthetic', 'writeSynthetic', 'probeMachine', 'Random']],
  ])('lmrec/%s exports its part, and package.json declares it with types', async (name, values) => {
    const mod = await entries[name]!();
    for (const v of values) expect(mod[v], `${name}: ${v}`).toBeDefined();
    expect(pkg.exports[`./${name}`]).toEqual({ types: `./dist/${name}.d.ts`, import: `./dist/${name}.js`, default: `./dist/${name}.js` });
  });
});
