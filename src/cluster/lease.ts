import type { Logger } from '../log.js';
import { ApiError, type KubeApi, systemClock, type Clock } from '../ports.js';

/** The re-touch controller's Lease unless KEDA_CARBON_LEASE_NAME names another. */
export const DEFAULT_LEASE_NAME = 'keda-carbon-retouch';

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string; [k: string]: unknown };
  spec?: LeaseSpec;
}

export interface LeaderElectorOptions {
  api: KubeApi;
  namespace: string;
  name: string;
  identity: string;
  logger: Logger;
  clock?: Clock;
  /** How long a holder's claim lasts without renewal (default 15 s). */
  leaseDurationMs?: number;
  /** A leader that has not renewed for this long steps down (default 10 s). */
  renewDeadlineMs?: number;
  /** Time between attempts to acquire or renew (default 2 s). */
  retryPeriodMs?: number;
  /** Called when this replica becomes the leader; the signal aborts when it stops being one. */
  onStartedLeading(signal: AbortSignal): void;
  onStoppedLeading(): void;
}

/** RFC 3339 with microseconds: the MicroTime the Lease API stores. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does
 * it: a claim expires `leaseDuration` after this replica last saw it change (its own
 * clock only, so clock skew between nodes does not matter), a write carries the
 * resourceVersion read, and a 409 means another replica wrote first.
 */
export class LeaderElector {
  private readonly clock: Clock;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private timer: unknown;
  private running = false;
  private leading: AbortController | undefined;
  private lastRenew = 0;
  /** The record last read and when (on our clock) it last changed. */
  private observed: { key: string; at: number } | undefined;
  private lastHolderLogged: string | undefined;
  /** The last attempt found a live claim by another replica. */
  private heldByOther = false;
  private readonly base: string;

  constructor(private readonly o: LeaderElectorOptions) {
    this.clock = o.clock ?? systemClock;
    this.leaseMs = o.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 10_000;
    this.retryMs = o.retryPeriodMs ?? 2_000;
    if (!(this.leaseMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryMs)) {
      throw new Error('leader election needs leaseDuration > renewDeadline > retryPeriod');
    }
    this.base = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(o.namespace)}/leases`;
  }

  get isLeader(): boolean {
    return this.leading !== undefined;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.o.logger.info(
      { lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity },
      'leader election started: the replica holding the Lease runs the re-touch timer',
    );
    void this.tick();
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = this.clock.setTimeout(() => void this.tick(), this.retryMs);
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    let held = false;
    this.heldByOther = false;
    try {
      held = await this.tryAcquireOrRenew();
    } catch (err) {
      this.o.logger.warn({ lease: `${this.o.namespace}/${this.o.name}`, err: (err as Error).message }, 'leader election: could not read or write the Lease');
    }
    if (!this.running) return;
    const now = this.clock.now();
    if (held) {
      this.lastRenew = now;
      if (!this.leading) {
        this.leading = new AbortController();
        this.o.logger.info({ lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity }, 'became the leader: running the re-touch timer');
        this.o.onStartedLeading(this.leading.signal);
      }
    } else if (this.leading && this.heldByOther) {
      // Two timers must never run at once: someone else's live claim ends ours now.
      this.stepDown('another replica holds the Lease');
    } else if (this.leading && now - this.lastRenew >= this.renewDeadlineMs) {
      this.stepDown('could not renew the Lease within the renew deadline');
    }
    this.schedule();
  }

  private stepDown(why: string): void {
    const leading = this.leading;
    if (!leading) return;
    this.leading = undefined;
    this.o.logger.warn({ lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity }, `lost leadership (${why}): re-touch timer stopped`);
    leading.abort();
    this.o.onStoppedLeading();
  }

  /** One attempt; true when this replica holds the Lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock.now();
    const path = `${this.base}/${encodeURIComponent(this.o.name)}`;
    const timeoutMs = this.renewDeadlineMs / 2;
    const got = await this.o.api.request('GET', path, { timeoutMs });
    const spec: LeaseSpec = {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    if (got.status === 404) {
      const body: Lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.o.name, namespace: this.o.namespace }, spec };
      const res = await this.o.api.request('POST', this.base, { body, timeoutMs });
      if (res.status === 201 || res.status === 200) return true;
      if (res.status === 409) return false; // another replica created it first
      throw new ApiError('POST', this.base, res.status, res.body);
    }
    if (got.status !== 200) throw new ApiError('GET', path, got.status, got.body);
    const lease = got.body as Lease;
    const current = lease.spec ?? {};
    const holder = current.holderIdentity ?? '';
    const key = `${holder}|${current.renewTime ?? ''}|${lease.metadata.resourceVersion ?? ''}`;
    if (!this.observed || this.observed.key !== key) this.observed = { key, at: now };
    const duration = (current.leaseDurationSeconds ?? Math.ceil(this.leaseMs / 1000)) * 1000;
    if (holder && holder !== this.o.identity && this.observed.at + duration > now) {
      this.heldByOther = true;
      if (this.lastHolderLogged !== holder) {
        this.lastHolderLogged = holder;
        this.o.logger.info({ lease: `${this.o.namespace}/${this.o.name}`, holder }, 'another replica holds the Lease and runs the timer');
      }
      return false;
    }
    if (holder === this.o.identity) {
      spec.acquireTime = current.acquireTime ?? spec.acquireTime;
      spec.leaseTransitions = current.leaseTransitions ?? 0;
    } else {
      // As client-go counts: every acquisition of an existing Lease by a new holder, a
      // released one (no holder, after a graceful shutdown) included.
      spec.leaseTransitions = (current.leaseTransitions ?? 0) + 1;
      if (holder) this.o.logger.info({ lease: `${this.o.namespace}/${this.o.name}`, previous: holder }, 'the Lease expired; taking it over');
    }
    const res = await this.o.api.request('PUT', path, { body: { ...lease, spec: { ...current, ...spec } }, timeoutMs });
    if (res.status === 200) {
      this.observed = undefined;
      return true;
    }
    if (res.status === 409) return false; // someone else wrote since our read
    throw new ApiError('PUT', path, res.status, res.body);
  }

  /** Stop competing; a leader gives the Lease up so another replica need not wait for it to expire. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.clock.clearTimeout(this.timer);
    const wasLeader = this.leading !== undefined;
    this.stepDownQuietly();
    if (wasLeader) await this.release();
  }

  private stepDownQuietly(): void {
    const leading = this.leading;
    if (!leading) return;
    this.leading = undefined;
    leading.abort();
    this.o.onStoppedLeading();
  }

  private async release(): Promise<void> {
    const path = `${this.base}/${encodeURIComponent(this.o.name)}`;
    try {
      const got = await this.o.api.request('GET', path, { timeoutMs: 2_000 });
      if (got.status !== 200) return;
      const lease = got.body as Lease;
      if (lease.spec?.holderIdentity !== this.o.identity) return;
      const now = microTime(this.clock.now());
      const spec: LeaseSpec = { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, acquireTime: now, renewTime: now };
      const res = await this.o.api.request('PUT', path, { body: { ...lease, spec }, timeoutMs: 2_000 });
      if (res.status === 200) this.o.logger.info({ lease: `${this.o.namespace}/${this.o.name}` }, 'released the Lease');
      else this.o.logger.warn({ status: res.status }, 'could not release the Lease; another replica takes over once it expires');
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, 'could not release the Lease; another replica takes over once it expires');
    }
  }
}
