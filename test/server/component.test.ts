import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CarbonPipeline } from '../../src/carbon/pipeline.js';
import { loadConfigFile, parseConfigText } from '../../src/config/config.js';
import { buildApp, buildMetricsApp } from '../../src/server/app.js';
import { Components, type Component } from '../../src/server/component.js';
import { admissionListener, carbonComponent, intensityAnnouncement, metricsListener, PortInUseError } from '../../src/server/components.js';
import { createMetrics } from '../../src/server/metrics.js';
import { captureLogger } from '../helpers/log.js';
import { until } from '../helpers/until.js';

// The runner with the components serve runs: real listeners on 127.0.0.1, the sample carbon
// source. Each is wrapped only to write down when it started and stopped.

const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-components-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

function recorded(component: Component, events: string[]): Component {
  return {
    ...component,
    start: async () => {
      await component.start();
      events.push(`start ${component.name}`);
    },
    stop: async () => {
      await component.stop();
      events.push(`stop ${component.name}`);
    },
  };
}

async function parts(ports: { port?: number } = {}) {
  const { logger, lines } = captureLogger();
  const config = await loadConfigFile(undefined);
  const metrics = createMetrics();
  const pipeline = await CarbonPipeline.open(config.intensity, { env: {}, logger, metrics: metrics.carbon });
  let components: Components | undefined;
  const app = buildApp({
    admission: { config: () => config, carbon: pipeline.store, now: Date.now },
    readiness: () => components!.readiness(),
  });
  const list = {
    metrics: metricsListener(
      buildMetricsApp(metrics, () => pipeline.recordMetrics()),
      '127.0.0.1',
      0,
    ),
    admission: admissionListener(app, '127.0.0.1', ports.port ?? 0, logger),
    carbon: carbonComponent(pipeline, config.intensity, logger),
    announcement: intensityAnnouncement(pipeline.store, logger),
  };
  const use = (order: Component[], events: string[]) => {
    components = new Components(order.map((c) => recorded(c, events)));
    return components;
  };
  return { list, lines, use, config };
}

const answers = async (url: string) => (await fetch(url)).status;
const logged = (lines: string[], msg: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);

t.test('started in list order, stopped in reverse; readiness is built from the components', async (t) => {
  const { list, lines, use } = await parts();
  const events: string[] = [];
  const components = use([list.metrics, list.admission, list.carbon, list.announcement], events);
  await components.start();
  t.same(events, ['start metrics app', 'start admission app', 'start carbon pipeline', 'start intensity announcement']);
  t.equal(await answers(`http://127.0.0.1:${list.metrics.port()}/metrics`), 200, 'the metrics app listens');
  const ready = await fetch(`http://127.0.0.1:${list.admission.port()}/readyz`);
  t.equal(ready.status, 200);
  t.match(await ready.json(), { status: 'ready', carbon: { source: 'sample:sample' } }, "the carbon pipeline's share");
  await until(() => logged(lines, 'carbon intensity now applied').length === 1, 'the first data to be announced');

  components.stopServing(10_000);
  const stopping = await fetch(`http://127.0.0.1:${list.admission.port()}/readyz`);
  t.equal(stopping.status, 503, "the admission app's share: shutting down");
  t.match(await stopping.json(), { status: 'shutting down', carbon: { source: 'sample:sample' } });

  events.length = 0;
  await components.stop();
  t.same(events, ['stop intensity announcement', 'stop carbon pipeline', 'stop admission app', 'stop metrics app']);
  await t.rejects(fetch(`http://127.0.0.1:${list.metrics.port()}/metrics`), 'the metrics listener is closed');
  await components.stop();
  t.equal(events.length, 4, 'a second stop finds nothing left to stop');
});

t.test('a start that fails halfway stops what had started, last first, and throws its error', async (t) => {
  const taken = await parts();
  await taken.list.metrics.start();
  t.teardown(() => taken.list.metrics.stop());
  const port = taken.list.metrics.port();
  const { list, use } = await parts({ port });
  const events: string[] = [];
  const components = use([list.metrics, list.carbon, list.admission, list.announcement], events);
  await t.rejects(components.start(), new PortInUseError('port', '127.0.0.1', port));
  t.same(events, ['start metrics app', 'start carbon pipeline', 'stop carbon pipeline', 'stop metrics app'], 'the announcement never started');
  await t.rejects(fetch(`http://127.0.0.1:${list.metrics.port()}/metrics`), 'the metrics listener it had started is closed');
  t.equal(await answers(`http://127.0.0.1:${port}/metrics`), 200, 'what held the port is untouched');
});

t.test('a reloaded configuration reaches each component; the carbon pipeline re-opens only for a new intensity block', async (t) => {
  const { list, lines, use, config } = await parts();
  const components = use([list.carbon], []);
  await components.start();
  t.teardown(() => components.stop());
  const day = new Date();
  day.setUTCHours(0, 0, 0, 0);
  await writeFile(join(dir, 'b.json'), JSON.stringify([{ timestamp: day.toISOString(), duration: 48 * 60, value: 420 }]));

  components.reconfigure(config);
  components.reconfigure(parseConfigText(`intensity:\n  provider: file\n  path: ${join(dir, 'b.json')}\n`, 'reload.yaml'));
  await until(() => logged(lines, 'carbon source reconfigured').length > 0, 'the new source');
  t.same(
    logged(lines, 'carbon source reconfigured').map((l) => l.source),
    ['file:b.json'],
    'the unchanged block re-opened nothing',
  );
  t.match(components.readiness(), { serving: true, carbon: { source: 'file:b.json' } });
});
