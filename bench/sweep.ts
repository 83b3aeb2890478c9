/**
 * The re-touch controller over 10,000 ScaledObjects from the local fake Kubernetes API
 * (listed with limit=500, then watched). Three processes, so each figure measures one thing:
 * the fake API (its JSON encoding is not our cost), the controller (whose CPU time and peak
 * RSS are ours), and this one, which only orchestrates. Prints figures; asserts nothing.
 *
 *   node .bench-build/bench/sweep.js          (after `tsc -p tsconfig.bench.json`)
 *   npm run bench -- sweep                     (through bench/run.ts)
 *
 * BENCH_PROFILE=DIR writes the controller's CPU profile of each step (start, pass, band,
 * churn) and a heap snapshot at the end, when its RSS has peaked, into DIR: open them in
 * Chrome DevTools. The profiler costs CPU time, so figures from such a run are not comparable.
 * BENCH_NODE_OPTIONS replaces the Deployment's NODE_OPTIONS for the controller, to compare settings.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { pino } from 'pino';
import { kubeApiFromUrl } from '../src/cluster/api.js';
import { Controller } from '../src/cluster/controller.js';
import { EventRecorder } from '../src/cluster/events.js';
import { FakeKube, type FakeObject } from '../test/helpers/fake-kube.js';
import { NamespaceCache } from '../src/cluster/namespaces.js';
import { ObjectCache } from '../src/cluster/objects.js';
import { PoliteClient } from '../src/cluster/polite.js';
import { parseConfigText } from '../src/config/config.js';
import { deploymentNodeOptions } from './proc.js';

const OBJECTS = 10_000;
const NAMESPACES = 100;
/** Namespaces whose objects get an out-of-date cap in the "band change" run. */
const STALE_NAMESPACES = 25;
const HOUR = 3_600_000;
const DECLARED = 10;
const CAP = 3;

type Message = { cmd: string; [k: string]: unknown };

function statusLine(cap: number, intensity: number): string {
  return JSON.stringify({
    cap,
    declared: DECLARED,
    intensity,
    signal: 'unknown',
    source: 'bench:zone',
    dataTime: null,
    rule: cap === CAP ? 'measuredEmission>=300' : null,
    ecoMode: 'on',
    mode: 'enforce',
    evaluatedAt: '2026-11-23T10:00:00.000Z',
  });
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
      triggers: [
        {
          type: 'prometheus',
          metadata: { serverAddress: 'http://prometheus.monitoring:9090', query: `sum(rate(http_requests_total{app="${name}"}[2m]))`, threshold: '100' },
        },
      ],
    },
  };
}

/** Child 1: the fake API, with a webhook stand-in that applies the cap on every touch. */
async function serveFake(): Promise<void> {
  const fake = new FakeKube();
  fake.recordBodies = false;
  fake.keepHistory = false;
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
  const edit = (filter: (n: number) => boolean, change: (o: FakeObject) => FakeObject) => {
    for (const key of [...fake.objects.scaledobjects.keys()]) {
      const n = Number(key.slice('bench-'.length, key.indexOf('/')));
      if (filter(n)) fake.updateObject('scaledobjects', key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1), change);
    }
  };
  process.on('message', (m: Message) => {
    if (m.cmd === 'stale') {
      // As if these had been written while the grid was clean: cap 10, now out of date.
      edit(
        (n) => n < STALE_NAMESPACES,
        (o) => ({
          ...o,
          spec: { ...o.spec, maxReplicaCount: DECLARED },
          metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, 'keda-carbon.io/status': statusLine(DECLARED, 120) } },
        }),
      );
      process.send!({ cmd: 'stale-done' });
    } else if (m.cmd === 'churn') {
      // An edit to every object that leaves its cap alone (a label, a trigger): 10,000 watch events.
      edit(
        () => true,
        (o) => ({ ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, churn: String(m.round) } } }),
      );
      process.send!({ cmd: 'churn-done' });
    } else if (m.cmd === 'counts') {
      process.send!({ cmd: 'counts', counts: { ...fake.counts } });
      for (const k of Object.keys(fake.counts) as Array<keyof typeof fake.counts>) fake.counts[k] = 0;
    } else if (m.cmd === 'exit') {
      void fake.close().then(() => process.exit(0));
    }
  });
  process.send!({ cmd: 'ready', url });
}

/** A logger that remembers message names, so the controller child can wait for one. */
function watchedLogger() {
  const seen: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      seen.push(String((JSON.parse(String(chunk)) as { msg?: string }).msg));
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), seen };
}

/** CPU profiles per step and a heap snapshot at the end, when BENCH_PROFILE names a directory. */
function stepProfiler(dir: string | undefined) {
  if (!dir) return { begin: async () => undefined, end: async (_step: string) => undefined, heap: () => undefined };
  mkdirSync(dir, { recursive: true });
  const session = new Session();
  session.connect();
  let running = false;
  return {
    async begin() {
      if (running) await session.post('Profiler.stop');
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      running = true;
    },
    async end(step: string) {
      if (!running) return;
      running = false;
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(join(dir, `controller-${step}.cpuprofile`), JSON.stringify(profile));
    },
    heap: () => void writeHeapSnapshot(join(dir, 'controller-peak.heapsnapshot')),
  };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 2));
}

/** Child 2: the controller, whose CPU time and peak RSS are the figures. */
async function controllerChild(): Promise<void> {
  const config = parseConfigText(
    'policies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]\ntouch:\n  namespaceSelector: "bench!=no"\n',
    'bench',
  );
  const { logger, seen } = watchedLogger();
  const profiler = stepProfiler(process.env.BENCH_PROFILE);
  let controller: Controller | undefined;
  let objects: ObjectCache | undefined;
  let mark = { cpu: process.cpuUsage(), t: performance.now() };
  const ask = (m: Message) => process.send!(m);
  const measured = (extra: Record<string, unknown> = {}) => {
    const cpu = process.cpuUsage(mark.cpu);
    return {
      wallMs: performance.now() - mark.t,
      cpuMs: (cpu.user + cpu.system) / 1000,
      peakRssMB: process.resourceUsage().maxRSS / 1024,
      userMs: cpu.user / 1000,
      heapMB: process.memoryUsage().heapTotal / 2 ** 20,
      newSpaceMB: (getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0) / 2 ** 20,
      counts: { ...controller!.counts },
      events: objects!.informers.get('scaledobjects')!.counts.events,
      lists: objects!.informers.get('scaledobjects')!.counts.lists,
      ...extra,
    };
  };
  process.on('message', async (m: Message) => {
    if (m.cmd === 'start') {
      const api = kubeApiFromUrl(m.url as string);
      const namespaces = new NamespaceCache({ api, logger });
      namespaces.start();
      await namespaces.whenSynced();
      // A rate limit far above the default: the figures are our cost, not a polite wait.
      const client = new PoliteClient(api, { qps: 100_000, burst: 100_000, maxInFlight: 8 });
      const events = new EventRecorder(client, logger, 'bench');
      const now = Date.now();
      // 400 from an hour ago to six hours ahead: with the current hour's point alone, a run
      // that crossed the hour saw no data, every cap became due, and the stand-in webhook
      // (which caps to 3 whatever the data) left 7,700 touches unapplied and the run waiting.
      const hour = now - (now % HOUR);
      const points = Array.from({ length: 8 }, (_, i) => ({ timestamp: hour + (i - 1) * HOUR, durationMinutes: 60, gCO2eqPerKWh: 400 }));
      const snapshot = { source: 'bench:zone', fetchedAt: now, points, maxDataAgeMs: 2 * HOUR };
      objects = new ObjectCache({ api, logger, onChange: (...c) => controller?.objectChanged(...c), onSynced: (p, r) => controller?.listed(p, r) });
      controller = new Controller({ objects, namespaces, client, events, config: () => config, carbon: { snapshot: () => snapshot }, logger });
      await profiler.begin();
      mark = { cpu: process.cpuUsage(), t: performance.now() };
      controller.start(new AbortController().signal);
      await until(() => seen.includes('sweep finished'));
      await profiler.end('start');
      ask({ cmd: 'measured', ...measured() });
    } else if (m.cmd === 'pass') {
      await profiler.begin();
      mark = { cpu: process.cpuUsage(), t: performance.now() };
      controller!.reconfigure();
      await until(() => seen.includes('cache pass finished'));
      await profiler.end('pass');
      ask({ cmd: 'measured', ...measured() });
    } else if (m.cmd === 'mark') {
      await profiler.begin();
      mark = { cpu: process.cpuUsage(), t: performance.now() };
      ask({ cmd: 'marked' });
    } else if (m.cmd === 'wait') {
      const events = m.events as number;
      await until(() => objects!.informers.get('scaledobjects')!.counts.events >= events && controller!.counts.changed >= (m.changed as number));
      await controller!.idle();
      const figures = measured();
      await profiler.end(m.step as string);
      if (m.step === 'churn') profiler.heap();
      ask({ cmd: 'measured', ...figures });
    } else if (m.cmd === 'exit') {
      process.exit(0);
    }
  });
}

/** The controller runs with the Deployment's NODE_OPTIONS (its heap settings move its RSS); the fake with none. */
function child(role: string): ChildProcess {
  const env = role === '--controller' ? { ...process.env, NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? deploymentNodeOptions() } : process.env;
  return fork(fileURLToPath(import.meta.url), [role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env });
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

interface Measured {
  wallMs: number;
  cpuMs: number;
  peakRssMB: number;
  events: number;
  lists: number;
  counts: { changed: number; touched: number; evaluated: number };
  userMs: number;
  heapMB: number;
  newSpaceMB: number;
}

async function ask(c: ChildProcess, message: Message, reply = 'measured'): Promise<Message> {
  const answer = next(c, reply);
  c.send(message);
  return answer;
}

/**
 * Fill the cache and decide all 10,000 (no writes: every cap is right), a pass over the
 * cache alone, 2,500 caps made out of date by watch events and touched, then an edit to
 * every object that changes no cap: 10,000 watch events, no writes, no list.
 */
export async function runSweepBench(): Promise<Record<string, number>> {
  const fake = child('--fake');
  const ctl = child('--controller');
  try {
    const { url } = await next(fake, 'ready');
    const counts = async () => ((await ask(fake, { cmd: 'counts' }, 'counts')) as unknown as { counts: FakeKube['counts'] }).counts;
    const start = (await ask(ctl, { cmd: 'start', url })) as unknown as Measured;
    const startCounts = await counts();
    const pass = (await ask(ctl, { cmd: 'pass' })) as unknown as Measured;
    const passCounts = await counts();
    await ask(ctl, { cmd: 'mark' }, 'marked');
    await ask(fake, { cmd: 'stale' }, 'stale-done');
    const staleObjects = (STALE_NAMESPACES * OBJECTS) / NAMESPACES;
    // The edits and then our touches each come back as a watch event.
    const band = (await ask(ctl, { cmd: 'wait', events: pass.events + 2 * staleObjects, changed: staleObjects, step: 'band' })) as unknown as Measured;
    const bandCounts = await counts();
    await ask(ctl, { cmd: 'mark' }, 'marked');
    await ask(fake, { cmd: 'churn', round: 1 }, 'churn-done');
    const churn = (await ask(ctl, { cmd: 'wait', events: band.events + OBJECTS, changed: 0, step: 'churn' })) as unknown as Measured;
    const churnCounts = await counts();
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      objects: start.counts.evaluated,
      startWallMs: round(start.wallMs),
      startCpuMs: round(start.cpuMs),
      startApiCalls: startCounts.requests,
      startWrites: startCounts.patches,
      cachePassWallMs: round(pass.wallMs),
      cachePassCpuMs: round(pass.cpuMs),
      cachePassApiCalls: passCounts.requests,
      bandChangeObjectsOutOfDate: staleObjects,
      bandChangeWallMs: round(band.wallMs),
      bandChangeCpuMs: round(band.cpuMs),
      bandChangeApiCalls: bandCounts.requests,
      bandChangeWrites: bandCounts.patches,
      bandChangeEvents: bandCounts.events,
      bandChangeCapsChanged: band.counts.changed - pass.counts.changed,
      churnWatchEvents: churn.events - band.events,
      churnWallMs: round(churn.wallMs),
      churnCpuMs: round(churn.cpuMs),
      churnApiCalls: churnCounts.requests,
      churnWrites: churnCounts.patches,
      listsAfterStart: churn.lists - start.lists,
      peakRssMB: round(churn.peakRssMB),
      ...(process.env.BENCH_STAGES
        ? {
            startRssMB: round(start.peakRssMB),
            passRssMB: round(pass.peakRssMB),
            bandRssMB: round(band.peakRssMB),
            bandUserMs: round(band.userMs),
            startHeapMB: round(start.heapMB),
            passHeapMB: round(pass.heapMB),
            bandHeapMB: round(band.heapMB),
            churnHeapMB: round(churn.heapMB),
            startNewSpaceMB: round(start.newSpaceMB),
            churnNewSpaceMB: round(churn.newSpaceMB),
          }
        : {}),
    };
  } finally {
    fake.send({ cmd: 'exit' });
    ctl.send({ cmd: 'exit' });
  }
}

const role = process.argv[2];
if (role === '--fake') void serveFake();
else if (role === '--controller') void controllerChild();
else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runSweepBench().then(
    (figures) => process.stdout.write(`${JSON.stringify({ sweep: figures }, null, 2)}\n`),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}
