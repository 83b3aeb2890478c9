import t from 'tap';
import type { ControllerCounts } from '../../src/cluster/reconcile.js';
import { PassReports } from '../../src/cluster/report.js';
import { createMetrics } from '../../src/server/metrics.js';
import { settle } from '../helpers/clock.js';
import { captureLogger } from '../helpers/log.js';

function setup() {
  const counts: ControllerCounts = { fullPasses: 0, relistPasses: 0, evaluated: 0, queued: 0, touched: 0, changed: 0, unapplied: 0, failed: 0, invalid: 0 };
  const { logger, lines } = captureLogger();
  const metrics = createMetrics();
  let release!: () => void;
  let idle = new Promise<void>((r) => (release = r));
  const reports = new PassReports({ counts, logger, metrics: metrics.controller, idle: () => idle });
  const logged = (msg: string) => lines.map((l) => JSON.parse(l)).filter((l) => l.msg === msg);
  const reset = () => (idle = new Promise<void>((r) => (release = r)));
  return { counts, reports, metrics, logged, release: () => release(), reset };
}

t.test('a batch is reported once the queue is idle, with what happened since it began; overlapping batches of a kind are one', async (t) => {
  const s = setup();
  s.counts.touched = 7; // before the batch: not its own
  s.reports.begin('sweep', 'became leader', 2);
  s.counts.evaluated += 2;
  s.counts.queued += 1;
  s.counts.touched += 1;
  s.counts.failed += 1;
  s.reports.begin('sweep', 'resync', 1);
  s.reports.end('sweep');
  s.reports.end('sweep');
  await settle();
  t.same(s.logged('sweep finished'), [], 'not before the queue is idle');
  s.release();
  await settle();
  const [line, ...more] = s.logged('sweep finished');
  t.same(more, [], 'reported once');
  t.match(line, { level: 40, reason: 'became leader; resync', seen: 2, queued: 1, touched: 1, changed: 0, failed: 1 }, 'a failure makes it a warning');
  t.match(s.counts, { fullPasses: 1, relistPasses: 1 });
  const sweeps = await s.metrics.registry.getSingleMetric('keda_carbon_sweeps_total')!.get();
  t.equal(sweeps.values.find((v) => v.labels.result === 'error')?.value, 1);
});

t.test('cache passes and namespace batches have their own lines; leadership lost drops what was open', async (t) => {
  const s = setup();
  s.reports.begin('cache', 'configuration reloaded', 3);
  s.reports.begin('namespace', 'namespace relabelled', 2, 'team');
  s.reports.begin('namespace', 'namespace relabelled', 1, 'shop');
  s.counts.invalid += 1;
  s.reports.end('cache');
  s.reports.end('namespace');
  s.release();
  await settle();
  t.match(s.logged('cache pass finished'), [{ level: 30, reason: 'configuration reloaded', invalid: 1 }]);
  t.match(s.logged('objects of a relabelled namespace evaluated'), [{ objects: 3, invalid: 1, namespaces: ['team', 'shop'] }]);
  t.equal(s.counts.relistPasses, 0, 'a pass over the cache is not a sweep');
  s.reset();
  s.reports.begin('sweep', 'became leader', 1);
  s.reports.end('sweep');
  s.reports.clear();
  s.release();
  await settle();
  t.same(s.logged('sweep finished'), [], 'nothing reported after leadership ended');
});
