import type { CarbonSnapshot } from '../core/carbon.js';
import type { RuntimeConfig } from '../config/config.js';
import type { CapSubject } from '../core/moments.js';
import { ecoModeOffByAnnotation, minReplicas, readStatus, specMax, type KedaObject } from '../core/object.js';
import { planObject } from '../core/plan.js';
import type { Logger } from '../log.js';
import { ANNOTATION } from '../core/names.js';
import { resolvePolicy } from '../core/resolve.js';
import type { Policy } from '../core/policy.js';
import type { EventRecorder } from './events.js';
import { type PoliteClient } from './polite.js';
import { type NamespacePolicyLookup, type CarbonReader, AbortedError, type Clock } from '../ports.js';

export const KEDA_RESOURCES = [
  { kind: 'ScaledObject', plural: 'scaledobjects' },
  { kind: 'ScaledJob', plural: 'scaledjobs' },
] as const;

type Kind = (typeof KEDA_RESOURCES)[number]['kind'];

export interface SweepDeps {
  client: PoliteClient;
  config(): RuntimeConfig;
  carbon: CarbonReader;
  namespaces: NamespacePolicyLookup;
  events: EventRecorder;
  clock: Clock;
  logger: Logger;
  /** `limit` of each list call (default 500). */
  pageSize?: number;
  /**
   * Only objects in namespaces this accepts are decided and touched (the timer's namespace
   * selector); every object when absent. Skipped objects are not counted as seen.
   */
  inScope?: (namespace: string) => boolean | Promise<boolean>;
  /** How often a list may start over after 410 Gone before the sweep gives up on that kind (default 3). */
  maxRestarts?: number;
}

export interface SweepOptions {
  /** Only this namespace (after its policy label changed); all namespaces when absent. */
  namespace?: string;
  signal?: AbortSignal;
  reason: string;
}

export interface SweepStats {
  seen: number;
  /** Objects whose cap differed from the decision and that we touched. */
  touched: number;
  /** Touched objects whose stored cap changed (the webhook applied the decision). */
  changed: number;
  /** Touched objects whose stored cap did not change: the webhook did not run or decided otherwise. */
  unapplied: number;
  failed: number;
  invalid: number;
  pages: number;
  /** List restarts after 410 Gone. */
  restarts: number;
  requests: number;
  durationMs: number;
  /** False when a list failed or the sweep was stopped: not every object was looked at. */
  complete: boolean;
}

export interface SweepResult {
  stats: SweepStats;
  /** What the caps depend on, per namespace, for `nextCapChange` (deduplicated). */
  subjects: Map<string, CapSubject[]>;
}

const MERGE_PATCH = 'application/merge-patch+json';

class SubjectSet {
  private readonly byNamespace = new Map<string, Map<Policy, Map<string, CapSubject>>>();

  add(namespace: string, s: CapSubject): void {
    let perNs = this.byNamespace.get(namespace);
    if (!perNs) this.byNamespace.set(namespace, (perNs = new Map()));
    let perPolicy = perNs.get(s.policy);
    if (!perPolicy) perNs.set(s.policy, (perPolicy = new Map()));
    const key = `${s.declared}/${s.minReplicas}/${s.ecoModeOffAnnotation ? 1 : 0}/${s.cap}`;
    if (!perPolicy.has(key)) perPolicy.set(key, s);
  }

  result(): Map<string, CapSubject[]> {
    const out = new Map<string, CapSubject[]>();
    for (const [ns, perNs] of this.byNamespace) out.set(ns, [...perNs.values()].flatMap((m) => [...m.values()]));
    return out;
  }
}

/** The list path of one page. */
export function listPath(plural: string, namespace: string | undefined, limit: number, cont: string): string {
  const scope = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `/apis/keda.sh/v1alpha1${scope}/${plural}?limit=${limit}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
}

function why(status: ReturnType<typeof readStatus>, fallback: string): string {
  if (!status) return fallback;
  const parts: string[] = [];
  if (status.intensity !== null) parts.push(`${Math.round(status.intensity)} gCO2eq/kWh`);
  parts.push(status.rule ? `rule ${status.rule}` : status.ecoMode === 'off' ? 'eco mode off' : 'no band applies');
  return parts.join(', ');
}

/**
 * One pass over every ScaledObject and ScaledJob (or one namespace's): decide each with
 * the same pure code admission runs, and touch `keda-carbon.io/touched-at` on those whose
 * stored cap differs, so the API server sends them through the webhook again. Objects are
 * decided page by page, so memory stays flat however many there are.
 */
export async function runSweep(deps: SweepDeps, options: SweepOptions): Promise<SweepResult> {
  const { client, clock, logger, events } = deps;
  const pageSize = deps.pageSize ?? 500;
  const maxRestarts = deps.maxRestarts ?? 3;
  const signal = options.signal;
  const started = clock.now();
  const requestsBefore = client.counts.requests;
  const stats: SweepStats = { seen: 0, touched: 0, changed: 0, unapplied: 0, failed: 0, invalid: 0, pages: 0, restarts: 0, requests: 0, durationMs: 0, complete: true };
  const subjects = new SubjectSet();
  const invalidUids = new Set<string>();
  const touchedUids = new Set<string>();
  const config = deps.config();
  const carbon: CarbonSnapshot = deps.carbon.snapshot();

  async function touch(kind: Kind, plural: string, object: KedaObject, to: number, fallbackWhy: string): Promise<void> {
    const meta = object.metadata!;
    const from = specMax(object);
    const path = `/apis/keda.sh/v1alpha1/namespaces/${encodeURIComponent(String(meta.namespace))}/${plural}/${encodeURIComponent(String(meta.name))}?fieldManager=keda-carbon`;
    const body = { metadata: { annotations: { [ANNOTATION.touchedAt]: new Date(clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z') } } };
    try {
      const res = await client.call('PATCH', path, { body, contentType: MERGE_PATCH, ...(signal ? { signal } : {}) });
      if (res.status === 404) return; // deleted since the list: nothing left to cap
      if (res.status !== 200) {
        stats.failed++;
        const message = (res.body as { message?: string } | null)?.message;
        logger.warn({ kind, namespace: meta.namespace, name: meta.name, status: res.status, message }, 'touch failed; the next sweep tries again');
        return;
      }
      const stored = res.body as KedaObject;
      const now = specMax(stored);
      if (now === from) {
        stats.unapplied++;
        logger.warn({ kind, namespace: meta.namespace, name: meta.name, cap: from, expected: to }, 'touched, but the stored cap did not change: is the webhook registered and reachable from the API server?');
        return;
      }
      stats.changed++;
      await events.capChanged({ kind, object: stored }, from ?? 100, now ?? 100, why(readStatus(stored), fallbackWhy), signal);
    } catch (err) {
      if (err instanceof AbortedError) throw err;
      stats.failed++;
      logger.warn({ kind, namespace: meta.namespace, name: meta.name, err: (err as Error).message }, 'touch failed; the next sweep tries again');
    }
  }

  async function decideOne(kind: Kind, plural: string, object: KedaObject, tasks: Promise<void>[]): Promise<void> {
    const meta = object.metadata;
    if (!meta?.name || !meta.namespace || meta.deletionTimestamp) return;
    if (deps.inScope) {
      try {
        if (!(await deps.inScope(meta.namespace))) return;
      } catch (err) {
        stats.failed++;
        logger.warn({ namespace: meta.namespace, err: (err as Error).message }, 'could not read the namespace labels; objects there are skipped this sweep');
        return;
      }
    }
    stats.seen++;
    const uid = typeof meta.uid === 'string' ? meta.uid : `${meta.namespace}/${meta.name}/${kind}`;
    let nsPolicy: string | null;
    try {
      const p = deps.namespaces.policyFor(meta.namespace);
      nsPolicy = typeof p === 'string' || p === null ? p : await p;
    } catch (err) {
      // Without the namespace's label we cannot tell its cap; leave it to the next sweep.
      stats.failed++;
      logger.warn({ namespace: meta.namespace, err: (err as Error).message }, 'could not read the namespace policy label; objects there are skipped this sweep');
      return;
    }
    const resolution = resolvePolicy(object, config, nsPolicy);
    if (resolution.kind === 'invalid') {
      stats.invalid++;
      invalidUids.add(uid);
      tasks.push(events.invalidPolicy({ kind, object }, resolution.message, signal));
      return;
    }
    events.forgetInvalid(uid);
    const plan = planObject({ object, oldObject: object, resolution, carbon, now: clock.now(), invalidPolicy: config.invalidPolicy });
    if (plan.kind !== 'apply') {
      if (plan.kind === 'deny') stats.invalid++;
      return;
    }
    if (resolution.kind === 'policy' && plan.decision) {
      const d = plan.decision;
      subjects.add(meta.namespace, { policy: resolution.policy, declared: d.declared, minReplicas: minReplicas(object), ecoModeOffAnnotation: ecoModeOffByAnnotation(object), cap: d.cap });
    }
    if (plan.maxReplicaCount === specMax(object) || touchedUids.has(uid)) return;
    touchedUids.add(uid);
    stats.touched++;
    tasks.push(touch(kind, plural, object, plan.maxReplicaCount, plan.reason));
  }

  async function sweepKind(kind: Kind, plural: string): Promise<void> {
    let cont = '';
    let restarts = 0;
    for (;;) {
      const path = listPath(plural, options.namespace, pageSize, cont);
      const res = await client.call('GET', path, signal ? { signal } : {});
      if (res.status === 410 && cont) {
        // The continue token outlived etcd's compaction: only a fresh list is consistent.
        // Objects already touched are remembered, so none is touched twice.
        if (++restarts > maxRestarts) throw new Error(`listing ${plural} expired (410 Gone) ${restarts} times in a row`);
        stats.restarts++;
        logger.info({ kind, restarts }, 'list continue token expired (410 Gone); starting the list over');
        cont = '';
        continue;
      }
      if (res.status === 404 && !options.namespace) {
        throw new Error(`the API server does not serve keda.sh/v1alpha1 ${plural} (404): is KEDA installed?`);
      }
      if (res.status !== 200) {
        const message = (res.body as { message?: string } | null)?.message ?? '';
        throw new Error(`listing ${plural} answered ${res.status}${message ? `: ${message}` : ''}`);
      }
      stats.pages++;
      const body = res.body as { items?: KedaObject[]; metadata?: { continue?: string } };
      const items = Array.isArray(body.items) ? body.items : [];
      const tasks: Promise<void>[] = [];
      for (const object of items) {
        await decideOne(kind, plural, object, tasks);
      }
      await Promise.all(tasks);
      if (signal?.aborted) throw new AbortedError();
      cont = body.metadata?.continue ?? '';
      if (!cont) return;
    }
  }

  let aborted = false;
  for (const { kind, plural } of KEDA_RESOURCES) {
    try {
      await sweepKind(kind, plural);
    } catch (err) {
      stats.complete = false;
      if (err instanceof AbortedError) {
        aborted = true;
        break;
      }
      logger.error({ kind, err: (err as Error).message }, 'sweep could not list objects; it continues with the next kind');
    }
  }
  if (!options.namespace && stats.complete) events.retainInvalid(invalidUids);
  stats.durationMs = clock.now() - started;
  stats.requests = client.counts.requests - requestsBefore;
  if (aborted) logger.info({ reason: options.reason, ...stats }, 'sweep stopped before it finished');
  return { stats, subjects: subjects.result() };
}
