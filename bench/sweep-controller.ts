/**
 * The sweep benchmark's controller process (forked by bench/sweep.ts): the figures are its CPU
 * time and peak RSS. It answers the orchestrator's messages (start, pass, mark, wait, exit)
 * with what each step cost. BENCH_PROFILE=DIR writes a CPU profile per step and a heap
 * snapshot at the end into DIR.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { pino } from 'pino';
import { kubeApiFromUrl } from '../src/cluster/api.js';
import { Controller } from '../src/cluster/controller.js';
import { EventRecorder } from '../src/cluster/events.js';
import { NamespaceCache } from '../src/cluster/namespaces.js';
import { ObjectCache } from '../src/cluster/objects.js';
import { PoliteClient } from '../src/cluster/polite.js';
import { parseConfigText } from '../src/config/config.js';

const HOUR = 3_600_000;

export type Message = { cmd: string; [k: string]: unknown };

/** What one step cost the controller, as it answers the orchestrator. */
export interface Measured {
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
export async function controllerChild(): Promise<void> {
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

if (process.argv[2] === '--controller') void controllerChild();
