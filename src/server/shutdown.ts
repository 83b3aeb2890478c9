import type { IncomingMessage, Server, ServerResponse } from 'node:http';
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
   * listener, after the drain (Node's server.close()). `deadlineMs` from now every connection
   * still open is cut, and should the process still be alive a moment later, it exits.
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
export function shutdownGate(server: Server, options: ShutdownGateOptions = {}): ShutdownGate {
  let closing = false;
  const inFlight = new Set<ServerResponse>();
  const closeAfter = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('Connection', 'close');
  };
  // Before the app's own listener, so the header is set before any answer can be written.
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (closing) return closeAfter(res);
    // a review whose headers came before the signal is answered after it: it closes too
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
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
      const deadline = setTimeout(() => {
        options.logger?.warn({ deadlineMs }, 'shutdown deadline reached: closing the connections still open');
        server.closeAllConnections();
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
