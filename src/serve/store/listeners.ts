/**
 * The onEvents listeners of one store. A seq is passed on only when it is newer than the last
 * one passed (a store hears its own appends twice under PostgreSQL: at commit and by NOTIFY),
 * unless forced (a notification connection that restarted may have missed any number).
 */
import { LmrecError } from '../../errors.js';

export type SeqListener = (lastSeq: number) => void;

export class SeqListeners {
  readonly #listeners = new Set<SeqListener>();
  readonly #onError: (error: LmrecError) => void;
  #notified: number;

  constructor(lastSeq: number, onError: (error: LmrecError) => void) {
    this.#notified = lastSeq;
    this.#onError = onError;
  }

  get size(): number {
    return this.#listeners.size;
  }

  /** Adds a listener (the same function twice is one listener); returns its removal. */
  add(listener: SeqListener): () => void {
    if (typeof listener !== 'function') throw new LmrecError('onEvents needs a function', 'INVALID_ARGUMENT');
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Calls every listener with `seq` when it is news, or always with `force`. */
  notify(seq: number, force = false): void {
    if (!force && seq <= this.#notified) return;
    this.#notified = Math.max(this.#notified, seq);
    for (const listener of [...this.#listeners]) {
      try {
        listener(seq);
      } catch (e) {
        // a consumer's bug must not stop the other listeners nor fail the append that woke it
        this.#onError(new LmrecError(`an onEvents listener threw: ${(e as Error)?.message ?? String(e)}`, 'INTERNAL'));
      }
    }
  }
}
