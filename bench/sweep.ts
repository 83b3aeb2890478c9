/**
 * The re-touch controller over 10,000 ScaledObjects from the local fake Kubernetes API
 * (listed with limit=500, then watched). Three processes, so each figure measures one thing:
 * the fake API (bench/sweep-fake.ts; its JSON encoding is not our cost), the controller
 * (whose CPU time and peak RSS are ours), and this one, which only orchestrates. Prints
 * figures; asserts nothing.
 *
 *   node .bench-build/bench/sweep.js          (after `tsc -p tsconfig.bench.json`)
 *   npm run bench -- sweep                     (through bench/run.ts)
 *
 * BENCH_SWEEP_OBJECTS=10000,25000,50000 runs each count in turn (100 objects per namespace,
 * a quarter of the namespaces out of date in the band change) and adds the figures per
 * object, the RSS above a controller that listed nothing (measured first, in the same run).
 * BENCH_PROFILE=DIR writes the controller's (bench/sweep-controller.ts) CPU profile of each
 * step (start, pass, band, churn) and a heap snapshot at the end, when its RSS has peaked, into DIR: open them in
 * Chrome DevTools. The profiler costs CPU time, so figures from such a run are not comparable.
 * BENCH_NODE_OPTIONS replaces the Deployment's NODE_OPTIONS for the controller, to compare settings.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../src/cli/io.js';
import type { FakeKube } from '../test/helpers/fake-kube.js';
import { deploymentNodeOptions, rssMiB } from './proc.js';
import type { Measured, Message } from './sweep-controller.js';
import { OBJECTS_PER_NAMESPACE, staleNamespaces } from './sweep-fake.js';

/** The count `npm run bench -- sweep` measures unless BENCH_SWEEP_OBJECTS says otherwise. */
const DEFAULT_OBJECTS = 10_000;

/**
 * The controller runs with the Deployment's NODE_OPTIONS (its heap settings move its RSS).
 * The fake gets a heap large enough for 50,000 objects and their list pages: it is not measured.
 */
function child(role: '--fake' | '--controller', objects = 0): ChildProcess {
  if (role === '--fake') {
    const file = fileURLToPath(new URL('./sweep-fake.js', import.meta.url));
    return fork(file, [role, String(objects)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [...process.execArgv, '--max-old-space-size=4096'],
    });
  }
  const env = { ...process.env, NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? deploymentNodeOptions() };
  return fork(fileURLToPath(new URL('./sweep-controller.js', import.meta.url)), [role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env });
}

function next(c: ChildProcess, cmd: string): Promise<Message> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Message) => {
      if (m.cmd !== cmd) return;
      c.off('message', onMessage);
      c.off('exit', onExit);
      resolve(m);
    };
    const onExit = (code: number | null, signal: string | null) => reject(new Error(`bench child exited with ${code ?? signal} while waiting for ${cmd}`));
    c.on('message', onMessage);
    c.once('exit', onExit);
  });
}

async function ask(c: ChildProcess, message: Message, reply = 'measured'): Promise<Message> {
  const answer = next(c, reply);
  c.send(message);
  return answer;
}

/** The controller's peak RSS from /proc every 100 ms: what there is to report if it dies on the way. */
function rssSampler(pid: number) {
  let peak = 0;
  const timer = setInterval(() => {
    rssMiB(pid).then(
      (r) => {
        if (r.peak > peak) peak = r.peak;
      },
      () => undefined,
    );
  }, 100);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

const round = (n: number, places = 1) => Math.round(n * 10 ** places) / 10 ** places;

/** BENCH_SWEEP_OBJECTS=10000,25000,50000: the counts to run, one after the other. */
export function sweepCounts(text: string | undefined): number[] {
  if (text === undefined || text.trim() === '') return [DEFAULT_OBJECTS];
  return text.split(',').map((part) => {
    const n = Number(part.trim());
    if (!/^\s*\d+\s*$/.test(part) || n < 4 * OBJECTS_PER_NAMESPACE || n > 1_000_000 || n % OBJECTS_PER_NAMESPACE !== 0) {
      throw new UsageError(`BENCH_SWEEP_OBJECTS: "${part}" is not a count of objects from 400 to 1000000 in hundreds (${OBJECTS_PER_NAMESPACE} per namespace)`);
    }
    return n;
  });
}

/** Peak RSS of a controller that started and listed no object: what every count's figure per object is above. */
export async function emptyControllerRssMB(): Promise<number> {
  const fake = child('--fake', 0);
  const ctl = child('--controller');
  try {
    const { url } = await next(fake, 'ready');
    return ((await ask(ctl, { cmd: 'start', url })) as unknown as Measured).peakRssMB;
  } finally {
    fake.send({ cmd: 'exit' });
    ctl.send({ cmd: 'exit' });
  }
}

/**
 * Fill the cache and decide all `objects` (no writes: every cap is right), a pass over the
 * cache alone, a quarter of the caps made out of date by watch events and touched, then an
 * edit to every object that changes no cap: one watch event each, no writes, no list.
 * If the controller dies on the way (a heap too small for the count), the step and the last
 * peak RSS read from /proc are the figures.
 */
export async function runSweepBench(objects = DEFAULT_OBJECTS, emptyRss?: number): Promise<Record<string, number | string>> {
  const fake = child('--fake', objects);
  const ctl = child('--controller');
  const rss = rssSampler(ctl.pid!);
  let step = 'start';
  try {
    const { url } = await next(fake, 'ready');
    const counts = async () => ((await ask(fake, { cmd: 'counts' }, 'counts')) as unknown as { counts: FakeKube['counts'] }).counts;
    const start = (await ask(ctl, { cmd: 'start', url })) as unknown as Measured;
    const startCounts = await counts();
    step = 'cache pass';
    const pass = (await ask(ctl, { cmd: 'pass' })) as unknown as Measured;
    const passCounts = await counts();
    step = 'band change';
    await ask(ctl, { cmd: 'mark' }, 'marked');
    await ask(fake, { cmd: 'stale' }, 'stale-done');
    const staleObjects = staleNamespaces(objects) * OBJECTS_PER_NAMESPACE;
    // The edits and then our touches each come back as a watch event.
    const band = (await ask(ctl, { cmd: 'wait', events: pass.events + 2 * staleObjects, changed: staleObjects, step: 'band' })) as unknown as Measured;
    const bandCounts = await counts();
    step = 'watch events';
    await ask(ctl, { cmd: 'mark' }, 'marked');
    await ask(fake, { cmd: 'churn', round: 1 }, 'churn-done');
    const churn = (await ask(ctl, { cmd: 'wait', events: band.events + objects, changed: 0, step: 'churn' })) as unknown as Measured;
    const churnCounts = await counts();
    return {
      objects: start.counts.evaluated,
      namespaces: objects / OBJECTS_PER_NAMESPACE,
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
      ...perObject(objects, staleObjects, { start, pass, band, churn }, emptyRss),
      ...(process.env.BENCH_STAGES ? stages({ start, pass, band, churn }) : {}),
    };
  } catch (err) {
    return { objects, failedAt: step, error: (err as Error).message, lastPeakRssMB: round(rss.peak()) };
  } finally {
    rss.stop();
    fake.send({ cmd: 'exit' });
    if (ctl.connected) ctl.send({ cmd: 'exit' });
  }
}

type Steps = Record<'start' | 'pass' | 'band' | 'churn', Measured>;

/** The figures divided by what they are for: RSS above the empty controller, CPU per object decided or touched. */
function perObject(objects: number, stale: number, s: Steps, emptyRss: number | undefined): Record<string, number> {
  return {
    ...(emptyRss === undefined ? {} : { emptyControllerRssMB: round(emptyRss), rssPerObjectKB: round(((s.churn.peakRssMB - emptyRss) * 1024) / objects, 2) }),
    startCpuPerObjectUs: round((s.start.cpuMs * 1000) / objects),
    cachePassCpuPerObjectUs: round((s.pass.cpuMs * 1000) / objects),
    bandChangeCpuPerTouchUs: round((s.band.cpuMs * 1000) / stale),
    churnCpuPerEventUs: round((s.churn.cpuMs * 1000) / objects),
  };
}

function stages({ start, pass, band, churn }: Steps): Record<string, number> {
  return {
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
  };
}

/**
 * Every count of BENCH_SWEEP_OBJECTS in turn, each figure printed as it is measured, with the
 * load average at its end. False when the setting is bad or a count did not finish.
 */
export async function runSweepBenches(print: (figure: Record<string, unknown>) => void): Promise<boolean> {
  let counts: number[];
  try {
    counts = sweepCounts(process.env.BENCH_SWEEP_OBJECTS);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return false;
  }
  const emptyRss = await emptyControllerRssMB();
  let finished = true;
  for (const objects of counts) {
    const figures = await runSweepBench(objects, emptyRss);
    if ('failedAt' in figures) finished = false;
    print({ sweep: { ...figures, loadavg: loadavg().map((l) => round(l, 2)) } });
  }
  return finished;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runSweepBenches((figure) => process.stdout.write(`${JSON.stringify(figure, null, 2)}\n`)).then(
    (ok) => process.exit(ok ? 0 : 2),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
