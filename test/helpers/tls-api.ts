import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCertificates, type CertificateSet } from '../../src/tls/certs.js';

export interface TlsApi {
  port: number;
  certs: CertificateSet;
  /** The Authorization header of every request, in order. */
  authorizations: Array<string | undefined>;
  /** TLS connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * An HTTPS server on 127.0.0.1 with a CA of its own, standing in for the API server: it
 * answers every request with an empty list and records the credentials it was shown.
 */
export async function startTlsApi(certs = generateCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })): Promise<TlsApi> {
  const authorizations: Array<string | undefined> = [];
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = https.createServer({ cert: certs.cert, key: certs.key }, (req, res) => {
    authorizations.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'List', items: [] }));
  });
  server.on('secureConnection', (s) => {
    accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    certs,
    authorizations,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A service-account directory as the kubelet mounts it: ca.crt, token and namespace. */
export async function serviceAccountFiles(
  t: { teardown(fn: () => unknown): void },
  files: { ca?: string; token?: string; namespace?: string },
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-sa-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  if (files.ca !== undefined) await writeFile(join(dir, 'ca.crt'), files.ca);
  if (files.token !== undefined) await writeFile(join(dir, 'token'), files.token);
  if (files.namespace !== undefined) await writeFile(join(dir, 'namespace'), files.namespace);
  return dir;
}
