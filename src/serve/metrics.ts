/**
 * What `GET /metrics` shows, in Prometheus' text format (prom-client, a registry per server so
 * several servers in one process keep their own): requests by route and status, latency
 * histograms by route, and the service's state read when scraped — catalog and users, the
 * event log's position against what is applied, the SRM's update lag, background SRM updates
 * that failed — plus the process's own.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { native } from '../addon/loader.js';
import type { RecommendationService } from './service.js';

export interface ServerMetrics {
  registry: Registry;
  observe(route: string, method: string, status: number, seconds: number): void;
}

export function serverMetrics(service: RecommendationService): ServerMetrics {
  const registry = new Registry();
  // the loop's delay sampled every 1 ms, not prom-client's 10: each sample is the interval plus
  // the delay, so at 10 ms an idle loop already read a p99 of 10 ms
  collectDefaultMetrics({ register: registry, prefix: 'lmrec_', eventLoopMonitoringPrecision: 1 });
  const requests = new Counter({ name: 'lmrec_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [registry] });
  const latency = new Histogram({
    name: 'lmrec_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route'],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  const state = (name: string, help: string, read: (s: Awaited<ReturnType<RecommendationService['stats']>>) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.set(read(await service.stats()));
      },
    });
  state('lmrec_index_items', 'items in the index (removed ones included until the next fit)', (s) => s.items);
  state('lmrec_index_bytes', 'memory the serving indexes hold', (s) => s.index.bytes);
  state('lmrec_index_partitions', 'partitions of the recommendation index (1: exact scan)', (s) => s.index.partitions);
  state('lmrec_users', 'users with a history', (s) => s.users);
  state('lmrec_events_applied_seq', 'newest event applied to the in-memory histories', (s) => s.appliedSeq);
  state('lmrec_events_store_seq', "newest event in the store, as last read", (s) => s.storeSeq);
  new Counter({
    name: 'lmrec_background_errors_total',
    help: 'background SRM updates that failed (the last good model keeps serving; /healthz says degraded until one succeeds)',
    registers: [registry],
    async collect() {
      this.reset();
      this.inc((await service.stats()).backgroundErrors);
    },
  });
  state('lmrec_srm_update_lag_seconds', 'age of the oldest applied event the SRM has not learned from yet (0: caught up)', (s) => s.srmLagSeconds);
  // native memory (indexes, models, training) lives in the C heap, outside V8's figures
  for (const [name, help, key] of [
    ['lmrec_native_heap_in_use_bytes', 'C heap bytes in use (glibc mallinfo2; -1 where unknown)', 'inUse'],
    ['lmrec_native_heap_held_bytes', 'C heap bytes held from the OS: in use plus freed but kept (-1 where unknown)', 'held'],
  ] as const) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(native.heapStats()[key]);
      },
    });
  }
  return {
    registry,
    observe(route, method, status, seconds) {
      requests.inc({ route, method, status: String(status) });
      latency.observe({ route }, seconds);
    },
  };
}
