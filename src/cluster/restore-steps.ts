import { ApiError, systemClock, type Clock } from '../ports.js';
import { sleep } from '../util/sleep.js';
import type { LeaseSpec } from './lease.js';
import type { PoliteClient } from './polite.js';

/**
 * What `restore` does before it touches an object, so nothing of keda-carbon caps the
 * objects again behind it: the webhook configuration goes, the controller's replicas go to
 * zero and their Lease is given up. Each returns one plain result the command prints.
 */

const MERGE_PATCH = 'application/merge-patch+json';
const dryRunQuery = (dryRun: boolean) => (dryRun ? '?dryRun=All' : '');

export type WebhookStep = { readonly result: 'deleted' | 'would-delete' | 'absent'; readonly name: string };

/** Delete the MutatingWebhookConfiguration; one that is already gone is fine. */
export async function deleteWebhookConfig(client: PoliteClient, name: string, dryRun: boolean): Promise<WebhookStep> {
  const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(name)}`;
  const res = await client.expect('DELETE', `${path}${dryRunQuery(dryRun)}`, [200, 202, 404]);
  return { name, result: res.status === 404 ? 'absent' : dryRun ? 'would-delete' : 'deleted' };
}

export type ScaleStep = { readonly result: 'scaled' | 'would-scale' | 'absent'; readonly namespace: string; readonly name: string; readonly from?: number };

/** Scale the Deployment to 0 through its `scale` subresource; a Deployment that is gone is fine. */
export async function scaleDeploymentToZero(client: PoliteClient, namespace: string, name: string, dryRun: boolean): Promise<ScaleStep> {
  const path = `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments/${encodeURIComponent(name)}/scale`;
  const got = await client.expect('GET', path, [200, 404]);
  if (got.status === 404) return { result: 'absent', namespace, name };
  const from = (got.body as { spec?: { replicas?: number } }).spec?.replicas ?? 0;
  await client.expect('PATCH', `${path}${dryRunQuery(dryRun)}`, [200], { body: { spec: { replicas: 0 } }, contentType: MERGE_PATCH });
  return { result: dryRun ? 'would-scale' : 'scaled', namespace, name, from };
}

export type LeaseStep =
  | { readonly result: 'absent' | 'released'; readonly lease: string; readonly waitedMs: number }
  | { readonly result: 'expired'; readonly lease: string; readonly holder: string; readonly waitedMs: number }
  /** --dry-run: how the Lease stands now; nothing was waited for. */
  | { readonly result: 'held'; readonly lease: string; readonly holder: string; readonly waitedMs: 0 };

export class LeaseWaitTimeout extends Error {
  constructor(lease: string, holder: string, ms: number) {
    super(
      `the Lease ${lease} is still held by "${holder}" after ${Math.round(ms / 1000)} s: the re-touch controller may still run (is another Deployment running keda-carbon with that Lease?); nothing was restored`,
    );
    this.name = 'LeaseWaitTimeout';
  }
}

export interface LeaseWaitOptions {
  readonly client: PoliteClient;
  readonly namespace: string;
  readonly name: string;
  readonly timeoutMs: number;
  readonly pollMs?: number;
  readonly clock?: Clock;
  /** Only read the Lease once and say how it stands (--dry-run). */
  readonly once?: boolean;
}

interface Lease {
  metadata?: { resourceVersion?: string };
  spec?: LeaseSpec;
}

/**
 * Wait until nobody holds the Lease: released (no holder, as a replica leaves it on a
 * graceful stop) or expired. Expiry is judged as the controller's own elector judges it,
 * on this process's clock alone: the record has not changed for its leaseDuration since we
 * first saw it, so clock skew between this machine and the holder's does not matter.
 */
export async function waitForLeaseRelease(o: LeaseWaitOptions): Promise<LeaseStep> {
  const clock = o.clock ?? systemClock;
  const lease = `${o.namespace}/${o.name}`;
  const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(o.namespace)}/leases/${encodeURIComponent(o.name)}`;
  const start = clock.now();
  let seen: { key: string; at: number } | undefined;
  for (;;) {
    const res = await o.client.call('GET', path);
    const now = clock.now();
    if (res.status === 404) return { result: 'absent', lease, waitedMs: now - start };
    if (res.status !== 200) throw new ApiError('GET', path, res.status, res.body);
    const body = res.body as Lease;
    const holder = body.spec?.holderIdentity ?? '';
    if (holder === '') return { result: 'released', lease, waitedMs: now - start };
    if (o.once) return { result: 'held', lease, holder, waitedMs: 0 };
    const key = `${holder}|${body.spec?.renewTime ?? ''}|${body.metadata?.resourceVersion ?? ''}`;
    if (seen?.key !== key) seen = { key, at: now };
    const durationMs = (body.spec?.leaseDurationSeconds ?? 15) * 1000;
    if (now - seen.at >= durationMs) return { result: 'expired', lease, holder, waitedMs: now - start };
    if (now - start >= o.timeoutMs) throw new LeaseWaitTimeout(lease, holder, now - start);
    await sleep(o.pollMs ?? 1000, undefined, clock);
  }
}
