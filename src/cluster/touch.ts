import { ANNOTATION } from '../core/names.js';
import { readStatus, specMax, type KedaObject } from '../core/object.js';
import type { CachedObject } from './objects.js';
import type { PoliteClient } from './polite.js';

const MERGE_PATCH = 'application/merge-patch+json';

export type TouchResult =
  /** The webhook ran and stored another cap (or, in observe mode, another status cap or mode). */
  | { readonly outcome: 'changed'; readonly stored: KedaObject; readonly from: number | undefined; readonly to: number | undefined }
  /** Stored, but the cap did not change: the webhook did not run or decided otherwise. */
  | { readonly outcome: 'unapplied'; readonly stored: KedaObject }
  /** Deleted since the cache saw it: nothing left to cap. */
  | { readonly outcome: 'gone' }
  | { readonly outcome: 'failed'; readonly status: number; readonly message: string | undefined };

export function touchPath(entry: CachedObject): string {
  return `/apis/keda.sh/v1alpha1/namespaces/${encodeURIComponent(entry.namespace)}/${entry.plural}/${encodeURIComponent(entry.name)}?fieldManager=keda-carbon`;
}

/**
 * Write `keda-carbon.io/touched-at` so the API server sends the object through the webhook
 * again, which stores the cap the pure decision gives now. Throws only when no answer came.
 */
export async function touchObject(client: PoliteClient, entry: CachedObject, now: number, signal?: AbortSignal): Promise<TouchResult> {
  const body = { metadata: { annotations: { [ANNOTATION.touchedAt]: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z') } } };
  const res = await client.call('PATCH', touchPath(entry), { body, contentType: MERGE_PATCH, ...(signal ? { signal } : {}) });
  if (res.status === 404) return { outcome: 'gone' };
  if (res.status !== 200) return { outcome: 'failed', status: res.status, message: (res.body as { message?: string } | null)?.message };
  const stored = res.body as KedaObject;
  const from = specMax(entry.object);
  const to = specMax(stored);
  const applied = to !== from || statusKey(stored) !== statusKey(entry.object);
  return applied ? { outcome: 'changed', stored, from, to } : { outcome: 'unapplied', stored };
}

/** What of our status a touch can change: the cap it records and the mode. */
function statusKey(object: KedaObject): string {
  const status = readStatus(object);
  return status ? `${status.cap}/${status.mode ?? 'enforce'}` : '';
}

/** The Event's "why": what the webhook wrote in its status, else the controller's own reason. */
export function whyOf(stored: KedaObject, fallback: string): string {
  const status = readStatus(stored);
  if (!status) return fallback;
  const parts: string[] = [];
  // The status already shows the intensity on the side of the threshold its rule names.
  if (status.intensity !== null) parts.push(`${status.intensity} gCO2eq/kWh`);
  parts.push(status.rule ? `rule ${status.rule}` : status.ecoMode === 'off' ? 'eco mode off' : 'no band applies');
  return parts.join(', ');
}
