import t from 'tap';
import type http from 'node:http';
import { kubeApiFromUrl } from '../../src/cluster/api.js';
import { HpaCache, slimHpa } from '../../src/cluster/hpa.js';
import { captureLogger } from '../helpers/log.js';
import { json, startServer } from '../helpers/http.js';
import { until } from '../helpers/until.js';

const hpa = (name: string, max: number, desired: number, tooMany = false, current = desired, resourceVersion = '5') => ({
  metadata: { name, namespace: 'shop', resourceVersion },
  spec: { maxReplicas: max },
  status: {
    desiredReplicas: desired,
    currentReplicas: current,
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
      items: [hpa('keda-hpa-limited', 3, 3, true), hpa('keda-hpa-desired', 3, 3), hpa('keda-hpa-idle', 3, 1), hpa('keda-hpa-old-cap', 5, 5)],
    });
  });
  return {
    ...srv,
    /** Send a watch event to every open watch. */
    send: (type: string, object: unknown) => {
      for (const w of watches) w.write(`${JSON.stringify({ type, object })}\n`);
    },
    watching: () => watches.size > 0,
    close: async () => {
      for (const w of watches) w.end();
      await srv.close();
    },
  };
}

t.test('slimHpa keeps the max, the desired and current replicas and the TooManyReplicas condition', async (t) => {
  t.same(slimHpa(hpa('a', 3, 2, true, 4)), { maxReplicas: 3, desiredReplicas: 2, currentReplicas: 4, tooMany: true });
  t.same(slimHpa({}), { maxReplicas: undefined, desiredReplicas: undefined, currentReplicas: undefined, tooMany: false });
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

t.test('the replicas running, and every change of a KEDA HPA reported by ScaledObject name', async (t) => {
  const srv = await apiServing('v2');
  t.teardown(() => srv.close());
  const changes: string[] = [];
  let lists = 0;
  const cache = new HpaCache({
    api: kubeApiFromUrl(srv.url),
    logger: captureLogger().logger,
    onChange: (ns, name) => changes.push(`${ns}/${name}`),
    onSynced: () => lists++,
  });
  await cache.start();
  t.teardown(() => cache.stop());
  await until(() => lists === 1 && srv.watching(), 'the first list and the watch');
  t.equal(cache.running('shop', 'idle'), 1, 'currentReplicas of keda-hpa-idle');
  t.equal(cache.running('shop', 'missing'), undefined, 'no HPA');
  t.same(changes, [], 'the first list is a sync, not a change');
  srv.send('MODIFIED', hpa('keda-hpa-idle', 3, 2, false, 2, '6'));
  srv.send('ADDED', hpa('own-hpa', 3, 2, false, 2, '7'));
  srv.send('DELETED', hpa('keda-hpa-desired', 3, 3, false, 3, '8'));
  await until(() => changes.length === 2, 'two changes');
  t.same(changes, ['shop/idle', 'shop/desired'], 'an HPA KEDA did not name after a ScaledObject is not one of ours');
  t.equal(cache.running('shop', 'idle'), 2);
  t.equal(cache.running('shop', 'desired'), undefined, 'deleted');
});
