import t from 'tap';
import type http from 'node:http';
import { kubeApiFromUrl } from '../../src/cluster/api.js';
import { HpaCache, slimHpa } from '../../src/cluster/hpa.js';
import { captureLogger } from '../helpers/log.js';
import { json, startServer } from '../helpers/http.js';
import { until } from '../helpers/until.js';

const hpa = (name: string, max: number, desired: number, tooMany = false) => ({
  metadata: { name: `keda-hpa-${name}`, namespace: 'shop', resourceVersion: '5' },
  spec: { maxReplicas: max },
  status: {
    desiredReplicas: desired,
    conditions: tooMany
      ? [{ type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas' }]
      : [{ type: 'ScalingLimited', status: 'False', reason: 'DesiredWithinRange' }],
  },
});

/** An API server that serves HPAs at `served` only (404 for the other version); watches stay open. */
async function apiServing(served: 'v2' | 'v2beta2') {
  const watches = new Set<http.ServerResponse>();
  const srv = await startServer((req, res, url) => {
    if (url.pathname === '/apis/autoscaling/v2')
      return served === 'v2' ? json(res, 200, { kind: 'APIResourceList' }) : json(res, 404, { kind: 'Status', code: 404 });
    if (url.pathname !== `/apis/autoscaling/${served}/horizontalpodautoscalers`) return json(res, 404, { kind: 'Status', code: 404 });
    if (url.searchParams.get('watch')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      watches.add(res);
      return;
    }
    json(res, 200, {
      kind: 'HorizontalPodAutoscalerList',
      metadata: { resourceVersion: '5' },
      items: [hpa('limited', 3, 3, true), hpa('desired', 3, 3), hpa('idle', 3, 1), hpa('old-cap', 5, 5)],
    });
  });
  return {
    ...srv,
    close: async () => {
      for (const w of watches) w.end();
      await srv.close();
    },
  };
}

t.test('slimHpa keeps the max, the desired replicas and the TooManyReplicas condition', async (t) => {
  t.same(slimHpa(hpa('a', 3, 2, true)), { maxReplicas: 3, desiredReplicas: 2, tooMany: true });
  t.same(slimHpa({}), { maxReplicas: undefined, desiredReplicas: undefined, tooMany: false });
  t.equal(slimHpa(null), null);
});

for (const served of ['v2', 'v2beta2'] as const) {
  t.test(`held at the cap, from autoscaling/${served}`, async (t) => {
    const srv = await apiServing(served);
    t.teardown(() => srv.close());
    const { logger, lines } = captureLogger();
    const cache = new HpaCache({ api: kubeApiFromUrl(srv.url), logger });
    await cache.start();
    t.teardown(() => cache.stop());
    t.ok(
      lines.some((l) => l.includes(`"version":"autoscaling/${served}"`)),
      'the version is logged',
    );
    await until(() => cache.heldAt('shop', 'limited', 3), 'the HPAs in the cache');
    t.equal(cache.heldAt('shop', 'limited', 3), true, 'ScalingLimited/TooManyReplicas at the cap');
    t.equal(cache.heldAt('shop', 'desired', 3), true, 'desired replicas equal to the cap');
    t.equal(cache.heldAt('shop', 'idle', 3), false, 'below the cap');
    t.equal(cache.heldAt('shop', 'old-cap', 3), false, 'an HPA whose max is not the cap in force (KEDA has not caught up)');
    t.equal(cache.heldAt('shop', 'missing', 3), false, 'no HPA');
    t.ok(
      srv.requests.some((r) => r.path.startsWith(`/apis/autoscaling/${served}/horizontalpodautoscalers`)),
      `listed from ${served}`,
    );
  });
}
