/**
 * JSON schemas of every request and reply of the HTTP API (v1): fastify validates requests
 * with them, serialises replies with them, and @fastify/swagger builds /openapi.json from them.
 */
import { STORE_LIMITS } from './store/store.js';

const id = { type: 'string', minLength: 1, maxLength: STORE_LIMITS.idLength } as const;
const k = { type: 'integer', minimum: 1, maximum: 1000, default: 10, description: 'how many items' } as const;
const category = { type: 'string', minLength: 1, maxLength: 1024, description: "only items whose 'category' field is this" } as const;
const history = { type: 'array', items: id, maxItems: 1000, description: 'item ids, oldest first' } as const;

const scored = { type: 'object', properties: { id: { type: 'string' }, score: { type: 'number' } }, required: ['id', 'score'] } as const;

export const errorReply = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const;

const errors = { 400: errorReply, 401: errorReply, 404: errorReply, 413: errorReply, 429: errorReply, 503: errorReply } as const;

export const recommendations = {
  type: 'object',
  properties: {
    items: { type: 'array', items: scored },
    fallback: { type: ['string', 'null'], description: "'popularity' when the history is unknown or empty" },
    ignored: { type: 'integer', description: 'history items not in the catalog (skipped)' },
  },
  required: ['items', 'fallback', 'ignored'],
} as const;

export const userRecommendations = {
  summary: "A user's recommendations from their stored history (an unknown user gets popular items)",
  params: { type: 'object', properties: { id }, required: ['id'] },
  querystring: {
    type: 'object',
    properties: { k, exclude_seen: { type: 'boolean', default: true, description: 'leave out items the user has seen' }, category },
    additionalProperties: false,
  },
  response: { 200: recommendations, ...errors },
} as const;

export const anonymousRecommendations = {
  summary: 'Recommendations for an anonymous history',
  body: {
    type: 'object',
    properties: { history, k, exclude_seen: { type: 'boolean', default: true }, category },
    required: ['history'],
    additionalProperties: false,
  },
  response: { 200: recommendations, ...errors },
} as const;

export const similarItems = {
  summary: 'Items most like an item',
  params: { type: 'object', properties: { id }, required: ['id'] },
  querystring: { type: 'object', properties: { k, category }, additionalProperties: false },
  response: { 200: { type: 'object', properties: { items: { type: 'array', items: scored } }, required: ['items'] }, ...errors },
} as const;

const fields = {
  type: 'object',
  additionalProperties: { type: 'string', maxLength: STORE_LIMITS.fieldChars },
  maxProperties: STORE_LIMITS.fields,
  description: "the item's text fields, e.g. title, category",
} as const;

export const getItem = {
  summary: 'An item',
  params: { type: 'object', properties: { id }, required: ['id'] },
  response: { 200: { type: 'object', properties: { id: { type: 'string' }, fields }, required: ['id', 'fields'] }, ...errors },
} as const;

export const putItem = {
  summary: 'Adds an item (encoded, compressed and indexed at once) or replaces its fields',
  params: { type: 'object', properties: { id }, required: ['id'] },
  body: { type: 'object', properties: { fields }, required: ['fields'], additionalProperties: false },
  response: {
    200: { type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' } }, required: ['id', 'status'] },
    201: { type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' } }, required: ['id', 'status'] },
    ...errors,
  },
} as const;

export const deleteItem = {
  summary: 'Removes an item from the catalog and from every answer',
  params: { type: 'object', properties: { id }, required: ['id'] },
  response: { 204: { type: 'null' }, ...errors },
} as const;

export const postEvents = {
  summary: 'Stores a batch of events; histories change before the reply, the SRM learns in the background',
  body: {
    type: 'object',
    properties: {
      events: {
        type: 'array',
        maxItems: STORE_LIMITS.batch,
        items: {
          type: 'object',
          properties: { user: id, item: id, ts: { type: 'number', description: 'time (default: arrival, ms since 1970)' } },
          required: ['user', 'item'],
          additionalProperties: false,
        },
      },
    },
    required: ['events'],
    additionalProperties: false,
  },
  response: {
    200: {
      type: 'object',
      properties: {
        stored: { type: 'integer' },
        unknownItems: { type: 'integer', description: "stored, but skipped by the histories: the item is not in the catalog" },
        seq: { type: 'integer', description: "the log position of the batch's last event" },
      },
      required: ['stored', 'unknownItems', 'seq'],
    },
    ...errors,
  },
} as const;

export const postCandidates = {
  summary: "The cloud's candidates for a device (LSC4Rec): the n best items for a history, with ranks and scores",
  body: {
    type: 'object',
    properties: { history: { ...history, minItems: 1 }, n: { type: 'integer', minimum: 1, maximum: 1000, default: 50 } },
    required: ['history'],
    additionalProperties: false,
  },
  response: {
    200: {
      type: 'object',
      properties: {
        candidates: {
          type: 'array',
          items: { type: 'object', properties: { id: { type: 'string' }, rank: { type: 'integer' }, score: { type: 'number' } }, required: ['id', 'rank', 'score'] },
        },
      },
      required: ['candidates'],
    },
    ...errors,
  },
} as const;

export const liveness = {
  summary:
    "Liveness: answered at once, reading no store. 'degraded' (still 200: the replica serves, from the last good model, so a load balancer keeps sending it reads) while background SRM updates fail, with the failure",
  response: {
    200: {
      type: 'object',
      properties: {
        status: { type: 'string', enum: ['ok', 'degraded'] },
        error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] },
      },
      required: ['status'],
    },
  },
} as const;

export const health = {
  summary: 'Readiness (readyz: the model is loaded and the event log applied)',
  response: { 200: { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] }, 503: errorReply },
} as const;
