/** The benchmarks' command-line options: `--name value` after `npm run bench:x --`. */

/** The value after `--name`, or undefined without the option; an option without a value is an error. */
export function arg(name: string): string | undefined {
  const args = process.argv.slice(2);
  const at = args.indexOf(`--${name}`);
  if (at < 0) return undefined;
  const v = args[at + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}

/** The value after `--name`, or `fallback` without the option. */
export function argOr(name: string, fallback: string): string {
  return arg(name) ?? fallback;
}
