import { ANNOTATION } from '../core/names.js';
import type { KedaObject } from '../core/object.js';
import { slimStatus } from '../core/status.js';
import type { Logger } from '../log.js';
import { Informer, type ChangeHandler } from './informer.js';
import type { Clock, KubeApi } from '../ports.js';

export const KEDA_RESOURCES = [
  { kind: 'ScaledObject', plural: 'scaledobjects' },
  { kind: 'ScaledJob', plural: 'scaledjobs' },
] as const;

export type KedaKind = (typeof KEDA_RESOURCES)[number]['kind'];
export type KedaPlural = (typeof KEDA_RESOURCES)[number]['plural'];

/** The annotations the decision reads; the others (last-applied configuration and the like) are dropped. */
const READ_ANNOTATIONS = [ANNOTATION.environmentalImpact, ANNOTATION.policy, ANNOTATION.ecoMode, ANNOTATION.declared] as const;

/** What the cache keeps of one ScaledObject or ScaledJob: only what the decision reads. */
export interface CachedObject {
  /** `plural/namespace/name`: the controller's key, made once. */
  readonly key: string;
  readonly kind: KedaKind;
  readonly plural: KedaPlural;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string | undefined;
  /** Updated in place when an edit changes nothing else we keep (see `sameContent`). */
  resourceVersion: string | undefined;
  /** A KedaObject with just the fields the pure core reads, so it runs unchanged on it. */
  readonly object: KedaObject;
}

interface RawObject {
  metadata?: {
    name?: unknown;
    namespace?: unknown;
    uid?: unknown;
    resourceVersion?: unknown;
    deletionTimestamp?: unknown;
    annotations?: Record<string, unknown> | null;
  };
  spec?: { maxReplicaCount?: unknown; minReplicaCount?: unknown; environmentalImpact?: unknown } | null;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The slim copy of `raw`, or null for what has no name or is being deleted (nothing left to cap). */
export function slimObject(kind: KedaKind, plural: KedaPlural, raw: unknown): CachedObject | null {
  const m = (raw as RawObject | null)?.metadata;
  const name = str(m?.name);
  const namespace = str(m?.namespace);
  if (!m || !name || !namespace || m.deletionTimestamp) return null;
  const annotations: Record<string, string> = {};
  for (const k of READ_ANNOTATIONS) {
    const v = m.annotations?.[k];
    if (typeof v === 'string') annotations[k] = v;
  }
  const status = slimStatus(m.annotations?.[ANNOTATION.status]);
  if (status) annotations[ANNOTATION.status] = status;
  const s = (raw as RawObject).spec ?? {};
  const spec: NonNullable<KedaObject['spec']> = {};
  if (typeof s.maxReplicaCount === 'number') spec.maxReplicaCount = s.maxReplicaCount;
  if (typeof s.minReplicaCount === 'number') spec.minReplicaCount = s.minReplicaCount;
  if (s.environmentalImpact !== undefined && s.environmentalImpact !== null) spec.environmentalImpact = s.environmentalImpact;
  const uid = str(m.uid);
  const resourceVersion = str(m.resourceVersion);
  const metadata = { name, namespace, annotations, ...(uid ? { uid } : {}) };
  return { key: `${plural}/${namespace}/${name}`, kind, plural, namespace, name, uid, resourceVersion, object: { metadata, spec } };
}

function sameRecord(a: Record<string, unknown> | null | undefined, b: Record<string, unknown> | null | undefined): boolean {
  const ka = Object.keys(a ?? {});
  if (ka.length !== Object.keys(b ?? {}).length) return false;
  return ka.every((k) => {
    const x = a![k];
    const y = b![k];
    return x === y || (typeof x === 'object' && typeof y === 'object' && JSON.stringify(x) === JSON.stringify(y));
  });
}

/** The same decision inputs (an edit to a label or a trigger, or our own touch of an object that needed none). */
export function sameContent(a: CachedObject, b: CachedObject): boolean {
  return a.uid === b.uid && sameRecord(a.object.metadata?.annotations, b.object.metadata?.annotations) && sameRecord(a.object.spec, b.object.spec);
}

/** Keep the long-lived entry when nothing the decision reads changed; only its version moves. */
function mergeEntry(before: CachedObject, after: CachedObject): CachedObject {
  if (!sameContent(before, after)) return after;
  before.resourceVersion = after.resourceVersion;
  return before;
}

export interface ObjectCacheOptions {
  api: KubeApi;
  logger: Logger;
  clock?: Clock;
  /** Any add, edit or delete, keyed `plural/namespace/name`. */
  onChange: ChangeHandler<CachedObject>;
  /** A kind was listed again (start, resync, 410 Gone). */
  onSynced?: (plural: KedaPlural, reason: string) => void;
  pageSize?: number;
  watchTimeoutSeconds?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

/** ScaledObjects and ScaledJobs of every namespace, from one list-watch per kind. */
export class ObjectCache {
  readonly informers: ReadonlyMap<KedaPlural, Informer<CachedObject>>;

  constructor(o: ObjectCacheOptions) {
    const map = new Map<KedaPlural, Informer<CachedObject>>();
    for (const { kind, plural } of KEDA_RESOURCES) {
      map.set(
        plural,
        new Informer<CachedObject>({
          api: o.api,
          logger: o.logger,
          path: `/apis/keda.sh/v1alpha1/${plural}`,
          resource: plural,
          keep: (raw) => slimObject(kind, plural, raw),
          unchanged: (a, b) => a.resourceVersion !== undefined && a.resourceVersion === b.resourceVersion,
          merge: mergeEntry,
          notServed: `the API server does not serve keda.sh/v1alpha1 ${plural} (404): is KEDA installed? Its objects are not capped until it is`,
          onChange: (key, before, after) => o.onChange(`${plural}/${key}`, before, after),
          onSynced: (reason) => o.onSynced?.(plural, reason),
          ...(o.clock ? { clock: o.clock } : {}),
          ...(o.pageSize !== undefined ? { pageSize: o.pageSize } : {}),
          ...(o.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: o.watchTimeoutSeconds } : {}),
          ...(o.backoffInitialMs !== undefined ? { backoffInitialMs: o.backoffInitialMs } : {}),
          ...(o.backoffMaxMs !== undefined ? { backoffMaxMs: o.backoffMaxMs } : {}),
        }),
      );
    }
    this.informers = map;
  }

  start(): void {
    for (const i of this.informers.values()) i.start();
  }

  stop(): void {
    for (const i of this.informers.values()) i.stop();
  }

  resync(): void {
    for (const i of this.informers.values()) i.resync();
  }

  async whenSynced(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.whenSynced()));
  }

  get isSynced(): boolean {
    return [...this.informers.values()].every((i) => i.isSynced);
  }

  get size(): number {
    let n = 0;
    for (const i of this.informers.values()) n += i.size;
    return n;
  }

  /** By `plural/namespace/name`. */
  get(key: string): CachedObject | undefined {
    const slash = key.indexOf('/');
    return this.informers.get(key.slice(0, slash) as KedaPlural)?.get(key.slice(slash + 1));
  }

  *values(): IterableIterator<CachedObject> {
    for (const informer of this.informers.values()) yield* informer.values();
  }
}
