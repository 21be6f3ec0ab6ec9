/** A small fitted recommender saved to a directory, for the serving tests. */
import path from 'node:path';
import { writeSynthetic, type SyntheticData } from '../../src/data/synthetic.js';
import { Recommender } from '../../src/recommender/recommender.js';

export async function fitServedModel(dir: string): Promise<{ model: string; data: SyntheticData }> {
  const data = writeSynthetic(dir, { items: 120, users: 200, topics: 5, eventsPerUser: [4, 12], seed: 3 });
  const rec = await Recommender.fit({ items: path.join(dir, 'items.jsonl'), events: path.join(dir, 'events.jsonl'), sweepLayers: [1], dim: 16, epochs: 4, seed: 1, srm: { dim: 16, maxLen: 16 } });
  const model = path.join(dir, 'rec');
  await rec.save(model);
  await rec.close();
  return { model, data };
}
