/** Compares lmrec (reference pass and ONNX graphs) with the outputs of make_reference.py. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readConfig } from '../../src/lm/config.js';
import { decoderWeights } from '../../src/lm/decoder-weights.js';
import { encoderWeights } from '../../src/lm/encoder-weights.js';
import { LanguageModel } from '../../src/lm/language-model.js';
import { decoderForward } from '../../test/oracle/decoder.js';
import { encoderForward } from '../../test/oracle/encoder.js';
import { Safetensors } from '../../src/lm/safetensors.js';

const root = process.argv[2]!;
const maxDiff = (a: ArrayLike<number>, b: number[]) => b.reduce((m, v, i) => Math.max(m, Math.abs(a[i]! - v)), 0);
for (const name of readdirSync(root)) {
  const dir = path.join(root, name);
  const ref = JSON.parse(readFileSync(path.join(dir, 'reference.json'), 'utf8'));
  const c = readConfig(dir);
  const L = c.layers;
  const mine =
    c.family === 'decoder'
      ? decoderForward(c, decoderWeights(Safetensors.open(dir), c), ref.input_ids)
      : encoderForward(c, encoderWeights(Safetensors.open(dir), c), ref.input_ids);
  const lm = await LanguageModel.load(dir, { blockSize: 2, cacheDir: false });
  const onnx = await lm.hiddenStates(ref.input_ids, { layers: [...Array.from({ length: L + 1 }, (_, l) => l), 'final'] });
  const logits = c.family === 'decoder' ? await lm.logits(ref.input_ids) : new Float32Array(0);
  const rows: string[] = [];
  let worst = 0;
  for (let l = 0; l <= L + 1; l++) {
    // decoders: transformers' last entry is after the final norm; encoders have none
    const last = c.family === 'decoder' ? ref.last_layer_prenorm : ref.hidden_states[L];
    const want: number[] = (l < L ? ref.hidden_states[l] : l === L ? last : ref.hidden_states[L]).flat();
    const a = maxDiff(mine.layers[l] ?? mine.final, want);
    const b = maxDiff(onnx[l]!, want);
    worst = Math.max(worst, a, b);
    rows.push(`${l === L + 1 ? 'final' : `layer ${l}`}: reference ${a.toExponential(1)}, onnx ${b.toExponential(1)}`);
  }
  const dl = ref.last_logits ? maxDiff(logits, ref.last_logits) : 0;
  console.log(`${name} (transformers ${ref.transformers}): max |diff| ${Math.max(worst, dl).toExponential(2)}; logits ${dl.toExponential(1)}\n  ${rows.join('\n  ')}`);
  await lm.close();
}
