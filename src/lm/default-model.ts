/**
 * The bundled default language model (`model: 'default'`): a small decoder trained on WordNet's
 * glosses by `npm run make-default-model`, shipped in the package so that lmrec works with no
 * download and no GPU.
 */
import path from 'node:path';
import { packageRoot } from '../addon/loader.js';

export const DEFAULT_MODEL_DIR = path.join(packageRoot, 'models', 'default');
