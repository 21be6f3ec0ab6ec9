/** Option parsers shared by the commands of `lmrec` (commander reports their errors with the option's name). */
import { InvalidArgumentError } from 'commander';
import { indexChoiceSchema, type IndexChoice } from '../recommender/recommender.js';
import { parseDuration } from '../util/duration.js';

/** An option parser for numbers that pass `ok` (underscores allowed as digit separators). */
export function numberOption(ok: (n: number) => boolean, expected: string): (value: string) => number {
  return (value) => {
    const n = Number(value.replace(/_/g, ''));
    if (value.trim() === '' || !ok(n)) throw new InvalidArgumentError(`expected ${expected}`);
    return n;
  };
}

export const positiveInt = numberOption((n) => Number.isInteger(n) && n >= 1, 'a positive integer');
export const positive = numberOption((n) => Number.isFinite(n) && n > 0, 'a positive number');
export const fraction = numberOption((n) => n >= 0 && n < 1, 'a number in [0, 1)');
export const nonNegative = numberOption((n) => Number.isFinite(n) && n >= 0, 'a number >= 0');
export const nonNegativeInt = numberOption((n) => Number.isInteger(n) && n >= 0, 'an integer >= 0');

/** --cold-share: a share in [0, 1], or 'auto' (estimated from users set aside, see src/eval/cold-share.ts). */
export function coldShareChoice(value: string): number | 'auto' {
  if (value.trim() === 'auto') return 'auto';
  return numberOption((n) => n >= 0 && n <= 1, "a share in [0, 1] or 'auto'")(value);
}

/** A duration ('90s', '5m', '1h' or seconds) as seconds. */
export function budget(value: string): number {
  const s = parseDuration(value);
  if (s === undefined) throw new InvalidArgumentError("expected a duration such as '90s', '5m' or '1h'");
  return s;
}

/** 'auto' or a layer number. */
export function layerChoice(value: string): 'auto' | number {
  if (value.trim() === 'auto') return 'auto';
  return numberOption((n) => Number.isInteger(n) && n >= 0, "'auto' or a layer number (0 = the embeddings)")(value);
}

/** The serving index: 'auto', 'exact', 'partitioned' or a partition count. */
export function indexChoice(value: string): IndexChoice {
  const v = value.trim();
  const parsed = indexChoiceSchema.safeParse(/^\d[\d_]*$/.test(v) ? { partitions: Number(v.replace(/_/g, '')) } : v);
  if (!parsed.success) throw new InvalidArgumentError("expected 'auto', 'exact', 'partitioned' or a partition count (1-65536)");
  return parsed.data;
}

/** A comma-separated list of layer numbers, e.g. '0,2,4'. */
export function layerList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const n = parts.map(Number);
  if (parts.some((s) => s === '') || n.some((x) => !Number.isInteger(x) || x < 0)) {
    throw new InvalidArgumentError("expected layer numbers separated by commas, e.g. '0,2,4'");
  }
  return [...new Set(n)];
}

/** A comma-separated list of ids ('a,b,c'); empty entries are dropped. Repeating the option appends. */
export function idList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)];
}

/** A repeatable `field=value` filter option. */
export function fieldValue(value: string, previous: [string, string][] | undefined): [string, string][] {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError("expected field=value, e.g. 'brand=acme'");
  return [...(previous ?? []), [value.slice(0, at).trim(), value.slice(at + 1)]];
}
