import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeClientFromConfig } from '../../src/carbon/kube.js';
import type { KubeClient } from '../../src/carbon/kube-client.js';

/**
 * A small local HTTP server that answers like the Kubernetes API for exactly the calls
 * we make (KEDA list/watch/patch, namespaces list/get/watch, Leases, Events, and for the
 * carbon layer ConfigMap get/watch and Node get),
 * with faults on demand: 429 with Retry-After, 410 on a stale `continue`, 5xx, 409.
 * The tests use it for what a real API server will not do when asked; the sweep
 * benchmark uses it so its figures measure our code and not etcd. Loopback only.
 */

export interface FakeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    [k: string]: unknown;
  };
  spec?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  /** The Authorization header the request carried. */
  authorization?: string | undefined;
}

/** A fault answers a request instead of the fake's normal logic; return undefined to pass. */
export type Fault = (req: FakeRequest) => { status: number; body?: unknown; headers?: Record<string, string> } | undefined;

/** Runs on every stored KEDA write, like a mutating webhook: return the object to store. */
export type Admit = (plural: string, object: FakeObject, old: FakeObject | undefined) => FakeObject | Promise<FakeObject>;

const KEDA = /^\/apis\/keda\.sh\/v1alpha1(?:\/namespaces\/([^/]+))?\/(scaledobjects|scaledjobs)(?:\/([^/]+))?$/;
const NAMESPACES = /^\/api\/v1\/namespaces(?:\/([^/]+))?$/;
const LEASES = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/;
const EVENTS = /^\/api\/v1\/namespaces\/([^/]+)\/events$/;
const CONFIGMAPS = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps(?:\/([^/]+))?$/;
const NODES = /^\/api\/v1\/nodes\/([^/]+)$/;

type Resource = 'namespaces' | 'scaledobjects' | 'scaledjobs' | 'configmaps';

/** The bearer token kubeClientFor presents; a fake with `token` set refuses any other. */
export const FAKE_TOKEN = 'kube-test-token';

const isWatch = (fr: FakeRequest): boolean => fr.query.get('watch') === '1' || fr.query.get('watch') === 'true';

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code };
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Whether a watch (of a resource, maybe one namespace, maybe one name) hears about `object`. */
function watches(w: { resource: Resource; namespace: string | undefined; name?: string | undefined }, resource: Resource, object: FakeObject): boolean {
  if (w.resource !== resource) return false;
  if (w.namespace && w.namespace !== object.metadata.namespace) return false;
  return !w.name || w.name === object.metadata.name;
}

export class FakeKube {
  url = '';
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private rv = 1;
  /** Watches at a resourceVersion older than this get 410 Gone. */
  compactedBelow = 0;
  /** Every request, in order (bodies parsed). */
  readonly requests: FakeRequest[] = [];
  readonly objects = { scaledobjects: new Map<string, FakeObject>(), scaledjobs: new Map<string, FakeObject>() };
  readonly namespaces = new Map<string, FakeObject>();
  readonly leases = new Map<string, FakeObject>();
  readonly configMaps = new Map<string, FakeObject>();
  readonly nodes = new Map<string, FakeObject>();
  /** When set, a request without `Authorization: Bearer <token>` is answered 401. */
  token: string | undefined;
  readonly events: FakeObject[] = [];
  faults: Fault[] = [];
  admit: Admit | undefined;
  /** Answer delay per request in ms (0: at once). */
  latencyMs = 0;
  private lists = new Map<string, string[]>();
  private watchers = new Set<{ res: http.ServerResponse; resource: Resource; namespace: string | undefined; name: string | undefined }>();
  /** Watchable events by resourceVersion: a watch from version N replays what came after N. */
  private history: Array<{ rv: number; resource: Resource; type: string; object: FakeObject }> = [];
  /** Store only the counts of requests (not the bodies), for the 10,000-object benchmark. */
  recordBodies = true;
  /** Keep every event for watches that resume from an old version (off in the benchmark: memory). */
  keepHistory = true;
  readonly counts = { requests: 0, lists: 0, patches: 0, events: 0 };

  private nextRv(): string {
    return String(++this.rv);
  }

  addObject(plural: 'scaledobjects' | 'scaledjobs', obj: FakeObject): FakeObject {
    const stored: FakeObject = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: plural === 'scaledobjects' ? 'ScaledObject' : 'ScaledJob',
      ...obj,
      metadata: { uid: randomUUID(), ...obj.metadata, resourceVersion: this.nextRv() },
    };
    const key = `${stored.metadata.namespace}/${stored.metadata.name}`;
    const type = this.objects[plural].has(key) ? 'MODIFIED' : 'ADDED';
    this.objects[plural].set(key, stored);
    this.broadcast(plural, type, stored);
    return stored;
  }

  /** Edit a stored object as a user would (no admission runs); open watches hear about it. */
  updateObject(plural: 'scaledobjects' | 'scaledjobs', namespace: string, name: string, edit: (o: FakeObject) => FakeObject): FakeObject {
    const key = `${namespace}/${name}`;
    const old = this.objects[plural].get(key);
    if (!old) throw new Error(`no ${plural} ${key}`);
    const next = edit(structuredClone(old));
    next.metadata = { ...next.metadata, resourceVersion: this.nextRv() };
    this.objects[plural].set(key, next);
    this.broadcast(plural, 'MODIFIED', next);
    return next;
  }

  deleteObject(plural: 'scaledobjects' | 'scaledjobs', namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const old = this.objects[plural].get(key);
    if (!old) return;
    this.objects[plural].delete(key);
    this.broadcast(plural, 'DELETED', { ...old, metadata: { ...old.metadata, resourceVersion: this.nextRv() } });
  }

  /** A BOOKMARK on every open watch that asked for them: the current version, no object. */
  sendBookmark(): void {
    const rv = this.nextRv();
    for (const w of this.watchers) {
      const kind = w.resource === 'namespaces' ? 'Namespace' : w.resource === 'scaledobjects' ? 'ScaledObject' : 'ScaledJob';
      w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind, metadata: { resourceVersion: rv } } })}\n`);
    }
  }

  getObject(plural: 'scaledobjects' | 'scaledjobs', namespace: string, name: string): FakeObject | undefined {
    return this.objects[plural].get(`${namespace}/${name}`);
  }

  /** Create or relabel a namespace; open watches hear about it. */
  setNamespace(name: string, labels: Record<string, string> = {}): void {
    const type = this.namespaces.has(name) ? 'MODIFIED' : 'ADDED';
    const ns: FakeObject = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, uid: this.namespaces.get(name)?.metadata.uid ?? randomUUID(), labels, resourceVersion: this.nextRv() },
    };
    this.namespaces.set(name, ns);
    this.broadcast('namespaces', type, ns);
  }

  deleteNamespace(name: string): void {
    const ns = this.namespaces.get(name);
    if (!ns) return;
    this.namespaces.delete(name);
    this.broadcast('namespaces', 'DELETED', { ...ns, metadata: { ...ns.metadata, resourceVersion: this.nextRv() } });
  }

  /** Create or replace a ConfigMap; open watches hear ADDED or MODIFIED. */
  putConfigMap(cm: FakeObject): FakeObject {
    const key = `${cm.metadata.namespace}/${cm.metadata.name}`;
    const type = this.configMaps.has(key) ? 'MODIFIED' : 'ADDED';
    const stored = { apiVersion: 'v1', kind: 'ConfigMap', ...cm, metadata: { ...cm.metadata, resourceVersion: this.nextRv() } };
    this.configMaps.set(key, stored);
    this.broadcast('configmaps', type, stored);
    return stored;
  }

  deleteConfigMap(namespace: string, name: string): void {
    const old = this.configMaps.get(`${namespace}/${name}`);
    if (!old) return;
    this.configMaps.delete(`${namespace}/${name}`);
    this.broadcast('configmaps', 'DELETED', { ...old, metadata: { ...old.metadata, resourceVersion: this.nextRv() } });
  }

  setNode(name: string, labels: Record<string, string>): void {
    this.nodes.set(name, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels, resourceVersion: this.nextRv() } });
  }

  /** Make every outstanding `continue` token stale (the next use answers 410), as etcd compaction does. */
  expireContinueTokens(): void {
    this.lists.clear();
  }

  /** Close every open watch, as an API server restart would. */
  dropWatches(): void {
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
  }

  /** Send a watch event that says the watched version was compacted away. */
  sendWatchGone(): void {
    for (const w of this.watchers) w.res.end(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', 'too old resource version') })}\n`);
    this.watchers.clear();
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  get currentResourceVersion(): number {
    return this.rv;
  }

  /** Watch requests served, per resource. */
  readonly watchCounts = { namespaces: 0, scaledobjects: 0, scaledjobs: 0, configmaps: 0 };

  private broadcast(resource: Resource, type: string, object: FakeObject): void {
    if (this.keepHistory) this.history.push({ rv: Number(object.metadata.resourceVersion), resource, type, object });
    let line: string | undefined;
    for (const w of this.watchers) {
      if (!watches(w, resource, object)) continue;
      w.res.write((line ??= `${JSON.stringify({ type, object })}\n`));
    }
  }

  /** Serve a watch of `resource` from the resourceVersion asked for, replaying later history. */
  private serveWatch(fr: FakeRequest, res: http.ServerResponse, resource: Resource, namespace: string | undefined, name?: string): void {
    this.watchCounts[resource]++;
    const from = Number(fr.query.get('resourceVersion') ?? 0);
    res.writeHead(200, { 'content-type': 'application/json' });
    if (from < this.compactedBelow) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from}`) })}\n`);
      return;
    }
    const w = { res, resource, namespace, name };
    this.watchers.add(w);
    for (const e of this.history) {
      if (e.rv > from && watches(w, e.resource, e.object)) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
    }
    res.on('close', () => this.watchers.delete(w));
    res.flushHeaders();
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        const text = Buffer.concat(chunks).toString('utf8');
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
        const answer = () => this.handle(fr, req, res);
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

  async close(): Promise<void> {
    this.dropWatches();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private send(res: http.ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
    res.end(text);
  }

  private handle(fr: FakeRequest, req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.token !== undefined && fr.authorization !== `Bearer ${this.token}`) return this.send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    for (const fault of this.faults) {
      const f = fault(fr);
      if (f) return this.send(res, f.status, f.body ?? status(f.status, 'Fault', `injected ${f.status}`), f.headers);
    }
    let m: RegExpExecArray | null;
    if ((m = KEDA.exec(fr.path))) return this.keda(fr, res, m[1], m[2] as 'scaledobjects' | 'scaledjobs', m[3]);
    if ((m = NAMESPACES.exec(fr.path))) return this.namespace(fr, req, res, m[1]);
    if ((m = CONFIGMAPS.exec(fr.path))) return this.configMap(fr, res, decodeURIComponent(m[1]!), m[2] && decodeURIComponent(m[2]));
    if ((m = NODES.exec(fr.path))) {
      const node = this.nodes.get(decodeURIComponent(m[1]!));
      return node ? this.send(res, 200, node) : this.send(res, 404, status(404, 'NotFound', `nodes "${m[1]}" not found`));
    }
    if ((m = LEASES.exec(fr.path))) return this.lease(fr, res, decodeURIComponent(m[1]!), m[2] && decodeURIComponent(m[2]));
    if ((m = EVENTS.exec(fr.path)) && fr.method === 'POST') {
      this.counts.events++;
      const ev = { ...(fr.body as FakeObject) };
      ev.metadata = { ...ev.metadata, resourceVersion: this.nextRv() };
      this.events.push(ev);
      return this.send(res, 201, ev);
    }
    this.send(res, 404, status(404, 'NotFound', `the fake has no route for ${fr.method} ${fr.path}`));
  }

  private list(res: http.ServerResponse, fr: FakeRequest, keys: () => string[], get: (k: string) => FakeObject | undefined, kind: string): void {
    this.counts.lists++;
    const limit = Number(fr.query.get('limit') ?? 0);
    const cont = fr.query.get('continue');
    let all: string[];
    let offset = 0;
    let id: string;
    if (cont) {
      const [listId, off] = cont.split(':');
      const snap = this.lists.get(listId ?? '');
      if (!snap) return this.send(res, 410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.'));
      all = snap;
      id = listId!;
      offset = Number(off);
    } else {
      all = keys().sort();
      id = randomUUID();
    }
    const end = limit > 0 ? Math.min(all.length, offset + limit) : all.length;
    const items = all
      .slice(offset, end)
      .map(get)
      .filter((o): o is FakeObject => o !== undefined);
    const more = end < all.length;
    if (more) this.lists.set(id, all);
    else this.lists.delete(id);
    this.send(res, 200, { kind, apiVersion: 'v1', metadata: { resourceVersion: String(this.rv), ...(more ? { continue: `${id}:${end}` } : {}) }, items });
  }

  private keda(fr: FakeRequest, res: http.ServerResponse, ns: string | undefined, plural: 'scaledobjects' | 'scaledjobs', name: string | undefined): void {
    const store = this.objects[plural];
    const kind = plural === 'scaledobjects' ? 'ScaledObjectList' : 'ScaledJobList';
    if (!name && fr.method === 'GET' && isWatch(fr)) return this.serveWatch(fr, res, plural, ns && decodeURIComponent(ns));
    if (!name && fr.method === 'GET') {
      const prefix = ns ? `${decodeURIComponent(ns)}/` : '';
      return this.list(
        res,
        fr,
        () => [...store.keys()].filter((k) => k.startsWith(prefix)),
        (k) => store.get(k),
        kind,
      );
    }
    if (!name || !ns) return this.send(res, 405, status(405, 'MethodNotAllowed', 'not supported by the fake'));
    const key = `${decodeURIComponent(ns)}/${decodeURIComponent(name)}`;
    const old = store.get(key);
    if (!old) return this.send(res, 404, status(404, 'NotFound', `${plural} "${decodeURIComponent(name)}" not found`));
    if (fr.method === 'GET') return this.send(res, 200, old);
    if (fr.method === 'PATCH') {
      this.counts.patches++;
      const merged = mergePatch(old, fr.body) as FakeObject;
      void Promise.resolve(this.admit ? this.admit(plural, merged, old) : merged).then(
        (next) => {
          next.metadata = { ...next.metadata, resourceVersion: this.nextRv() };
          store.set(key, next);
          this.broadcast(plural, 'MODIFIED', next);
          this.send(res, 200, next);
        },
        (err: Error) => this.send(res, 500, status(500, 'InternalError', `admission failed: ${err.message}`)),
      );
      return;
    }
    this.send(res, 405, status(405, 'MethodNotAllowed', 'not supported by the fake'));
  }

  private namespace(fr: FakeRequest, req: http.IncomingMessage, res: http.ServerResponse, name: string | undefined): void {
    if (name) {
      const ns = this.namespaces.get(decodeURIComponent(name));
      return ns ? this.send(res, 200, ns) : this.send(res, 404, status(404, 'NotFound', `namespaces "${name}" not found`));
    }
    if (isWatch(fr)) return this.serveWatch(fr, res, 'namespaces', undefined);
    this.list(
      res,
      fr,
      () => [...this.namespaces.keys()],
      (k) => this.namespaces.get(k),
      'NamespaceList',
    );
  }

  private configMap(fr: FakeRequest, res: http.ServerResponse, ns: string, name: string | undefined): void {
    if (!name && isWatch(fr)) {
      const byName = /^metadata\.name=(.+)$/.exec(fr.query.get('fieldSelector') ?? '')?.[1];
      return this.serveWatch(fr, res, 'configmaps', ns, byName);
    }
    const cm = name && fr.method === 'GET' ? this.configMaps.get(`${ns}/${name}`) : undefined;
    if (cm) return this.send(res, 200, cm);
    if (name && fr.method === 'GET') return this.send(res, 404, status(404, 'NotFound', `configmaps "${name}" not found`));
    this.send(res, 405, status(405, 'MethodNotAllowed', 'not supported by the fake'));
  }

  private lease(fr: FakeRequest, res: http.ServerResponse, ns: string, name: string | undefined): void {
    if (!this.namespaces.has(ns)) return this.send(res, 404, status(404, 'NotFound', `namespaces "${ns}" not found`));
    if (fr.method === 'POST' && !name) {
      const lease = fr.body as FakeObject;
      const key = `${ns}/${lease.metadata.name}`;
      if (this.leases.has(key)) return this.send(res, 409, status(409, 'AlreadyExists', `leases "${lease.metadata.name}" already exists`));
      const stored = { ...lease, metadata: { ...lease.metadata, namespace: ns, uid: randomUUID(), resourceVersion: this.nextRv() } };
      this.leases.set(key, stored);
      return this.send(res, 201, stored);
    }
    const key = `${ns}/${name}`;
    const lease = this.leases.get(key);
    if (!lease) return this.send(res, 404, status(404, 'NotFound', `leases "${name}" not found`));
    if (fr.method === 'GET') return this.send(res, 200, lease);
    if (fr.method === 'PUT') {
      const next = fr.body as FakeObject;
      if (next.metadata.resourceVersion !== lease.metadata.resourceVersion) {
        return this.send(
          res,
          409,
          status(
            409,
            'Conflict',
            'Operation cannot be fulfilled on leases.coordination.k8s.io: the object has been modified; please apply your changes to the latest version and try again',
          ),
        );
      }
      const stored = { ...next, metadata: { ...next.metadata, resourceVersion: this.nextRv() } };
      this.leases.set(key, stored);
      return this.send(res, 200, stored);
    }
    this.send(res, 405, status(405, 'MethodNotAllowed', 'not supported by the fake'));
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
