import type { KubeApi } from '../ports.js';

/**
 * The caBundle of the webhook configuration serve is named in: read, compared and replaced
 * for every webhook in it, with the resourceVersion read (a 409 waits for the next round).
 */

export interface WebhookConfig {
  metadata: { name: string; resourceVersion?: string; [k: string]: unknown };
  webhooks?: Array<{ name: string; clientConfig?: { caBundle?: string; [k: string]: unknown }; [k: string]: unknown }>;
  [k: string]: unknown;
}

type Say = (key: string | null, fields: Record<string, unknown>, msg: string) => void;
type SayAt = (level: 'info' | 'warn', key: string | null, fields: Record<string, unknown>, msg: string) => void;

const TIMEOUT_MS = 10_000;
const pathOf = (name: string) => `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(name)}`;
const bundleOf = (w: NonNullable<WebhookConfig['webhooks']>[number]) => Buffer.from(w.clientConfig?.caBundle ?? '', 'base64').toString('utf8');

/** The configuration, or null (logged through `say`) when it cannot be read. */
export async function readWebhookConfig(api: KubeApi, name: string, say: Say): Promise<WebhookConfig | null> {
  let res: Awaited<ReturnType<KubeApi['request']>>;
  try {
    res = await api.request('GET', pathOf(name), { timeoutMs: TIMEOUT_MS });
  } catch (err) {
    say('unreachable', { webhookConfig: name, err: (err as Error).message }, 'cannot read the webhook configuration; its caBundle is not checked this round');
    return null;
  }
  if (res.status !== 200) {
    const hint = res.status === 404 ? 'the install creates it' : res.status === 403 ? 'RBAC must grant get on it' : '';
    say(String(res.status), { webhookConfig: name, status: res.status, hint }, 'cannot read the webhook configuration; its caBundle is not checked this round');
    return null;
  }
  say(null, {}, '');
  return res.body as WebhookConfig;
}

/** Every webhook of the configuration trusts `caPem` (its caBundle holds that PEM). */
export function trustsCa(config: WebhookConfig, caPem: string): boolean {
  const pem = caPem.trim();
  return pem !== '' && (config.webhooks ?? []).every((w) => bundleOf(w).includes(pem));
}

/** Sets every webhook's caBundle to `bundle` unless it already is; true when it is afterwards. */
export async function publishBundle(api: KubeApi, config: WebhookConfig, bundle: string, say: SayAt): Promise<boolean> {
  const webhooks = config.webhooks ?? [];
  if (bundle === '' || webhooks.every((w) => bundleOf(w) === bundle)) return true;
  const caBundle = Buffer.from(bundle, 'utf8').toString('base64');
  const body = { ...config, webhooks: webhooks.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle } })) };
  const where = { webhookConfig: config.metadata.name };
  let status: number;
  try {
    status = (await api.request('PUT', pathOf(config.metadata.name), { body, timeoutMs: TIMEOUT_MS })).status;
  } catch (err) {
    say('warn', 'unreachable', { ...where, err: (err as Error).message }, 'cannot write the caBundle; the next round tries again');
    return false;
  }
  if (status === 200) {
    say('info', null, {}, '');
    say(
      'info',
      `done|${caBundle}`,
      { ...where, webhooks: webhooks.length, cas: bundle.split('-----BEGIN CERTIFICATE-----').length - 1 },
      'wrote the CA bundle into the webhook configuration',
    );
    return true;
  }
  const msg =
    status === 409
      ? 'the webhook configuration changed since it was read; the next round reads it again'
      : 'cannot write the caBundle; the next round tries again';
  say(status === 409 ? 'info' : 'warn', String(status), { ...where, status, ...(status === 403 ? { hint: 'RBAC must grant update on it' } : {}) }, msg);
  return false;
}
