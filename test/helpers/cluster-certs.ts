/**
 * The cluster side of the self-managed certificate tests: a namespace with the empty Secret
 * the install creates, a MutatingWebhookConfiguration that the real API server calls at
 * 127.0.0.1 (failurePolicy Fail, so a refused handshake fails the write), webhook servers
 * whose certificate is swapped in memory, and clients that count every failed call.
 */
import type { Server as HttpsServer } from 'node:https';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { KubeConfig } from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import { kubeApiFromConfig } from '../../src/cluster/api.js';
import { parseConfigText } from '../../src/config/config.js';
import type { KubeApi } from '../../src/ports.js';
import { buildApp } from '../../src/server/app.js';
import { makeCa } from '../../src/tls/issue.js';
import type { CertificatePair } from '../../src/tls/reloader.js';
import { steady } from './carbon.js';
import { type Cluster, createNamespace, kedaObject, kedaPath } from '../e2e/cluster-env.js';

export const MWC_PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
export const secretPath = (ns: string, name: string) => `/api/v1/namespaces/${ns}/secrets/${name}`;

export interface Webhook {
  app: FastifyInstance;
  port: number;
  swap(pair: CertificatePair): void;
}

/** The admission app on 127.0.0.1 with a throwaway certificate; every answer closes its connection, so each call is a new handshake. */
export async function startWebhook(t: Pick<Test, 'teardown'>): Promise<Webhook> {
  const config = parseConfigText('', 'test');
  const app = buildApp({
    admission: { config: () => config, carbon: { snapshot: () => steady(100, Date.now()) }, now: Date.now },
    readiness: () => ({ serving: true, carbon: { fresh: true, source: 'test', fetchedAt: null } }),
    https: makeCa({ commonName: 'placeholder', validityMs: 60 * 60_000 }),
  });
  app.addHook('onSend', async (_request, reply) => {
    reply.header('connection', 'close');
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const server = app.server as HttpsServer;
  return {
    app,
    port: (server.address() as AddressInfo).port,
    swap: (pair) => server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' }),
  };
}

/** A namespace (labelled so the webhook applies to it), the empty Opaque Secret, and a webhook configuration with two webhooks. */
export async function installFixture(
  t: Pick<Test, 'teardown'>,
  c: Cluster,
  webhook: Webhook,
  secret: string,
  suffix: string,
): Promise<{ ns: string; mwc: string }> {
  const ns = `kc-certs-${suffix}-${c.id}`;
  await createNamespace(c, ns, { 'kc-certs': ns });
  await c.call('POST', `/api/v1/namespaces/${ns}/secrets`, [201], { apiVersion: 'v1', kind: 'Secret', metadata: { name: secret }, type: 'Opaque' });
  const mwc = ns;
  const hook = (name: string) => ({
    name: `${name}.${suffix}.${c.id}.certs.keda-carbon.io`,
    clientConfig: { url: `https://127.0.0.1:${webhook.port}/mutate` },
    rules: [{ apiGroups: ['keda.sh'], apiVersions: ['v1alpha1'], operations: ['CREATE'], resources: ['scaledobjects'], scope: 'Namespaced' }],
    namespaceSelector: { matchLabels: { 'kc-certs': ns } },
    failurePolicy: 'Fail',
    sideEffects: 'None',
    timeoutSeconds: 5,
    admissionReviewVersions: ['v1'],
  });
  await c.call('POST', MWC_PATH, [201], {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: mwc },
    webhooks: [hook('a'), hook('b')],
  });
  t.teardown(() => c.call('DELETE', `${MWC_PATH}/${mwc}`, [200, 404]).catch(() => undefined));
  return { ns, mwc };
}

/** Each webhook's caBundle, decoded. */
export async function bundles(c: Cluster, mwc: string): Promise<string[]> {
  const config = await c.call('GET', `${MWC_PATH}/${mwc}`, [200]);
  return config.webhooks.map((w: { clientConfig: { caBundle?: string } }) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8'));
}

export async function secretData(c: Cluster, ns: string, name: string): Promise<Record<string, string>> {
  const s = await c.call('GET', secretPath(ns, name), [200]);
  return Object.fromEntries(Object.entries((s.data ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

/** One HTTPS request on a new connection, trusting `ca` and checking the Service name; resolves with the served certificate's fingerprint. */
export function handshake(port: number, ca: string, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/healthz', ca, servername, agent: false, minVersion: 'TLSv1.2' }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(fingerprint) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Keeps calling until stopped: the real API server (a dry-run create that the webhook must
 * answer) and a client of our own that reads the caBundle before each request. Counts both.
 */
export function keepCalling(c: Cluster, o: { ns: string; mwc: string; ports: number[]; servername: string }) {
  const counts = { admission: 0, admissionFailed: 0, direct: 0, directFailed: 0, errors: [] as string[] };
  let running = true;
  const admission = (async () => {
    for (let i = 0; running; i++) {
      const res = await c.api.request('POST', `${kedaPath('scaledobjects', o.ns)}?dryRun=All`, {
        body: kedaObject('scaledobjects', o.ns, `probe-${i}`, 10),
        timeoutMs: 15_000,
      });
      counts.admission++;
      if (res.status !== 201) {
        counts.admissionFailed++;
        counts.errors.push(`admission ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
      }
    }
  })();
  const direct = (async () => {
    for (let i = 0; running; i++) {
      const ca = (await bundles(c, o.mwc))[0] ?? '';
      const port = o.ports[i % o.ports.length]!;
      counts.direct++;
      await handshake(port, ca, o.servername).catch((err: Error) => {
        counts.directFailed++;
        counts.errors.push(`direct ${port}: ${err.message}`);
      });
    }
  })();
  return {
    counts,
    async stop() {
      running = false;
      await Promise.all([admission, direct]);
      return counts;
    },
  };
}

/** An API client that acts as `user` (the admin may impersonate), for RBAC checks. */
export function impersonating(kubeconfig: string, user: string): KubeApi {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const current = kc.getCurrentUser()!;
  kc.loadFromOptions({
    clusters: kc.clusters,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
    users: kc.users.map((u) => (u.name === current.name ? { ...u, impersonateUser: user } : u)),
  });
  return kubeApiFromConfig(kc);
}

/**
 * The rules the contract gives serve for its certificates, bound to ServiceAccount `sa`:
 * `secretVerbs` on the one Secret (a Role) and get/update/patch on the one webhook
 * configuration (a ClusterRole). Returns the user name to impersonate.
 */
export async function grant(
  t: Pick<Test, 'teardown'>,
  c: Cluster,
  o: { ns: string; sa: string; secret: string; mwc: string; secretVerbs: string[] },
): Promise<string> {
  const rbac = '/apis/rbac.authorization.k8s.io/v1';
  const subject = [{ kind: 'ServiceAccount', name: o.sa, namespace: o.ns }];
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: o.sa, namespace: o.ns },
    rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: [o.secret], verbs: o.secretVerbs }],
  };
  const existing = await c.api.request('GET', `${rbac}/namespaces/${o.ns}/roles/${o.sa}`);
  if (existing.status === 200)
    await c.call('PUT', `${rbac}/namespaces/${o.ns}/roles/${o.sa}`, [200], { ...role, metadata: (existing.body as { metadata: unknown }).metadata });
  else {
    await c.call('POST', `${rbac}/namespaces/${o.ns}/roles`, [201], role);
    await c.call('POST', `${rbac}/namespaces/${o.ns}/rolebindings`, [201], {
      metadata: { name: o.sa },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: o.sa },
      subjects: subject,
    });
    await c.call('POST', `${rbac}/clusterroles`, [201], {
      metadata: { name: o.mwc },
      rules: [
        {
          apiGroups: ['admissionregistration.k8s.io'],
          resources: ['mutatingwebhookconfigurations'],
          resourceNames: [o.mwc],
          verbs: ['get', 'update', 'patch'],
        },
      ],
    });
    await c.call('POST', `${rbac}/clusterrolebindings`, [201], {
      metadata: { name: o.mwc },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: o.mwc },
      subjects: subject,
    });
    t.teardown(async () => {
      await c.call('DELETE', `${rbac}/clusterrolebindings/${o.mwc}`, [200, 404]).catch(() => undefined);
      await c.call('DELETE', `${rbac}/clusterroles/${o.mwc}`, [200, 404]).catch(() => undefined);
    });
  }
  return `system:serviceaccount:${o.ns}:${o.sa}`;
}
