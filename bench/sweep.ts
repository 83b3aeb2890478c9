/**
 * The re-touch sweep over 10,000 ScaledObjects served page by page (limit 500) by the local
 * fake Kubernetes API. Three processes, so each figure measures one thing: the fake API
 * (its JSON encoding is not our cost), the sweeper (whose CPU time and peak RSS are ours),
 * and this one, which only orchestrates. Prints figures; asserts nothing.
 *
 *   node .bench-build/bench/sweep.js          (after `tsc -p tsconfig.bench.json`)
 *   npm run bench -- sweep                     (through bench/run.ts)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { kubeApiFromUrl } from '../src/cluster/api.js';
import { EventRecorder } from '../src/cluster/events.js';
import { FakeKube, type FakeObject } from '../test/helpers/fake-kube.js';
import { NamespaceCache } from '../src/cluster/namespaces.js';
import { PoliteClient } from '../src/cluster/polite.js';
import { runSweep } from '../src/cluster/sweep.js';
import { parseConfigText } from '../src/config/config.js';
import { silentLogger } from '../src/log.js';

const OBJECTS = 10_000;
const NAMESPACES = 100;
/** Namespaces whose objects carry an out-of-date cap in the "band change" run. */
const STALE_NAMESPACES = 25;
const HOUR = 3_600_000;
const DECLARED = 10;
const CAP = 3;

type Message = { cmd: string; [k: string]: unknown };

function statusLine(cap: number, intensity: number): string {
  return JSON.stringify({ cap, declared: DECLARED, intensity, source: 'bench:zone', dataTime: null, rule: cap === CAP ? 'measuredEmission>=300' : null, ecoMode: 'on', evaluatedAt: '2026-11-23T10:00:00.000Z' });
}

/** An object as our webhook leaves it at `intensity` (capped to 3 at >= 300). */
function scaledObject(ns: string, name: string, cap: number, intensity: number): FakeObject {
  return {
    metadata: {
      name,
      namespace: ns,
      labels: { app: name, tier: 'web' },
      annotations: { 'keda-carbon.io/declared-max-replica-count': String(DECLARED), 'keda-carbon.io/status': statusLine(cap, intensity) },
    },
    spec: {
      scaleTargetRef: { name, kind: 'Deployment', apiVersion: 'apps/v1' },
      minReplicaCount: 1,
      maxReplicaCount: cap,
      pollingInterval: 30,
      triggers: [{ type: 'prometheus', metadata: { serverAddress: 'http://prometheus.monitoring:9090', query: `sum(rate(http_requests_total{app="${name}"}[2m]))`, threshold: '100' } }],
    },
  };
}

/** Child 1: the fake API, with a webhook stand-in that applies the cap on every touch. */
async function serveFake(): Promise<void> {
  const fake = new FakeKube();
  fake.recordBodies = false;
  for (let n = 0; n < NAMESPACES; n++) fake.setNamespace(`bench-${String(n).padStart(2, '0')}`, { 'keda-carbon.io/policy': 'standard' });
  const perNs = OBJECTS / NAMESPACES;
  for (let i = 0; i < OBJECTS; i++) {
    const ns = `bench-${String(Math.floor(i / perNs)).padStart(2, '0')}`;
    fake.addObject('scaledobjects', scaledObject(ns, `app-${String(i).padStart(5, '0')}`, CAP, 400));
  }
  fake.admit = (_plural, obj) => {
    obj.spec = { ...obj.spec, maxReplicaCount: CAP };
    obj.metadata.annotations = { ...obj.metadata.annotations, 'keda-carbon.io/status': statusLine(CAP, 400) };
    return obj;
  };
  const url = await fake.start();
  process.on('message', (m: Message) => {
    if (m.cmd === 'stale') {
      // As if these had been admitted while the grid was clean: cap 10, now out of date.
      for (const [key, obj] of fake.objects.scaledobjects) {
        const n = Number(key.slice('bench-'.length, key.indexOf('/')));
        if (n < STALE_NAMESPACES) {
          obj.spec = { ...obj.spec, maxReplicaCount: DECLARED };
          obj.metadata.annotations = { ...obj.metadata.annotations, 'keda-carbon.io/status': statusLine(DECLARED, 120) };
        }
      }
      process.send!({ cmd: 'stale-done' });
    } else if (m.cmd === 'counts') {
      process.send!({ cmd: 'counts', counts: { ...fake.counts } });
      for (const k of Object.keys(fake.counts) as Array<keyof typeof fake.counts>) fake.counts[k] = 0;
    } else if (m.cmd === 'exit') {
      void fake.close().then(() => process.exit(0));
    }
  });
  process.send!({ cmd: 'ready', url });
}

/** Child 2: the sweeper, whose CPU time and peak RSS are the figures. */
async function sweeper(): Promise<void> {
  const config = parseConfigText('policies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]\n', 'bench');
  let url = '';
  const ask = (m: Message) => process.send!(m);
  process.on('message', async (m: Message) => {
    if (m.cmd === 'url') {
      url = m.url as string;
      const api = kubeApiFromUrl(url);
      const namespaces = new NamespaceCache({ api, logger: silentLogger });
      namespaces.start();
      await namespaces.whenSynced();
      // A rate limit far above the default: the figures are our cost, not a polite wait.
      const client = new PoliteClient(api, { qps: 100_000, burst: 100_000, maxInFlight: 8 });
      const events = new EventRecorder(client, silentLogger, 'bench');
      const now = Date.now();
      const carbon = { snapshot: () => ({ source: 'bench:zone', fetchedAt: now, points: [{ timestamp: now - (now % HOUR), durationMinutes: 60, gCO2eqPerKWh: 400 }], maxDataAgeMs: 2 * HOUR }) };
      const deps = { client, config: () => config, carbon, namespaces, events, clock: { now: Date.now, setTimeout: (f: () => void, ms: number) => setTimeout(f, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout) }, logger: silentLogger };
      (globalThis as { benchDeps?: unknown }).benchDeps = { deps, namespaces };
      ask({ cmd: 'ready' });
    } else if (m.cmd === 'sweep') {
      const { deps } = (globalThis as { benchDeps?: { deps: Parameters<typeof runSweep>[0] } }).benchDeps!;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const result = await runSweep(deps, { reason: 'bench' });
      const wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      ask({ cmd: 'swept', wallMs, cpuMs: (cpu.user + cpu.system) / 1000, stats: result.stats, peakRssMB: process.resourceUsage().maxRSS / 1024 });
    } else if (m.cmd === 'exit') {
      process.exit(0);
    }
  });
}

function child(role: string): ChildProcess {
  return fork(fileURLToPath(import.meta.url), [role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function next(c: ChildProcess, cmd: string): Promise<Message> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Message) => {
      if (m.cmd !== cmd) return;
      c.off('message', onMessage);
      c.off('exit', onExit);
      resolve(m);
    };
    const onExit = (code: number | null) => reject(new Error(`bench child exited with ${code} while waiting for ${cmd}`));
    c.on('message', onMessage);
    c.once('exit', onExit);
  });
}

/** Two sweeps over 10,000 objects: every cap right (no writes), then 2,500 caps out of date. */
export async function runSweepBench(): Promise<Record<string, number>> {
  const fake = child('--fake');
  const sweep = child('--sweeper');
  try {
    const { url } = await next(fake, 'ready');
    const sweeperReady = next(sweep, 'ready');
    sweep.send({ cmd: 'url', url });
    await sweeperReady;
    fake.send({ cmd: 'counts' });
    await next(fake, 'counts'); // reset after the namespace list

    const run = async () => {
      const swept = next(sweep, 'swept');
      sweep.send({ cmd: 'sweep' });
      const s = await swept;
      const counted = next(fake, 'counts');
      fake.send({ cmd: 'counts' });
      const { counts } = (await counted) as unknown as { counts: FakeKube['counts'] };
      return { s: s as unknown as { wallMs: number; cpuMs: number; peakRssMB: number; stats: { seen: number; touched: number; changed: number; pages: number } }, counts };
    };
    const same = await run();
    const staled = next(fake, 'stale-done');
    fake.send({ cmd: 'stale' });
    await staled;
    const changed = await run();
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      objects: same.s.stats.seen,
      pages: same.s.stats.pages,
      noChangeWallMs: round(same.s.wallMs),
      noChangeCpuMs: round(same.s.cpuMs),
      noChangeApiCalls: same.counts.requests,
      noChangeWrites: same.counts.patches,
      bandChangeObjectsOutOfDate: (STALE_NAMESPACES * OBJECTS) / NAMESPACES,
      bandChangeWallMs: round(changed.s.wallMs),
      bandChangeCpuMs: round(changed.s.cpuMs),
      bandChangeApiCalls: changed.counts.requests,
      bandChangeWrites: changed.counts.patches,
      bandChangeEvents: changed.counts.events,
      bandChangeCapsChanged: changed.s.stats.changed,
      peakRssMB: round(changed.s.peakRssMB),
    };
  } finally {
    fake.send({ cmd: 'exit' });
    sweep.send({ cmd: 'exit' });
  }
}

const role = process.argv[2];
if (role === '--fake') void serveFake();
else if (role === '--sweeper') void sweeper();
else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runSweepBench().then(
    (figures) => process.stdout.write(`${JSON.stringify({ sweep: figures }, null, 2)}\n`),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}
