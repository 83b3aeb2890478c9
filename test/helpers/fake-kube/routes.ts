import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { FakeStore } from './store.js';
import { type Admit, type FakeObject, type FakeRequest, type KedaPlural, isWatch, mergePatch, notAllowed, notFound, send, status } from './wire.js';

/** The API paths the fake answers, one handler each; anything else is 404 with the route named. */

const KEDA = /^\/apis\/keda\.sh\/v1alpha1(?:\/namespaces\/([^/]+))?\/(scaledobjects|scaledjobs)(?:\/([^/]+))?$/;
const NAMESPACES = /^\/api\/v1\/namespaces(?:\/([^/]+))?$/;
const LEASES = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/;
const EVENTS = /^\/api\/v1\/namespaces\/([^/]+)\/events$/;
const CONFIGMAPS = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps(?:\/([^/]+))?$/;
const NODES = /^\/api\/v1\/nodes\/([^/]+)$/;

const dec = (s: string | undefined): string | undefined => (s ? decodeURIComponent(s) : undefined);

export function route(store: FakeStore, admit: Admit | undefined, fr: FakeRequest, res: http.ServerResponse): void {
  let m: RegExpExecArray | null;
  if ((m = KEDA.exec(fr.path))) return keda(store, admit, fr, res, dec(m[1]), m[2] as KedaPlural, dec(m[3]));
  if ((m = NAMESPACES.exec(fr.path))) return namespace(store, fr, res, m[1]);
  if ((m = CONFIGMAPS.exec(fr.path))) return configMap(store, fr, res, dec(m[1])!, dec(m[2]));
  if ((m = NODES.exec(fr.path))) {
    const node = store.nodes.get(dec(m[1])!);
    return node ? send(res, 200, node) : notFound(res, 'nodes', m[1]);
  }
  if ((m = LEASES.exec(fr.path))) return lease(store, fr, res, dec(m[1])!, dec(m[2]));
  if (EVENTS.exec(fr.path) && fr.method === 'POST') {
    store.counts.events++;
    const ev = { ...(fr.body as FakeObject) };
    ev.metadata = { ...ev.metadata, resourceVersion: store.nextRv() };
    store.events.push(ev);
    return send(res, 201, ev);
  }
  send(res, 404, status(404, 'NotFound', `the fake has no route for ${fr.method} ${fr.path}`));
}

function keda(
  store: FakeStore,
  admit: Admit | undefined,
  fr: FakeRequest,
  res: http.ServerResponse,
  ns: string | undefined,
  plural: KedaPlural,
  name: string | undefined,
): void {
  const objects = store.objects[plural];
  if (!name && fr.method === 'GET' && isWatch(fr)) return store.serveWatch(fr, res, plural, ns);
  if (!name && fr.method === 'GET') {
    const prefix = ns ? `${ns}/` : '';
    return store.list(
      res,
      fr,
      () => [...objects.keys()].filter((k) => k.startsWith(prefix)),
      (k) => objects.get(k),
      plural === 'scaledobjects' ? 'ScaledObjectList' : 'ScaledJobList',
    );
  }
  if (!name || !ns) return notAllowed(res);
  const key = `${ns}/${name}`;
  const old = objects.get(key);
  if (!old) return notFound(res, plural, name);
  if (fr.method === 'GET') return send(res, 200, old);
  if (fr.method !== 'PATCH') return notAllowed(res);
  store.counts.patches++;
  const merged = mergePatch(old, fr.body) as FakeObject;
  void Promise.resolve(admit ? admit(plural, merged, old) : merged).then(
    (next) => send(res, 200, store.storeObject(plural, key, next)),
    (err: Error) => send(res, 500, status(500, 'InternalError', `admission failed: ${err.message}`)),
  );
}

function namespace(store: FakeStore, fr: FakeRequest, res: http.ServerResponse, name: string | undefined): void {
  if (name) {
    const ns = store.namespaces.get(decodeURIComponent(name));
    return ns ? send(res, 200, ns) : notFound(res, 'namespaces', name);
  }
  if (isWatch(fr)) return store.serveWatch(fr, res, 'namespaces', undefined);
  store.list(
    res,
    fr,
    () => [...store.namespaces.keys()],
    (k) => store.namespaces.get(k),
    'NamespaceList',
  );
}

function configMap(store: FakeStore, fr: FakeRequest, res: http.ServerResponse, ns: string, name: string | undefined): void {
  if (!name && isWatch(fr)) {
    const byName = /^metadata\.name=(.+)$/.exec(fr.query.get('fieldSelector') ?? '')?.[1];
    return store.serveWatch(fr, res, 'configmaps', ns, byName);
  }
  if (!name || fr.method !== 'GET') return notAllowed(res);
  const cm = store.configMaps.get(`${ns}/${name}`);
  return cm ? send(res, 200, cm) : notFound(res, 'configmaps', name);
}

const CONFLICT =
  'Operation cannot be fulfilled on leases.coordination.k8s.io: the object has been modified; please apply your changes to the latest version and try again';

function lease(store: FakeStore, fr: FakeRequest, res: http.ServerResponse, ns: string, name: string | undefined): void {
  if (!store.namespaces.has(ns)) return notFound(res, 'namespaces', ns);
  if (fr.method === 'POST' && !name) {
    const lease = fr.body as FakeObject;
    const key = `${ns}/${lease.metadata.name}`;
    if (store.leases.has(key)) return send(res, 409, status(409, 'AlreadyExists', `leases "${lease.metadata.name}" already exists`));
    const stored = { ...lease, metadata: { ...lease.metadata, namespace: ns, uid: randomUUID(), resourceVersion: store.nextRv() } };
    store.leases.set(key, stored);
    return send(res, 201, stored);
  }
  const key = `${ns}/${name}`;
  const current = store.leases.get(key);
  if (!current) return notFound(res, 'leases', name);
  if (fr.method === 'GET') return send(res, 200, current);
  if (fr.method !== 'PUT') return notAllowed(res);
  const next = fr.body as FakeObject;
  if (next.metadata.resourceVersion !== current.metadata.resourceVersion) return send(res, 409, status(409, 'Conflict', CONFLICT));
  const stored = { ...next, metadata: { ...next.metadata, resourceVersion: store.nextRv() } };
  store.leases.set(key, stored);
  send(res, 200, stored);
}
