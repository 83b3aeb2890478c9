import { randomBytes } from 'node:crypto';
import type { KedaObject } from '../core/object.js';
import type { Logger } from '../log.js';
import type { PoliteClient } from './polite.js';
import { AbortedError } from '../ports.js';

export interface ObjectRef {
  kind: 'ScaledObject' | 'ScaledJob';
  object: KedaObject;
}

/**
 * Core v1 Events on the user's objects (the RBAC grants `create` on core `events`; the
 * core API also reaches every API server version this runs against). An Event is a
 * courtesy: a failure to record one is logged and never fails the sweep.
 */
export class EventRecorder {
  /** uid -> the invalid-policy message already reported, so a sweep does not repeat it. */
  private readonly reportedInvalid = new Map<string, string>();
  /** Events created, for the sweep's report and the tests. */
  readonly counts = { normal: 0, warning: 0, failed: 0 };
  /**
   * Event names are `object.<random per recorder><sequence>`: unique within this process by
   * the sequence and across restarts and replicas by the random part, without asking the
   * system for random bytes per Event (a visible cost when a band change writes thousands).
   */
  private readonly namePrefix = randomBytes(4).toString('hex');
  private sequence = 0;

  constructor(
    private readonly client: PoliteClient,
    private readonly logger: Logger,
    private readonly identity: string,
    private readonly now: () => number = Date.now,
  ) {}

  capChanged(ref: ObjectRef, from: number, to: number, why: string, signal?: AbortSignal): Promise<void> {
    return this.emit(ref, 'Normal', 'CarbonCapChanged', `maxReplicaCount ${from} -> ${to} (${why})`, signal);
  }

  /** A Warning the first time an object's policy is invalid, and again only when the message changes. */
  async invalidPolicy(ref: ObjectRef, message: string, signal?: AbortSignal): Promise<void> {
    const uid = ref.object.metadata?.uid;
    if (typeof uid === 'string' && this.reportedInvalid.get(uid) === message) return;
    if (typeof uid === 'string') this.reportedInvalid.set(uid, message);
    await this.emit(ref, 'Warning', 'CarbonPolicyInvalid', `${message}; maxReplicaCount left as it is`, signal);
  }

  /** After a full sweep: forget objects that are valid again or gone, so a relapse is reported. */
  retainInvalid(stillInvalid: ReadonlySet<string>): void {
    for (const uid of this.reportedInvalid.keys()) if (!stillInvalid.has(uid)) this.reportedInvalid.delete(uid);
  }

  /** The object is valid now: a later relapse should be reported again. */
  forgetInvalid(uid: string | undefined): void {
    if (uid) this.reportedInvalid.delete(uid);
  }

  private async emit(ref: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string, signal?: AbortSignal): Promise<void> {
    const meta = ref.object.metadata ?? {};
    const name = String(meta.name ?? '');
    const namespace = String(meta.namespace ?? '');
    if (!name || !namespace) return;
    const time = new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${name}.${this.namePrefix}${(this.sequence++ % 2 ** 32).toString(16).padStart(8, '0')}`, namespace },
      involvedObject: {
        apiVersion: 'keda.sh/v1alpha1',
        kind: ref.kind,
        name,
        namespace,
        ...(typeof meta.uid === 'string' ? { uid: meta.uid } : {}),
        ...(typeof meta.resourceVersion === 'string' ? { resourceVersion: meta.resourceVersion } : {}),
      },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: 'keda-carbon' },
      reportingComponent: 'keda-carbon',
      reportingInstance: this.identity,
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
    };
    try {
      const res = await this.client.call('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, {
        body: event,
        retryConflict: false,
        ...(signal ? { signal } : {}),
      });
      if (res.status === 201 || res.status === 200) {
        if (type === 'Normal') this.counts.normal++;
        else this.counts.warning++;
        return;
      }
      this.counts.failed++;
      this.logger.warn({ namespace, objectName: name, reason, status: res.status }, 'could not record an Event on the object');
    } catch (err) {
      if (err instanceof AbortedError) return;
      this.counts.failed++;
      this.logger.warn({ namespace, objectName: name, reason, err: (err as Error).message }, 'could not record an Event on the object');
    }
  }
}
