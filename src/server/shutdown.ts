import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2Session } from 'node:http2';
import type { Server as NetServer, Socket } from 'node:net';
import type { Logger } from '../log.js';

/**
 * After the drain, in-flight reviews get this long to finish before their connections are
 * cut. The API server gives a webhook call at most 30 s and ours declares 5 s, so 10 s covers
 * every answer still worth sending, and drain (15 s) + 10 s stays well below the Pod's
 * terminationGracePeriodSeconds (45 s): the kubelet never has to SIGKILL.
 */
export const SHUTDOWN_AFTER_DRAIN_MS = 10_000;

/** Time left between cutting the last connections and exiting without them. */
const EXIT_AFTER_DEADLINE_MS = 1_000;

export interface ShutdownGate {
  /**
   * Shutdown has started: from now on every answer, including those to reviews already in
   * flight, carries `Connection: close`, so each connection closes after its next answer and
   * the client opens the following one through the Service, to a replica that stays. Idle
   * connections are not cut here: the API server may be writing a review into one at this
   * very moment (the Pod is still an endpoint), and a POST is not retried. They close with the
   * listener, after the drain (Node's server.close()). HTTP/2 sessions are sent GOAWAY at once
   * instead: streams already received are answered, and the client knows which streams were
   * not, and sends those again on a new connection; a session opened later gets its GOAWAY
   * with its first request. `deadlineMs` from now every connection still open is cut, and
   * should the process still be alive a moment later, it exits.
   */
  begin(deadlineMs: number): void;
  /** Whether begin() was called. */
  readonly closing: boolean;
}

export interface ShutdownGateOptions {
  logger?: Logger | undefined;
  /** Called when the process outlives the deadline; exits with status 1 by default. */
  exit?: () => void;
}

/**
 * Without this, a keep-alive connection that carries a request when the listener closes is
 * kept open after its answer (idle connections are closed only once, at close time), and
 * holds the process for the keep-alive timeout: 95 s, beyond any grace period.
 */
export function shutdownGate(server: Server | NetServer, options: ShutdownGateOptions = {}): ShutdownGate {
  let closing = false;
  const inFlight = new Set<ServerResponse>();
  const sessions = openUntilClosed<Http2Session>(server, 'session');
  const closeAfter = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('Connection', 'close');
  };
  // Before the app's own listener, so the header is set before any answer can be written.
  server.prependListener('request', (req: IncomingMessage | Http2ServerRequest, res: ServerResponse) => {
    if (req.httpVersionMajor === 2) {
      if (closing) (req as Http2ServerRequest).stream.session?.close();
      return;
    }
    if (closing) return closeAfter(res);
    // a review whose headers came before the signal is answered after it: it closes too
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
  const cutAll = connectionCutter(server, sessions);
  const exit = options.exit ?? (() => process.exit(1));
  return {
    get closing() {
      return closing;
    },
    begin(deadlineMs: number) {
      if (closing) return;
      closing = true;
      inFlight.forEach(closeAfter);
      inFlight.clear();
      for (const session of sessions) session.close();
      const deadline = setTimeout(() => {
        options.logger?.warn({ deadlineMs }, 'shutdown deadline reached: closing the connections still open');
        cutAll();
        setTimeout(() => {
          options.logger?.error('still running after the shutdown deadline: exiting');
          options.logger?.flush?.();
          exit();
        }, EXIT_AFTER_DEADLINE_MS).unref();
      }, deadlineMs);
      // the deadline must never be what keeps a finished process alive
      deadline.unref();
    },
  };
}

/** What `server` emits as `event` (sessions, sockets), from then until each closes. */
export function openUntilClosed<T extends { once(event: 'close', listener: () => void): unknown }>(server: NetServer, event: string): Set<T> {
  const open = new Set<T>();
  server.on(event, (item: T) => {
    open.add(item);
    item.once('close', () => open.delete(item));
  });
  return open;
}

/**
 * An HTTP/1.1 server cuts its own connections; an HTTP/2 server has no such call, so its
 * sessions are destroyed and every socket it accepted (HTTP/1.1 ones included) with them.
 */
function connectionCutter(server: Server | NetServer, sessions: Set<Http2Session>): () => void {
  if ('closeAllConnections' in server && typeof server.closeAllConnections === 'function') return () => server.closeAllConnections();
  const sockets = openUntilClosed<Socket>(server, 'connection');
  return () => {
    for (const session of sessions) session.destroy();
    for (const socket of sockets) socket.destroy();
  };
}
