/**
 * The least a mutating webhook can do, as the floor under `serve` in the apiserver
 * benchmark: Node's own HTTPS server (no fastify, no logger, no metrics, no cluster watch)
 * with a certificate made the way `serve` makes its own, that parses each review and answers
 * with the JSONPatch the benchmark checks for (the cap, and the declared max remembered).
 *
 *   node .bench-build/bench/bare-webhook.js CERT_DIR CAP [h2]     prints {"port":N,"caFile":"..."}
 *
 * With `h2` it offers HTTP/2 through ALPN beside HTTP/1.1, as `serve --http2 true` does.
 */
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { ANNOTATION } from '../src/core/names.js';
import { ensureLocalCertificates } from '../src/tls/certs.js';

interface Review {
  request: { uid: string; object: { spec?: { maxReplicaCount?: number }; metadata?: { annotations?: Record<string, string> } } };
}

const pointerKey = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

function answer(review: Review, cap: number): string {
  const { uid, object } = review.request;
  const declared = String(object.spec?.maxReplicaCount ?? '');
  const patch = [
    { op: 'add', path: '/spec/maxReplicaCount', value: cap },
    object.metadata?.annotations
      ? { op: 'add', path: `/metadata/annotations/${pointerKey(ANNOTATION.declared)}`, value: declared }
      : { op: 'add', path: '/metadata/annotations', value: { [ANNOTATION.declared]: declared } },
  ];
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') },
  });
}

async function main(dir: string, cap: number, h2: boolean): Promise<void> {
  const certs = await ensureLocalCertificates(dir, { ipAddresses: ['127.0.0.1'] });
  const tls = { cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile), minVersion: 'TLSv1.2' as const };
  const handle = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = answer(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review, cap);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  };
  const server = h2 ? createSecureServer({ ...tls, allowHTTP1: true }, handle) : createServer(tls, handle);
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port, caFile: certs.caFile })}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

const [dir, cap, protocol] = process.argv.slice(2);
if (!dir || !cap) throw new Error('usage: bare-webhook.js CERT_DIR CAP [h2]');
void main(dir, Number(cap), protocol === 'h2');
