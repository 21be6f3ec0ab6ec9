/** The pretrained stories260K Llama in ../shared/fixtures, with transformers' outputs for it. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const storiesDir = path.resolve(__dirname, '../../../shared/fixtures/stories260k-hf');
export const hasStories = existsSync(storiesDir);
/** Appended to the titles of the tests that need the fixture, so a skipped run says why. */
export const storiesNote = hasStories ? '' : ` [skipped: ${path.relative(process.cwd(), storiesDir)} is missing; it sits beside the clone as ../shared/fixtures]`;

export interface StoriesReference {
  input_ids: number[];
  /** transformers: [0] embeddings, [1..L-1] layer outputs, [L] after the final norm */
  hidden_states: number[][][];
  last_layer_prenorm: number[][];
  last_logits: number[];
  greedy_next_ids: number[];
}

/** The reference outputs; only call where the fixture is present (hasStories). */
export function storiesReference(): StoriesReference {
  return JSON.parse(readFileSync(path.join(storiesDir, 'reference.json'), 'utf8')) as StoriesReference;
}
