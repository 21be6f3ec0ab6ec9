/**
 * `lmrec serve`: the HTTP service on a fitted recommender and a store, until SIGINT or
 * SIGTERM; then it answers the requests in flight, answers 503 CLOSED to those that arrive
 * (the connections already waiting to be accepted too, until none has come for 100 ms), stops
 * listening, applies the events already stored, closes the store and exits 0 (see
 * createServer). Failures off the request path (a background SRM update) go to its log.
 */
import type { IndexChoice } from '../recommender/recommender.js';
import { native } from '../addon/loader.js';
import { RecommendationService } from '../serve/service.js';
import { createServer } from '../serve/server.js';

export interface ServeCliOptions {
  model: string;
  store?: string;
  host: string;
  port: number;
  token?: string;
  bodyLimit: number;
  rateLimit?: number;
  logLevel: string;
  updateInterval: number;
  updateThreads: number;
  index: IndexChoice;
  heapArenas: number;
  rerank?: string;
  rerankWeight: number;
  rerankCandidates: number;
  rerankEvents: number;
  rerankPrecision: 'fp32' | 'int8';
  rerankThreads: number;
}

export async function runServe(o: ServeCliOptions): Promise<void> {
  // before the model loads and the threads start allocating: each background update frees
  // large blocks in whichever arena its thread used, and glibc's default of 8 arenas a core
  // leaves a peak in each (bench:serve: the server's RSS highs rose ~40 MB/min with the
  // default, ~11 with 2)
  native.limitHeapArenas(o.heapArenas);
  const service = await RecommendationService.open({
    model: o.model,
    store: o.store ?? `${o.model.replace(/[/\\]+$/, '')}.db`,
    updateIntervalMs: Math.round(o.updateInterval * 1000),
    updateThreads: o.updateThreads,
    index: o.index,
    ...(o.rerank
      ? { rerank: { model: o.rerank, weight: o.rerankWeight, candidates: o.rerankCandidates, events: o.rerankEvents, precision: o.rerankPrecision, threads: o.rerankThreads } }
      : {}),
  });
  const token = o.token ?? process.env.LMREC_TOKEN;
  const app = await createServer(service, {
    token: token || undefined,
    bodyLimit: o.bodyLimit,
    rateLimit: o.rateLimit,
    logger: o.logLevel === 'silent' ? false : { level: o.logLevel },
  });
  const address = await app.listen({ host: o.host, port: o.port });
  app.log.info(`lmrec serving ${o.model} at ${address}${o.rerank ? `, re-ranked by ${o.rerank}` : ''}`);
  if (o.logLevel === 'silent') process.stderr.write(`lmrec serving ${o.model} at ${address}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info(`${signal}: finishing requests in flight and pending events`);
    app.close().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`lmrec: shutdown failed: ${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
