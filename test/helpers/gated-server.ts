import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { silentLogger } from '../../src/log.js';
import { shutdownGate } from '../../src/server/shutdown.js';

/** A handler that answers only once the whole body is in: a request that never sends it stalls. */
export function stallUntilBody(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
  req.resume();
  req.on('end', () => res.end('ok'));
}

/** `server` behind a shutdown gate whose exit is counted, listening on 127.0.0.1, closed at teardown. */
export async function gatedServer(t: Test, server: HttpServer | Http2SecureServer) {
  let exited = 0;
  const gate = shutdownGate(server, { logger: silentLogger, exit: () => void exited++ });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  return { gate, port: (server.address() as AddressInfo).port, exits: () => exited };
}
