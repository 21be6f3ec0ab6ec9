/** Ctrl-C for long commands: the first stops the work at its next step, a second exits at once. */
export function interruptOnCtrlC(message: string): AbortSignal {
  const interrupt = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write(`\nlmrec: ${message} (Ctrl-C again to quit)\n`);
    interrupt.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  return interrupt.signal;
}
