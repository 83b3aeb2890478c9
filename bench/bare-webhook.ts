/**
 * The least a mutating webhook can do, as the floor under `serve` in the apiserver
 * benchmark: Node's own HTTPS server (no fastify, no logger, no metrics, no cluster watch)
 * with a certificate made the way `serve` makes its own, that parses each review and answers
 * with the JSONPatch the benchmark checks for (the cap, and the declared max remembered).
 *
 *   node .bench-build/bench/bare-webhook.js CERT_DIR CAP     prints {"port":N,"caFile":"..."}
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
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

async function main(dir: string, cap: number): Promise<void> {
  const certs = await ensureLocalCertificates(dir, { ipAddresses: ['127.0.0.1'] });
  const server = createServer({ cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile), minVersion: 'TLSv1.2' }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = answer(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review, cap);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port, caFile: certs.caFile })}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

const [dir, cap] = process.argv.slice(2);
if (!dir || !cap) throw new Error('usage: bare-webhook.js CERT_DIR CAP');
void main(dir, Number(cap));
