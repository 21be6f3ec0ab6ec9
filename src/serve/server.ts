/**
 * `lmrec serve`'s HTTP API (fastify): versioned routes whose JSON schemas validate requests,
 * serialise replies and make /openapi.json; an optional bearer token (compared in constant
 * time); body-size and rate limits; errors as `{ error: { code, message } }` with the status
 * their LmrecError code means; Prometheus metrics; /healthz from memory alone ('degraded',
 * still 200, while background SRM updates fail); and a close that answers every request a
 * client sent before it (in flight: answered; arriving: 503 CLOSED), resets no connection,
 * then applies pending events and closes the service.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import { Ajv, type AnySchema } from 'ajv';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifySchemaCompiler, type FastifyServerOptions } from 'fastify';
import { LmrecError, type LmrecErrorCode } from '../errors.js';
import { serverMetrics } from './metrics.js';
import * as schema from './schemas.js';
import type { IncomingEvent, RecommendationService } from './service.js';
import { STORE_LIMITS } from './store/store.js';

export interface ServerOptions {
  /** Requests must carry `Authorization: Bearer <token>` (health checks excepted). */
  token?: string | undefined;
  /** Largest request body in bytes. Default 1 MiB. */
  bodyLimit?: number | undefined;
  /** Requests per minute per client address; absent: no limit. */
  rateLimit?: number | undefined;
  /** fastify's logger (pino): false, true or pino options. Default false. */
  logger?: FastifyServerOptions['logger'];
}

const STATUS: Partial<Record<LmrecErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  INVALID_DATA: 400,
  INVALID_K: 400,
  NON_FINITE: 400,
  DIM_MISMATCH: 400,
  INPUT_TOO_LONG: 400,
  UNKNOWN_ID: 404,
  DUPLICATE_ID: 409,
  REQUEST_TOO_LARGE: 413,
  BUSY: 503,
  CLOSED: 503,
  IO_ERROR: 503, // the store is unreachable (a database restarting): worth a retry
};

/** fastify's own failures (bad JSON, too large, ...) by status, as lmrec codes. */
const HTTP_CODE: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  404: 'NOT_FOUND',
  408: 'REQUEST_TIMEOUT',
  413: 'REQUEST_TOO_LARGE',
  414: 'INPUT_TOO_LONG',
  415: 'UNSUPPORTED',
  429: 'RATE_LIMITED',
  431: 'REQUEST_TOO_LARGE',
  503: 'CLOSED',
};

const OPEN = new Set(['/healthz', '/readyz']);

/** Every error answer's body. */
const error = (code: string, message: string) => ({ error: { code, message } });

/**
 * Request validation against the route schemas. A JSON body is taken as sent: `"k": true` or
 * `"history": "i3"` are errors, not coerced to 1 and ["i3"] as fastify's default would. The
 * URL's parts are text, so the query string and path parameters are coerced to the schema's
 * types (`?k=5`, `?exclude_seen=false`). An unknown field is an error, not silently dropped
 * (a typo'd filter would widen the answer).
 */
function validatorCompiler(): FastifySchemaCompiler<AnySchema> {
  const options = { useDefaults: true, removeAdditional: false, allErrors: false } as const;
  const asSent = new Ajv({ ...options, coerceTypes: false });
  const fromText = new Ajv({ ...options, coerceTypes: 'array' });
  return ({ schema: s, httpPart }) => (httpPart === 'body' ? asSent : fromText).compile(s);
}

/** An error as the API answers it: an LmrecError with the status its code means, anything else by its HTTP status. */
function sendError(err: FastifyError | LmrecError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof LmrecError) {
    const status = STATUS[err.code] ?? 500;
    if (status === 500) req.log.error(err);
    return reply.code(status).send(error(err.code, err.message));
  }
  if (err.validation) {
    // a schema bound is the input limit it stands for: the code fit, the readers and the store give
    const keyword = err.validation[0]?.keyword;
    const code = keyword === 'maxLength' ? 'INPUT_TOO_LONG' : keyword === 'maxProperties' || keyword === 'maxItems' ? 'REQUEST_TOO_LARGE' : 'INVALID_ARGUMENT';
    return reply.code(STATUS[code]!).send(error(code, err.message));
  }
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
  if (status === 500) req.log.error(err);
  return reply.code(status).send(error(HTTP_CODE[status] ?? (status === 500 ? 'INTERNAL' : 'INVALID_ARGUMENT'), status === 500 ? 'internal error' : err.message));
}

/** The router's refusals, before any route: a URL that does not decode, a path part longer than any id. */
function frameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    reply.code(414).send(error('INPUT_TOO_LONG', `a path part is longer than ${STORE_LIMITS.idLength} characters, the longest id`));
    return;
  }
  sendError(err, req, reply);
}

/** What Node's HTTP parser refuses (not HTTP, headers too large, too slow), answered on the socket itself. */
function clientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message]: [number, string] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'the request did not arrive in time']
    : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'the request headers are too large']
    : [400, 'not a valid HTTP request'];
  const body = JSON.stringify(error(HTTP_CODE[status]!, message));
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

/** How long the listener must have had no new connection before a close stops it, and the longest a close waits for that. */
const DRAIN_QUIET_MS = 100;
const DRAIN_MAX_MS = 2_000;

/**
 * Resolves once no connection was accepted for DRAIN_QUIET_MS, or after DRAIN_MAX_MS. Checked
 * after the event loop's poll phase (setImmediate), where connections are accepted and read:
 * a loop held busy past the quiet time still accepts what waits before the check.
 */
async function drainAccepted(last: () => number): Promise<void> {
  const start = Date.now();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, DRAIN_QUIET_MS));
    await new Promise((resolve) => setImmediate(resolve));
    const now = Date.now();
    if (now - last() >= DRAIN_QUIET_MS || now - start >= DRAIN_MAX_MS) return;
  }
}

/**
 * The JSON API (v1) in front of a service, as a fastify instance: call `listen` on it. With a
 * logger, the service's background failures are logged there.
 * @param service The service the API answers from; closing the server (app.close()) closes it too.
 * @param o Bearer token, body limit, rate limit and logger.
 */
export async function createServer(service: RecommendationService, o: ServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: o.logger ?? false,
    bodyLimit: o.bodyLimit ?? 2 ** 20,
    // answered by the onRequest hook below instead, in the API's error shape
    return503OnClosing: false,
    // a path parameter is an id: as long as the store takes (the router's default is 100)
    routerOptions: { maxParamLength: STORE_LIMITS.idLength },
    frameworkErrors: frameworkError,
    clientErrorHandler: clientError,
  });
  app.setValidatorCompiler(validatorCompiler());
  // first of the hooks: a closing server takes no new work, not even a rate-limit count
  let closing = false;
  let lastConnection = 0;
  app.server.on('connection', () => (lastConnection = Date.now()));
  app.addHook('preClose', async () => {
    closing = true;
    // Connections a client opened before the close may still wait in the listen backlog, or be
    // accepted with their request not read yet: closing the listener resets the first, and
    // the server's close destroys the second as idle (ECONNRESET either way). So the listener
    // stays open until no connection has come for DRAIN_QUIET_MS (at most DRAIN_MAX_MS), each
    // request read meanwhile answered 503 CLOSED below; only then does fastify close it.
    if (app.server.listening) await drainAccepted(() => lastConnection);
  });
  app.addHook('onRequest', async (_req, reply) => {
    if (closing) return reply.code(503).header('connection', 'close').send(error('CLOSED', 'the server is shutting down'));
  });
  // A request in flight when the close began is answered on a keep-alive connection, which
  // then idles: nothing would end it before the keep-alive timeout (72 s), and the close waits
  // for every connection. Idle connections are ended as each answer goes out (one with a
  // request read but not answered yet is not idle: that request is answered first).
  app.addHook('onResponse', async () => {
    if (closing) setImmediate(() => app.server.closeIdleConnections());
  });
  const metrics = serverMetrics(service);
  // failures off the request path (a background SRM update, reading the log) go to this
  // server's log, unless the service was opened with its own onError
  if (o.logger) service.reportTo((e) => app.log.error({ err: e }, `lmrec: ${e instanceof Error ? e.message : String(e)}`));

  await app.register(swagger, {
    openapi: {
      info: { title: 'lmrec', description: 'Language-model-powered recommendations', version: 'v1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      ...(o.token ? { security: [{ bearer: [] }] } : {}),
    },
  });
  if (o.rateLimit !== undefined) {
    await app.register(rateLimit, {
      max: o.rateLimit,
      timeWindow: 60_000,
      allowList: (req) => OPEN.has(req.url),
      errorResponseBuilder: (_req, ctx) => Object.assign(new Error(`more than ${ctx.max} requests a minute; retry in ${ctx.after}`), { statusCode: 429 }),
    });
  }

  if (o.token) {
    const want = createHash('sha256').update(o.token).digest();
    // preParsing: after the rate limiter (so failed guesses count against it), before the body is read
    app.addHook('preParsing', async (req, reply, payload) => {
      if (OPEN.has(req.url)) return payload;
      const header = req.headers.authorization ?? '';
      const given = createHash('sha256').update(/^bearer /i.test(header) ? header.slice(7) : '').digest();
      // equal-length digests: the comparison takes the same time whatever the token
      if (timingSafeEqual(given, want)) return payload;
      return reply.code(401).header('www-authenticate', 'Bearer').send(error('UNAUTHORIZED', 'a valid bearer token is required'));
    });
  }
  app.addHook('onResponse', async (req, reply) => {
    metrics.observe(req.routeOptions.url ?? 'unmatched', req.method, reply.statusCode, reply.elapsedTime / 1000);
  });

  app.setErrorHandler(sendError);
  app.setNotFoundHandler((req, reply) => reply.code(404).send(error('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));

  type Rec = { k: number; exclude_seen: boolean; category?: string };
  const recReply = (r: Awaited<ReturnType<RecommendationService['recommendForUser']>>) => ({ items: r.items.map((x) => ({ id: x.id, score: x.score })), fallback: r.fallback, ignored: r.ignored });

  app.get<{ Params: { id: string }; Querystring: Rec }>('/v1/users/:id/recommendations', { schema: schema.userRecommendations }, async (req) =>
    recReply(await service.recommendForUser(req.params.id, { k: req.query.k, excludeSeen: req.query.exclude_seen, category: req.query.category })),
  );
  app.post<{ Body: Rec & { history: string[] } }>('/v1/recommend', { schema: schema.anonymousRecommendations }, async (req) =>
    recReply(await service.recommendForHistory(req.body.history, { k: req.body.k, excludeSeen: req.body.exclude_seen, category: req.body.category })),
  );
  app.get<{ Params: { id: string }; Querystring: { k: number; category?: string } }>('/v1/items/:id/similar', { schema: schema.similarItems }, async (req) => ({
    items: service.similar(req.params.id, { k: req.query.k, category: req.query.category }),
  }));
  app.get<{ Params: { id: string } }>('/v1/items/:id', { schema: schema.getItem }, async (req) => {
    const item = service.item(req.params.id);
    if (!item) throw new LmrecError(`item '${req.params.id}' is not in the catalog`, 'UNKNOWN_ID');
    return item;
  });
  app.put<{ Params: { id: string }; Body: { fields: Record<string, string> } }>('/v1/items/:id', { schema: schema.putItem }, async (req, reply) => {
    const status = await service.putItem({ id: req.params.id, fields: req.body.fields });
    return reply.code(status === 'created' ? 201 : 200).send({ id: req.params.id, status });
  });
  app.delete<{ Params: { id: string } }>('/v1/items/:id', { schema: schema.deleteItem }, async (req, reply) => {
    if (!(await service.deleteItem(req.params.id))) throw new LmrecError(`item '${req.params.id}' is not in the catalog`, 'UNKNOWN_ID');
    return reply.code(204).send();
  });
  app.post<{ Body: { events: IncomingEvent[] } }>('/v1/events', { schema: schema.postEvents }, async (req) => service.ingest(req.body.events));
  app.post<{ Body: { history: string[]; n: number } }>('/v1/candidates', { schema: schema.postCandidates }, async (req) => ({
    candidates: service.candidates(req.body.history, req.body.n),
  }));

  // at once, whatever the store is doing: it reads only memory
  app.get('/healthz', { schema: schema.liveness }, async () => service.health());
  app.get('/readyz', { schema: schema.health }, async (_req, reply) =>
    service.ready ? { status: 'ready' } : reply.code(503).send(error('NOT_READY', 'the event log is still being applied')),
  );
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // after the listener stops and the requests in flight are answered
  app.addHook('onClose', async () => service.close());
  await app.ready();
  return app;
}
