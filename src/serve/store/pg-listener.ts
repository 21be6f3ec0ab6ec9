/**
 * The connection that LISTENs for other replicas' appends. LISTEN belongs to one session, so it
 * is a client of its own, outside the pool. When it drops (a server restart, a failover, a
 * network cut noticed by TCP keepalive) it reconnects with capped, jittered exponential backoff,
 * so that replicas do not stampede a server that is coming back.
 *
 * Nothing is lost while it is down: NOTIFY only wakes, the events table is the log. Each time
 * LISTEN is (re)established `onListening` gets the newest seq, read after LISTEN took effect,
 * and the consumer catches up with eventsSince; an append that commits later is notified.
 */
import pg from 'pg';
import type { LmrecError } from '../../errors.js';
import { pgError } from './pg-errors.js';
import { EVENTS_CHANNEL } from './pg-schema.js';

export interface NotificationOptions {
  connection: pg.ClientConfig;
  maxDelayMs: number;
  /** Another append committed; `seq` is the newest seq it wrote. */
  onNotify: (seq: number) => void;
  /** LISTEN is in effect (again); `lastSeq` is the newest seq then. */
  onListening: (lastSeq: number) => void;
  onError: (error: LmrecError) => void;
}

const FIRST_DELAY_MS = 100;

export class NotificationConnection {
  readonly #options: NotificationOptions;
  // the client being connected or connected; any other client's events are stale
  #client: pg.Client | undefined;
  #failures = 0;
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: NotificationOptions) {
    this.#options = options;
    void this.#connect();
  }

  async #connect(): Promise<void> {
    this.#retry = undefined;
    const client = new pg.Client(this.#options.connection);
    this.#client = client;
    client.on('error', (e) => this.#lost(client, e));
    client.on('end', () => this.#lost(client, new Error('the connection closed')));
    client.on('notification', (n) => {
      const seq = Number(n.payload);
      if (n.channel === EVENTS_CHANNEL && Number.isSafeInteger(seq)) this.#options.onNotify(seq);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
      // read after LISTEN, so that every later commit is either counted here or notified
      const r = await client.query<{ last: string }>('SELECT coalesce(max(seq), 0) AS last FROM lmrec_events');
      if (client !== this.#client) return;
      this.#failures = 0;
      this.#options.onListening(Number(r.rows[0]?.last ?? 0));
    } catch (e) {
      this.#lost(client, e);
    }
  }

  /** Drops `client` if it is the current one and schedules the next attempt. */
  #lost(client: pg.Client, e: unknown): void {
    if (client !== this.#client || this.#stopped) return;
    this.#client = undefined;
    client.end().catch(() => undefined); // it is already broken; only its socket needs freeing
    const delay = Math.min(this.#options.maxDelayMs, FIRST_DELAY_MS * 2 ** this.#failures) * (0.5 + Math.random() / 2);
    this.#failures++;
    this.#options.onError(pgError(e, `the notification connection dropped (attempt ${this.#failures}; retrying in ${Math.round(delay)} ms)`));
    this.#retry = setTimeout(() => void this.#connect(), delay);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }
}
