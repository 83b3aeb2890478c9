import type { Http2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { handleAdmission, type AdmissionDeps, type AdmissionOutcome } from '../admission/handler.js';
import { BadReviewError, statusBody } from '../admission/review.js';
import { clip } from '../core/brief.js';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';
import { parseJsonBodies } from './body.js';
import { outcomeLog, REASON_LOG_LENGTH } from './outcome-log.js';
import { openUntilClosed } from './shutdown.js';

/**
 * AdmissionReviews carry the object and, on UPDATE, the old object. Kubernetes stores
 * objects up to ~1.5 MiB (etcd's request limit) and accepts request bodies up to 3 MiB,
 * so a review can approach twice that plus the envelope; 7 MiB admits every real review
 * and still stops a runaway body before it is buffered and parsed.
 */
export const ADMISSION_BODY_LIMIT = 7 * 1024 * 1024;

/**
 * The API server keeps idle connections to webhooks open for 90 s and reuses them; a
 * keep-alive timeout above that avoids a fresh TLS handshake for every request that comes
 * more than Node's default 5 s after the previous one.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 95_000;

/**
 * Whether `serve` offers HTTP/2 (ALPN `h2`, HTTP/1.1 still accepted) when not told. The
 * caller's CPU per review decides it (docs/adr/0013-http2-offered-by-alpn.md).
 */
export const HTTP2_BY_DEFAULT = false;

/**
 * The HTTP/2 session limits (docs/adr/0013-http2-offered-by-alpn.md). The API server runs a
 * handful of reviews at once on a connection; these bound what one connection can make the
 * process hold, and Node's own guards (nghttp2's RST_STREAM rate limit, rejected and invalid
 * frame counts) stay at their defaults.
 */
export const HTTP2_LIMITS = {
  /** RFC 9113 advises no fewer than 100; a client that wants more opens another connection. */
  maxConcurrentStreams: 100,
  /** Headers of a review are a few hundred bytes; Node's HTTP/1.1 limit is 16 KiB too. */
  maxHeaderListSize: 16 * 1024,
  /** MB of nghttp2 state (unacknowledged data, header tables) per session: Node's default, stated. */
  maxSessionMemory: 10,
} as const;

export interface Readiness {
  /** False while shutting down: the pod leaves the Service before connections close. */
  serving: boolean;
  /** False until a serving certificate is in use (self-managed certificates not loaded yet); absent means true. */
  certificate?: boolean;
  /** Whether fresh carbon data is present. Reported, never a reason to refuse admission. */
  carbon: { fresh: boolean; source: string; fetchedAt: string | null };
}

export interface AppOptions {
  admission: AdmissionDeps;
  readiness(): Readiness;
  metrics?: Metrics | undefined;
  logger?: Logger | undefined;
  /** PEM pair for HTTPS; tests that use `inject()` leave it out. */
  https?: { cert: string; key: string } | undefined;
  /** With `https`: offer HTTP/2 through ALPN beside HTTP/1.1 (HTTP2_BY_DEFAULT when absent). */
  http2?: boolean | undefined;
}

/**
 * `request.log` is the app's logger itself, not a child per request: making the child (and
 * redacting its bindings) cost more than the admission decision. The few lines that need
 * the request id carry it as a field.
 */
const requestLogger: NonNullable<FastifyServerOptions['childLoggerFactory']> = (logger) => logger;

function serverOptions(options: AppOptions): FastifyServerOptions {
  const o: FastifyServerOptions & { https?: unknown } = {
    bodyLimit: ADMISSION_BODY_LIMIT,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // Per-request access logs would cost more than the admission decision itself; we log
    // what matters (cap changes, denials, errors) from the handler instead.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ...(options.logger ? { loggerInstance: options.logger, childLoggerFactory: requestLogger } : { logger: false }),
  };
  if (!options.https) return o as FastifyServerOptions;
  const tls = { cert: options.https.cert, key: options.https.key, minVersion: 'TLSv1.2' };
  if (!offersHttp2(options)) return { ...o, https: tls } as FastifyServerOptions;
  const { maxConcurrentStreams, maxHeaderListSize, maxSessionMemory } = HTTP2_LIMITS;
  // A session idle this long is closed with GOAWAY, as an idle HTTP/1.1 connection is.
  return {
    ...o,
    http2: true,
    http2SessionTimeout: KEEP_ALIVE_TIMEOUT_MS,
    https: { ...tls, allowHTTP1: true, maxSessionMemory, settings: { maxConcurrentStreams, maxHeaderListSize } },
  } as FastifyServerOptions;
}

const offersHttp2 = (options: AppOptions): boolean => options.https !== undefined && (options.http2 ?? HTTP2_BY_DEFAULT);

/**
 * Errors fastify raises before our handler (bad JSON, wrong content type, body too large)
 * and unknown routes are answered with a Kubernetes Status, which the API server can decode.
 */
function answerErrorsAsStatus(app: FastifyInstance, metrics: Metrics | undefined): void {
  app.setErrorHandler((error: { statusCode?: number; message: string }, request, reply) => {
    const code = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    // A review refused before the handler (not JSON, too large, wrong type) is still a call.
    if (request.routeOptions.url === '/mutate') metrics?.admissionRejected.inc({ code: codeLabel(code) });
    if (code >= 500) request.log.error({ reqId: request.id, err: error }, 'request failed');
    else request.log.warn({ reqId: request.id, code, reason: clip(error.message, REASON_LOG_LENGTH) }, 'bad request');
    // fastify asks to close the connection after a body it could not read; HTTP/2 has no such
    // header (the stream ends alone) and Node would drop it with a warning on stderr.
    if (request.raw.httpVersionMajor === 2) reply.removeHeader('connection');
    void reply.code(code).send(statusBody(code, `keda-carbon: ${error.message}`));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(statusBody(404, `keda-carbon: no route ${request.method} ${request.url.split('?')[0]}; admission reviews go to POST /mutate`));
  });
}

const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);
const REJECTION_CODES = new Set([400, 413, 415, 500]);

/** Metric labels never copy a request's text: each has a fixed set of values. */
const operationLabel = (operation: string): string => (OPERATIONS.has(operation) ? operation : 'other');
const codeLabel = (code: number): string => (REJECTION_CODES.has(code) ? String(code) : 'other');

function record(metrics: Metrics, outcome: AdmissionOutcome, started: bigint): void {
  metrics.admissionRequests.inc({ operation: operationLabel(outcome.operation), kind: outcome.kind, result: outcome.result });
  metrics.admissionDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
  if (outcome.capChange && outcome.result === 'patched') {
    metrics.capChanges.inc({ kind: outcome.kind, direction: outcome.capChange.to < outcome.capChange.from ? 'down' : 'up' });
  }
}

/**
 * Node before 24 leaves HTTP/2 sessions open when the listener closes, and an idle one would
 * hold close() until it times out: each gets GOAWAY as idle HTTP/1.1 connections are closed
 * (its streams still in flight are answered first).
 */
function goAwayOnClose(app: FastifyInstance): void {
  const sessions = openUntilClosed<Http2Session>(app.server, 'session');
  app.addHook('preClose', (done) => {
    for (const session of sessions) session.close();
    done();
  });
}

/** No ALPN (a client that offers none) is HTTP/1.1 too. */
const protocolLabel = (alpn: string | false | null | undefined): string => (alpn === 'h2' ? 'h2' : 'http/1.1');

/** Once per connection, so the hot path pays nothing: which protocol each caller chose. */
function countConnections(app: FastifyInstance, metrics: Metrics): void {
  app.server.on('secureConnection', (socket: TLSSocket) => metrics.webhookConnections.inc({ protocol: protocolLabel(socket.alpnProtocol) }));
}

/** The API server appends ?timeout=Ns; fastify routes on the path alone. */
function mutateRoute(app: FastifyInstance, options: AppOptions): void {
  const { metrics } = options;
  const log = outcomeLog(options.logger);
  app.post('/mutate', async (request, reply) => {
    const started = process.hrtime.bigint();
    metrics?.admissionProtocol.inc({ protocol: request.raw.httpVersionMajor === 2 ? 'h2' : 'http/1.1' });
    try {
      const outcome = await handleAdmission(request.body, options.admission);
      if (metrics) record(metrics, outcome, started);
      if (log) log(request.id, request.body, outcome);
      return outcome.review;
    } catch (err) {
      if (err instanceof BadReviewError) {
        metrics?.admissionRejected.inc({ code: '400' });
        request.log.warn({ reqId: request.id, reason: clip(err.message, REASON_LOG_LENGTH) }, 'not an AdmissionReview');
        return reply.code(400).send(statusBody(400, `keda-carbon: ${err.message}`));
      }
      throw err;
    }
  });
}

/** The webhook's HTTP app. It never listens: the entry point (`serve`) does that. */
export function buildApp(options: AppOptions): FastifyInstance {
  const app = fastify(serverOptions(options)) as unknown as FastifyInstance;
  // fastify sets the keep-alive timeout on HTTP/1.1 servers only; the HTTP/2 server's
  // HTTP/1.1 connections read the same property.
  if (offersHttp2(options)) {
    app.server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    goAwayOnClose(app);
  }
  if (options.metrics && options.https) countConnections(app, options.metrics);
  answerErrorsAsStatus(app, options.metrics);
  parseJsonBodies(app);
  mutateRoute(app, options);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const state = options.readiness();
    const status = !state.serving ? 'shutting down' : state.certificate === false ? 'no serving certificate yet' : 'ready';
    return reply.code(status === 'ready' ? 200 : 503).send({ status, carbon: state.carbon });
  });
  return app;
}

/** The plain-HTTP app on the metrics port: Prometheus scrapes it without TLS. */
export function buildMetricsApp(metrics: Metrics, beforeScrape?: () => void): FastifyInstance {
  const app = fastify({ logger: false }) as unknown as FastifyInstance;
  app.get('/metrics', async (_request, reply) => {
    beforeScrape?.();
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return app;
}
