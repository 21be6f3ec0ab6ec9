/**
 * `lmrec/serve`: the HTTP service `lmrec serve` runs, from code. A RecommendationService joins a
 * saved recommender to a store (SQLite file or PostgreSQL URL) that keeps the event log and the
 * catalog; createServer puts the JSON API in front of it (fastify).
 *
 *   const service = await RecommendationService.open({ model: 'rec/', store: 'rec.db' });
 *   const app = await createServer(service, { token: process.env.TOKEN });
 *   await app.listen({ port: 8080 });
 * @module lmrec/serve
 */
export { createServer, type ServerOptions } from './serve/server.js';
export { RecommendationService, type ServiceOptions, type ServiceStats, type ServiceHealth, type IncomingEvent, type RerankOptions } from './serve/service.js';
export { openStore } from './serve/store/open-store.js';
export { STORE_LIMITS, type Store, type StoreOptions, type StoredEvent } from './serve/store/store.js';
