import type { KedaObject } from '../core/object.js';
import { ApiError } from '../ports.js';
import { KEDA_RESOURCES, type KedaKind, type KedaPlural } from './objects.js';
import type { PoliteClient } from './polite.js';
import { planRestore, restoredAsPlanned, restorePatch, type RestorePlan } from './restore-plan.js';

const MERGE_PATCH = 'application/merge-patch+json';
const GROUP = '/apis/keda.sh/v1alpha1';

/** One stored object as the list gave it: what the plan reads and the version it was read at. */
interface Candidate {
  readonly kind: KedaKind;
  readonly plural: KedaPlural;
  readonly namespace: string;
  readonly name: string;
  readonly object: KedaObject;
}

export type ObjectResult =
  | 'restored'
  /** --dry-run: the API server accepted the patch with dryRun=All and stored nothing. */
  | 'would-restore'
  /** Deleted since it was listed. */
  | 'gone'
  /** Someone else restored it in between (a re-read found nothing of ours). */
  | 'already'
  | 'malformed'
  /** Stored, but not as patched: a webhook still registered capped it again. */
  | 'recapped'
  | 'failed';

export interface ObjectOutcome {
  readonly kind: KedaKind;
  readonly namespace: string;
  readonly name: string;
  readonly result: ObjectResult;
  readonly from: number | undefined;
  /** The max after the restore (or with --dry-run, the max it would have). */
  readonly to: number | undefined;
  readonly removed: readonly string[];
  readonly message: string;
}

export interface RestoreObjectsOptions {
  readonly client: PoliteClient;
  /** One namespace, or null for every namespace. */
  readonly namespace: string | null;
  readonly dryRun: boolean;
  readonly pageSize?: number;
  /** Attempts per object when its version moved under us (default 5). */
  readonly maxAttempts?: number;
  /** Patches at once (default 8, the controller's maxInFlight). */
  readonly concurrency?: number;
  readonly fieldManager?: string;
}

export interface RestoreObjectsResult {
  /** ScaledObjects and ScaledJobs listed. */
  readonly listed: number;
  /** The objects keda-carbon had written to, each with what became of it. */
  readonly outcomes: readonly ObjectOutcome[];
  /** Kinds the API server does not serve (KEDA not installed, or an old KEDA without ScaledJobs). */
  readonly notServed: readonly KedaKind[];
}

function listPath(plural: KedaPlural, namespace: string | null): string {
  return namespace === null ? `${GROUP}/${plural}` : `${GROUP}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
}

interface ListBody {
  metadata?: { continue?: string };
  items?: KedaObject[];
}

/**
 * Every object of one kind, page by page, keeping only the ones keda-carbon wrote to. The
 * whole list is read before anything is written: a continue token expires after a few
 * minutes, and patching at the polite rate between pages of 10,000 objects could outlast it.
 */
async function listKind(o: RestoreObjectsOptions, kind: KedaKind, plural: KedaPlural): Promise<{ listed: number; candidates: Candidate[] } | null> {
  const candidates: Candidate[] = [];
  let listed = 0;
  let token: string | undefined;
  do {
    const query = new URLSearchParams({ limit: String(o.pageSize ?? 500) });
    if (token) query.set('continue', token);
    const path = `${listPath(plural, o.namespace)}?${query}`;
    const res = await o.client.call('GET', path);
    if (res.status === 404 && token === undefined) return null;
    if (res.status !== 200) throw new ApiError('GET', path, res.status, res.body);
    const body = res.body as ListBody;
    for (const object of body.items ?? []) {
      listed++;
      if (planRestore(object).kind === 'untouched') continue;
      const m = object.metadata ?? {};
      candidates.push({ kind, plural, namespace: String(m.namespace), name: String(m.name), object });
    }
    token = body.metadata?.continue || undefined;
  } while (token);
  return { listed, candidates };
}

/** The object as stored now, through `list` (the only read the restore's RBAC grants), or null when it is gone. */
async function reread(client: PoliteClient, c: Candidate): Promise<KedaObject | null> {
  const query = new URLSearchParams({ fieldSelector: `metadata.name=${c.name}` });
  const path = `${listPath(c.plural, c.namespace)}?${query}`;
  const res = await client.expect('GET', path, [200]);
  return (res.body as ListBody).items?.[0] ?? null;
}

const message = (body: unknown): string => (body as { message?: string } | null)?.message ?? '';

type Done = Pick<ObjectOutcome, 'result' | 'from' | 'to' | 'message'>;

function finish(c: Candidate, plan: RestorePlan, done: Done): ObjectOutcome {
  const removed = plan.kind === 'restore' && (done.result === 'restored' || done.result === 'would-restore') ? plan.remove : [];
  return { kind: c.kind, namespace: c.namespace, name: c.name, removed, ...done };
}

/** One object: patch at the version read; on a conflict read it again, plan again, try again. */
async function restoreOne(o: RestoreObjectsOptions, c: Candidate): Promise<ObjectOutcome> {
  let object: KedaObject = c.object;
  const attempts = o.maxAttempts ?? 5;
  const query = new URLSearchParams({ fieldManager: o.fieldManager ?? 'keda-carbon-restore' });
  if (o.dryRun) query.set('dryRun', 'All');
  const path = `${GROUP}/namespaces/${encodeURIComponent(c.namespace)}/${c.plural}/${encodeURIComponent(c.name)}?${query}`;
  for (let attempt = 1; ; attempt++) {
    const plan = planRestore(object);
    const from = plan.kind === 'restore' ? plan.from : undefined;
    if (plan.kind === 'untouched') return finish(c, plan, { result: 'already', from: undefined, to: undefined, message: 'restored in the meantime' });
    if (plan.kind === 'malformed') return finish(c, plan, { result: 'malformed', from: undefined, to: undefined, message: plan.message });
    const body = restorePatch(plan, object.metadata?.resourceVersion as string | undefined);
    const res = await o.client.call('PATCH', path, { body, contentType: MERGE_PATCH, retryConflict: false });
    if (res.status === 404) return finish(c, plan, { result: 'gone', from, to: undefined, message: 'deleted since it was listed' });
    if (res.status === 409 && attempt < attempts) {
      const now = await reread(o.client, c);
      if (now === null) return finish(c, plan, { result: 'gone', from, to: undefined, message: 'deleted since it was listed' });
      object = now;
      continue;
    }
    if (res.status !== 200) {
      const why = res.status === 409 ? `changed by another writer on each of ${attempts} attempts` : `HTTP ${res.status} ${message(res.body)}`.trim();
      return finish(c, plan, { result: 'failed', from, to: undefined, message: why });
    }
    const stored = res.body as KedaObject;
    const to = typeof stored.spec?.maxReplicaCount === 'number' ? stored.spec.maxReplicaCount : undefined;
    // A dry run still passes through every registered webhook, which the real run removes first.
    if (!o.dryRun && !restoredAsPlanned(stored, plan)) {
      const recapped = 'stored capped again: a mutating webhook is still registered (remove it first, e.g. with --webhook-config)';
      return finish(c, plan, { result: 'recapped', from, to, message: recapped });
    }
    return finish(c, plan, { result: o.dryRun ? 'would-restore' : 'restored', from, to: plan.to ?? plan.from, message: plan.why });
  }
}

/** No answer came for one object (the polite client gave up retrying): it is reported and the others go on. */
function unanswered(c: Candidate, err: Error): ObjectOutcome {
  return { kind: c.kind, namespace: c.namespace, name: c.name, result: 'failed', from: undefined, to: undefined, removed: [], message: err.message };
}

/** Run `work` over `items` with at most `limit` at once, keeping the order of the input in the output. */
async function pool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Give every ScaledObject and ScaledJob keda-carbon wrote to its declared max back and
 * remove our annotations (with `dryRun`, ask the API server to validate each patch and
 * store nothing). Objects keda-carbon never touched are listed, never written.
 */
export async function restoreObjects(o: RestoreObjectsOptions): Promise<RestoreObjectsResult> {
  let listed = 0;
  const candidates: Candidate[] = [];
  const notServed: KedaKind[] = [];
  for (const { kind, plural } of KEDA_RESOURCES) {
    const got = await listKind(o, kind, plural);
    if (got === null) {
      notServed.push(kind);
      continue;
    }
    listed += got.listed;
    candidates.push(...got.candidates);
  }
  const outcomes = await pool(candidates, o.concurrency ?? 8, (c) => restoreOne(o, c).catch((err: Error) => unanswered(c, err)));
  return { listed, outcomes, notServed };
}

/** Whether the outcome leaves the object un-restored (the command then exits 1). */
export function isFailure(outcome: ObjectOutcome): boolean {
  return outcome.result === 'failed' || outcome.result === 'malformed' || outcome.result === 'recapped';
}
