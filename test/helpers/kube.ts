import type http from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeClientFromConfig } from '../../src/carbon/kube.js';
import type { KubeClient } from '../../src/carbon/kube-client.js';
import { json, startServer } from './http.js';

/**
 * A small stand-in for the Kubernetes API: GET of one ConfigMap and one Node, and a
 * watch stream the test feeds by hand. `remove()` and `put()` mimic the exporter's
 * delete-and-recreate.
 */
export async function fakeApiServer(initial: { configMap?: Record<string, unknown>; nodes?: Record<string, Record<string, string>> }) {
  let configMap = initial.configMap;
  const watchers = new Set<http.ServerResponse>();
  let getStatusOverride: number | undefined;
  const srv = await startServer((req, res, url) => {
    if (req.headers.authorization !== 'Bearer kube-test-token') return json(res, 401, { kind: 'Status', code: 401, message: 'Unauthorized' });
    const cm = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps(?:\/([^/]+))?$/.exec(url.pathname);
    if (cm && url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      watchers.add(res);
      res.on('close', () => watchers.delete(res));
      return;
    }
    if (cm?.[2]) {
      if (getStatusOverride) return json(res, getStatusOverride, { kind: 'Status', code: getStatusOverride, message: `configmaps "${cm[2]}" is forbidden` });
      if (!configMap) return json(res, 404, { kind: 'Status', code: 404, reason: 'NotFound', message: `configmaps "${cm[2]}" not found` });
      return json(res, 200, configMap);
    }
    const node = /^\/api\/v1\/nodes\/([^/]+)$/.exec(url.pathname);
    if (node) {
      const labels = initial.nodes?.[node[1]!];
      if (!labels) return json(res, 404, { kind: 'Status', code: 404, message: 'not found' });
      return json(res, 200, { kind: 'Node', metadata: { name: node[1], labels } });
    }
    json(res, 404, { kind: 'Status', code: 404 });
  });
  const emit = (type: string, object: unknown) => {
    for (const w of watchers) w.write(`${JSON.stringify({ type, object })}\n`);
  };
  return {
    ...srv,
    watcherCount: () => watchers.size,
    remove() {
      const old = configMap;
      configMap = undefined;
      emit('DELETED', old);
    },
    put(next: Record<string, unknown>) {
      configMap = next;
      emit('ADDED', next);
    },
    endWatches() {
      for (const w of watchers) w.end();
    },
    forbid(status: number | undefined) {
      getStatusOverride = status;
    },
  };
}

/** A client for the fake API built the way serve builds it: from a kubeconfig. */
export function kubeClientFor(url: string): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: url, skipTLSVerify: true }],
    users: [{ name: 'test', token: 'kube-test-token' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  return kubeClientFromConfig(kc);
}
