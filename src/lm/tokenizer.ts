/** A model directory's tokenizer (`tokenizer.json` + `tokenizer_config.json`), when it has one. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { LmrecError } from '../errors.js';
import { readTextFile } from '../util/read-text.js';

export interface TextTokenizer {
  /** Token ids of `text`, with the special tokens the tokenizer adds (a BOS, ...) unless `specials` is false. */
  encode(text: string, specials?: boolean): number[];
  decode(ids: number[]): string;
}

function readJson(file: string): unknown {
  const text = readTextFile(file);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LmrecError(`cannot read '${file}': ${(e as Error).message}`, 'CORRUPT_FILE');
  }
}

/** A tokenizer from the contents of `tokenizer.json` and `tokenizer_config.json`; `where` names it in errors. */
export function tokenizerFromJson(json: object, config: object, where: string): TextTokenizer {
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (e) {
    throw new LmrecError(`'${where}' is not a tokenizer this runtime can load: ${(e as Error).message}`, 'UNSUPPORTED');
  }
  return {
    encode: (text, specials = true) => tokenizer.encode(text, { add_special_tokens: specials }).ids,
    decode: (ids) => tokenizer.decode(ids),
  };
}

/** The tokenizer of `dir`, or undefined when it has no tokenizer.json (token ids still work). */
export function loadTokenizer(dir: string): TextTokenizer | undefined {
  const file = path.join(dir, 'tokenizer.json');
  if (!existsSync(file)) return undefined;
  const configFile = path.join(dir, 'tokenizer_config.json');
  const config = existsSync(configFile) ? readJson(configFile) : {};
  return tokenizerFromJson(readJson(file) as object, config as object, file);
}
