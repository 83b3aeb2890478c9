import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeClientFromConfig } from '../../src/carbon/kube.js';
import type { KubeClient } from '../../src/carbon/kube-client.js';
import { route } from './fake-kube/routes.js';
import { FakeStore } from './fake-kube/store.js';
import { TrackedApi } from './fake-kube/tracked-api.js';
import { type Admit, type Fault, type FakeRequest, send, status } from './fake-kube/wire.js';

export type { TrackedApi } from './fake-kube/tracked-api.js';
export type { Admit, Fault, FakeObject, FakeRequest } from './fake-kube/wire.js';

/**
 * A small local HTTP server that answers like the Kubernetes API for exactly the calls
 * we make (KEDA list/watch/patch, namespaces list/get/watch, Leases, Events, and for the
 * carbon layer ConfigMap get/watch and Node get),
 * with faults on demand: 429 with Retry-After, 410 on a stale `continue`, 5xx, 409.
 * The tests use it for what a real API server will not do when asked; the sweep
 * benchmark uses it so its figures measure our code and not etcd. Loopback only.
 *
 * This file is the HTTP side (recording, auth, faults, latency); the state and watch
 * streams are in fake-kube/store.ts, the paths it answers in fake-kube/routes.ts.
 */

/** The bearer token kubeClientFor presents; a fake with `token` set refuses any other. */
export const FAKE_TOKEN = 'kube-test-token';

export class FakeKube extends FakeStore {
  url = '';
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Every request, in order (bodies parsed). */
  readonly requests: FakeRequest[] = [];
  /** When set, a request without `Authorization: Bearer <token>` is answered 401. */
  token: string | undefined;
  faults: Fault[] = [];
  admit: Admit | undefined;
  /** Answer delay per request in ms (0: at once). */
  latencyMs = 0;
  /** Store only the counts of requests (not the bodies), for the 10,000-object benchmark. */
  recordBodies = true;

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const fr = this.record(req, Buffer.concat(chunks).toString('utf8'));
        const answer = () => this.handle(fr, res);
        if (this.latencyMs > 0) setTimeout(answer, this.latencyMs);
        else answer();
      });
    });
    this.server.keepAliveTimeout = 60_000;
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** A client of this fake that knows when its requests are answered and the watched changes delivered. */
  trackedApi(): TrackedApi {
    return new TrackedApi(this.url, (resource) => this.latestChange(resource));
  }

  async close(): Promise<void> {
    this.dropWatches();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private record(req: http.IncomingMessage, text: string): FakeRequest {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let body: unknown;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    const fr: FakeRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body, authorization: req.headers.authorization };
    this.counts.requests++;
    if (this.recordBodies) this.requests.push(fr);
    return fr;
  }

  private handle(fr: FakeRequest, res: http.ServerResponse): void {
    if (this.token !== undefined && fr.authorization !== `Bearer ${this.token}`) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    for (const fault of this.faults) {
      const f = fault(fr);
      if (f) return send(res, f.status, f.body ?? status(f.status, 'Fault', `injected ${f.status}`), f.headers);
    }
    route(this, this.admit, fr, res);
  }
}

/** A carbon-layer client for a fake, built the way serve builds it: from a kubeconfig with a token. */
export function kubeClientFor(url: string): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: url, skipTLSVerify: true }],
    users: [{ name: 'test', token: FAKE_TOKEN }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  return kubeClientFromConfig(kc);
}
