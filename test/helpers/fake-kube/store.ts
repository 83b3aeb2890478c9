import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { type FakeObject, type FakeRequest, type KedaPlural, type Resource, send, status } from './wire.js';

interface Watcher {
  res: http.ServerResponse;
  resource: Resource;
  namespace: string | undefined;
  name: string | undefined;
}

/** Whether a watch (of a resource, maybe one namespace, maybe one name) hears about `object`. */
function watches(w: Pick<Watcher, 'resource' | 'namespace' | 'name'>, resource: Resource, object: FakeObject): boolean {
  if (w.resource !== resource) return false;
  if (w.namespace && w.namespace !== object.metadata.namespace) return false;
  return !w.name || w.name === object.metadata.name;
}

/**
 * The fake's state: every stored object under one resourceVersion counter, the open watch
 * streams that hear each change, the history a watch resumes from, and paged lists with
 * `continue` tokens. The HTTP side (fake-kube.ts) and the routes (routes.ts) work on it.
 */
export class FakeStore {
  private rv = 1;
  /** Watches at a resourceVersion older than this get 410 Gone. */
  compactedBelow = 0;
  readonly objects = { scaledobjects: new Map<string, FakeObject>(), scaledjobs: new Map<string, FakeObject>() };
  readonly namespaces = new Map<string, FakeObject>();
  readonly leases = new Map<string, FakeObject>();
  readonly configMaps = new Map<string, FakeObject>();
  readonly nodes = new Map<string, FakeObject>();
  readonly events: FakeObject[] = [];
  private lists = new Map<string, string[]>();
  private watchers = new Set<Watcher>();
  /** Watchable events by resourceVersion: a watch from version N replays what came after N. */
  private history: Array<{ rv: number; resource: Resource; type: string; object: FakeObject }> = [];
  /** Per resource, the version of the last change broadcast (what a caught-up watch has seen). */
  private readonly latest = new Map<string, number>();
  /** Keep every event for watches that resume from an old version (off in the benchmark: memory). */
  keepHistory = true;
  readonly counts = { requests: 0, lists: 0, patches: 0, events: 0 };
  /** Watch requests served, per resource. */
  readonly watchCounts = { namespaces: 0, scaledobjects: 0, scaledjobs: 0, configmaps: 0 };

  /** The next resourceVersion, for a write. */
  nextRv(): string {
    return String(++this.rv);
  }

  addObject(plural: KedaPlural, obj: FakeObject): FakeObject {
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
  updateObject(plural: KedaPlural, namespace: string, name: string, edit: (o: FakeObject) => FakeObject): FakeObject {
    const key = `${namespace}/${name}`;
    const old = this.objects[plural].get(key);
    if (!old) throw new Error(`no ${plural} ${key}`);
    return this.storeObject(plural, key, edit(structuredClone(old)));
  }

  /** Store `next` under `key` at a new resourceVersion; open watches hear MODIFIED. */
  storeObject(plural: KedaPlural, key: string, next: FakeObject): FakeObject {
    next.metadata = { ...next.metadata, resourceVersion: this.nextRv() };
    this.objects[plural].set(key, next);
    this.broadcast(plural, 'MODIFIED', next);
    return next;
  }

  deleteObject(plural: KedaPlural, namespace: string, name: string): void {
    this.remove(this.objects[plural], plural, `${namespace}/${name}`);
  }

  getObject(plural: KedaPlural, namespace: string, name: string): FakeObject | undefined {
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
    this.remove(this.namespaces, 'namespaces', name);
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
    this.remove(this.configMaps, 'configmaps', `${namespace}/${name}`);
  }

  setNode(name: string, labels: Record<string, string>): void {
    this.nodes.set(name, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels, resourceVersion: this.nextRv() } });
  }

  /** A BOOKMARK on every open watch that asked for them: the current version, no object. */
  sendBookmark(): void {
    const rv = this.nextRv();
    for (const w of this.watchers) {
      const kind = w.resource === 'namespaces' ? 'Namespace' : w.resource === 'scaledobjects' ? 'ScaledObject' : 'ScaledJob';
      w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind, metadata: { resourceVersion: rv } } })}\n`);
    }
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

  /** The version of the last change to `resource` (0: none): a caught-up watch of it has seen this one. */
  latestChange(resource: string): number {
    return this.latest.get(resource) ?? 0;
  }

  /** Serve a watch of `resource` from the resourceVersion asked for, replaying later history. */
  serveWatch(fr: FakeRequest, res: http.ServerResponse, resource: Resource, namespace: string | undefined, name?: string): void {
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

  /** Answer a list in pages of `limit`, each later page read from the snapshot its `continue` token names. */
  list(res: http.ServerResponse, fr: FakeRequest, keys: () => string[], get: (k: string) => FakeObject | undefined, kind: string): void {
    this.counts.lists++;
    const limit = Number(fr.query.get('limit') ?? 0);
    const cont = fr.query.get('continue');
    let all: string[];
    let offset = 0;
    let id: string;
    if (cont) {
      const [listId, off] = cont.split(':');
      const snap = this.lists.get(listId ?? '');
      if (!snap) return send(res, 410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.'));
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
    send(res, 200, { kind, apiVersion: 'v1', metadata: { resourceVersion: String(this.rv), ...(more ? { continue: `${id}:${end}` } : {}) }, items });
  }

  private remove(map: Map<string, FakeObject>, resource: Resource, key: string): void {
    const old = map.get(key);
    if (!old) return;
    map.delete(key);
    this.broadcast(resource, 'DELETED', { ...old, metadata: { ...old.metadata, resourceVersion: this.nextRv() } });
  }

  private broadcast(resource: Resource, type: string, object: FakeObject): void {
    this.latest.set(resource, Number(object.metadata.resourceVersion));
    if (this.keepHistory) this.history.push({ rv: Number(object.metadata.resourceVersion), resource, type, object });
    let line: string | undefined;
    for (const w of this.watchers) {
      if (!watches(w, resource, object)) continue;
      w.res.write((line ??= `${JSON.stringify({ type, object })}\n`));
    }
  }
}
