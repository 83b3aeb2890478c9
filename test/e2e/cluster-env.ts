/**
 * Shared by the e2e files (this file holds no tests of its own). Everything here talks to
 * the cluster named by KEDA_CARBON_E2E_KUBECONFIG and nothing else: never KUBECONFIG,
 * never ~/.kube. Each file creates namespaces with a random suffix and a webhook
 * configuration whose namespaceSelector matches only those, so runs do not meet.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeApiFromConfig } from '../../src/cluster/api.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import type { KubeApi } from '../../src/ports.js';
import { until } from '../helpers/until.js';

export const E2E_ENV = 'KEDA_CARBON_E2E_KUBECONFIG';
export const LABEL = 'keda-carbon.io/policy';
export const MINUTE = 60_000;

/** The kubeconfig the e2e suite may use, or null: then the caller skips the whole file. */
export function e2eKubeconfig(): string | null {
  const v = process.env[E2E_ENV];
  return v && v.trim() !== '' ? v.trim() : null;
}

export const SKIP_MESSAGE = `${E2E_ENV} is not set: skipping the end-to-end tests (point it at a test cluster's kubeconfig, e.g. the one .ci/cluster.sh starts; they never fall back to KUBECONFIG)`;

/**
 * The cluster this test file runs against; without one the file is skipped, saying why, and
 * the process ends here.
 */
export function clusterOrSkip(t: { plan(n: number, comment?: string): void }): Cluster {
  const kubeconfig = e2eKubeconfig();
  if (!kubeconfig) {
    t.plan(0, SKIP_MESSAGE);
    process.exit(0);
  }
  return connect(kubeconfig);
}

export interface Cluster {
  kubeconfig: string;
  api: KubeApi;
  /** A short random id: namespaces, the webhook and the Lease of one test file carry it. */
  id: string;
  /** A request that must answer one of `ok`; the API server's message otherwise. */
  call(method: string, path: string, ok: number[], body?: unknown, contentType?: string): Promise<any>;
}

export function connect(kubeconfig: string): Cluster {
  if (!existsSync(kubeconfig)) throw new Error(`${E2E_ENV}=${kubeconfig}: no such file (did the control plane start?)`);
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api = kubeApiFromConfig(kc);
  return {
    kubeconfig,
    api,
    id: randomBytes(3).toString('hex'),
    async call(method, path, ok, body, contentType) {
      const res = await api.request(method, path, { timeoutMs: 15_000, ...(body !== undefined ? { body } : {}), ...(contentType ? { contentType } : {}) });
      if (!ok.includes(res.status)) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 400)}`);
      return res.body;
    },
  };
}

/** Polls `fn` against the API server (it has no event to wait on) until it yields a value. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, everyMs = 250): Promise<T> {
  let value: T | undefined | null | false;
  await until(async () => Boolean((value = await fn())), what, timeoutMs, everyMs);
  return value as T;
}

export async function createNamespace(c: Cluster, name: string, labels: Record<string, string>): Promise<void> {
  await c.call('POST', '/api/v1/namespaces', [201], { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
}

/** Merge-patch a namespace's labels; null removes one, as `kubectl label ns x key-` does. */
export async function labelNamespace(c: Cluster, name: string, labels: Record<string, string | null>): Promise<void> {
  await c.call('PATCH', `/api/v1/namespaces/${name}`, [200], { metadata: { labels } }, 'application/merge-patch+json');
}

export type Plural = 'scaledobjects' | 'scaledjobs';

export function kedaObject(plural: Plural, namespace: string, name: string, max: number, annotations: Record<string, string> = {}) {
  const base = { apiVersion: 'keda.sh/v1alpha1', metadata: { name, namespace, annotations } };
  if (plural === 'scaledobjects') {
    return {
      ...base,
      kind: 'ScaledObject',
      spec: { scaleTargetRef: { name }, maxReplicaCount: max, triggers: [{ type: 'cpu', metricType: 'Utilization', metadata: { value: '60' } }] },
    };
  }
  return {
    ...base,
    kind: 'ScaledJob',
    spec: {
      maxReplicaCount: max,
      jobTargetRef: { template: { spec: { containers: [{ name: 'work', image: 'busybox' }], restartPolicy: 'Never' } } },
      triggers: [{ type: 'cron', metadata: { timezone: 'UTC', start: '0 * * * *', end: '5 * * * *', desiredReplicas: '1' } }],
    },
  };
}

export const kedaPath = (plural: Plural, namespace: string, name?: string) =>
  `/apis/keda.sh/v1alpha1/namespaces/${namespace}/${plural}${name ? `/${name}` : ''}`;

export async function getMax(c: Cluster, plural: Plural, namespace: string, name: string): Promise<number | undefined> {
  const obj = await c.call('GET', kedaPath(plural, namespace, name), [200]);
  return obj.spec?.maxReplicaCount;
}

/** A forecast file point: start, minutes, gCO2eq/kWh. */
/** An HPA as KEDA makes it for ScaledObject `name` (`keda-hpa-<name>`), with the status the HPA controller would write. */
export async function kedaHpa(c: Cluster, namespace: string, name: string, max: number, status: Record<string, unknown>): Promise<void> {
  const version = (await c.api.request('GET', '/apis/autoscaling/v2')).status === 200 ? 'v2' : 'v2beta2';
  const path = `/apis/autoscaling/${version}/namespaces/${namespace}/horizontalpodautoscalers`;
  const created = await c.call('POST', path, [201], {
    apiVersion: `autoscaling/${version}`,
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: `keda-hpa-${name}`, namespace },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: 1,
      maxReplicas: max,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } }],
    },
  });
  await c.call('PUT', `${path}/keda-hpa-${name}/status`, [200], { ...created, status: { currentReplicas: 1, ...status } });
}

export type Point = [start: number, minutes: number, value: number];

/** Replace the forecast file in one step (write, then rename), as a ConfigMap update does. */
export async function writeForecast(path: string, points: Point[]): Promise<void> {
  const body = points.map(([ts, duration, value]) => ({ timestamp: new Date(ts).toISOString(), duration, value }));
  await writeFile(`${path}.tmp`, JSON.stringify(body));
  await rename(`${path}.tmp`, path);
}

export interface Webhook {
  dir: string;
  forecast: string;
  serve: ServeProcess;
}

/** Start `keda-carbon serve` on the e2e cluster with a `file` forecast this test controls. */
export async function startWebhook(
  c: Cluster,
  options: {
    leaseNamespace: string;
    touch?: string;
    forecast?: Point[];
    dir?: string;
    env?: Record<string, string>;
    webhookOnly?: boolean;
    startupMs?: number;
    /** The configuration's default watts per replica (grams in the ledger). */
    wattsPerReplica?: number;
    /** The `signal` the file source declares. */
    signal?: string;
    /** Node options for serve after the inherited ones (a benchmark's --cpu-prof). */
    nodeArgs?: string[];
  },
): Promise<Webhook> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'keda-carbon-e2e-')));
  const forecast = join(dir, 'forecast.json');
  if (options.forecast) await writeForecast(forecast, options.forecast);
  const config = join(dir, `config-${randomBytes(2).toString('hex')}.yaml`);
  await writeFile(
    config,
    `intensity:
  provider: file
  path: ${forecast}
  refreshInterval: 1m
  maxDataAge: 2h${options.signal ? `\n  signal: ${options.signal}` : ''}
policies:
  standard:
    carbon:
    - {measuredEmission: 300, allowedMaxReplicaCount: 3}
touch:
  ${options.touch ?? 'interval: 1h\n  followForecast: true'}
  # the timer of a test must not touch anybody else's objects in a shared cluster
  namespaceSelector: keda-carbon-e2e=${c.id}
invalidPolicy: deny
${options.wattsPerReplica ? `wattsPerReplica: ${options.wattsPerReplica}\n` : ''}`,
  );
  // webhookOnly: no credentials, so no re-touch controller writes behind the test's back.
  const access = options.webhookOnly ? [] : ['--kubeconfig', c.kubeconfig];
  const serve = await startServe(
    [...access, '--cert-dir', join(dir, `tls-${randomBytes(2).toString('hex')}`), '--config', config],
    {
      POD_NAMESPACE: options.leaseNamespace,
      KEDA_CARBON_LEASE_NAME: `e2e-${c.id}`,
      ...options.env,
    },
    options.startupMs,
    options.nodeArgs,
  );
  return { dir, forecast, serve };
}

/** The CA that signed this webhook's serving certificate (serve made both in its --cert-dir). */
export async function caBundle(w: Webhook): Promise<string> {
  const entry = w.serve.logs.find((l) => typeof l.caFile === 'string');
  if (!entry) throw new Error('serve did not say where its CA is');
  return Buffer.from(await readFile(entry.caFile as string)).toString('base64');
}

/**
 * Register the webhook for ScaledObjects and ScaledJobs in namespaces labelled
 * `keda-carbon-e2e=<id>`, with the settings PRODUCT.md section 7 names, and wait until
 * the API server actually calls it (a dry-run create comes back capped).
 */
export async function registerWebhook(t: Pick<Test, 'teardown'>, c: Cluster, w: Webhook, probeNamespace: string): Promise<void> {
  await registerWebhookAt(t, c, { url: `https://127.0.0.1:${w.serve.port}/mutate`, caBundle: await caBundle(w) }, probeNamespace);
}

/** The same, for a webhook served at `url` (e.g. in the test's own process) under the CA `caBundle` (base64 PEM). */
export async function registerWebhookAt(
  t: Pick<Test, 'teardown'>,
  c: Cluster,
  at: { url: string; caBundle: string },
  probeNamespace: string,
  /** The cap the webhook gives the probe, whose own policy caps at 1. */
  probeCap = 1,
): Promise<void> {
  const name = `keda-carbon-e2e-${c.id}`;
  const path = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
  await c.call('POST', path, [201], {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name: `${c.id}.e2e.keda-carbon.io`,
        clientConfig: { url: at.url, caBundle: at.caBundle },
        rules: [
          {
            apiGroups: ['keda.sh'],
            apiVersions: ['v1alpha1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['scaledobjects', 'scaledjobs'],
            scope: 'Namespaced',
          },
        ],
        namespaceSelector: { matchLabels: { 'keda-carbon-e2e': c.id } },
        failurePolicy: 'Ignore',
        matchPolicy: 'Equivalent',
        reinvocationPolicy: 'IfNeeded',
        sideEffects: 'None',
        timeoutSeconds: 5,
        admissionReviewVersions: ['v1'],
      },
    ],
  });
  t.teardown(() => c.call('DELETE', `${path}/${name}`, [200, 404]).catch(() => undefined));
  await waitFor(
    'the API server to call the webhook',
    async () => {
      const probe = kedaObject('scaledobjects', probeNamespace, 'webhook-probe', 10, {
        'keda-carbon.io/environmental-impact': '{"carbon":[{"measuredEmission":0,"allowedMaxReplicaCount":1}]}',
      });
      const res = await c.call('POST', `${kedaPath('scaledobjects', probeNamespace)}?dryRun=All`, [201], probe);
      return res.spec.maxReplicaCount === probeCap;
    },
    30_000,
  );
}

/** Events recorded on one object, newest last. */
export async function eventsFor(c: Cluster, namespace: string, name: string): Promise<Array<{ type: string; reason: string; message: string }>> {
  const list = await c.call('GET', `/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`, [200]);
  return list.items;
}

/** The webhook's JSON log lines with this message. */
export function logsWith(w: Webhook, msg: string): Array<Record<string, unknown>> {
  return w.serve.logs.filter((l) => l.msg === msg);
}
