import autocannon from 'autocannon';
import { distinctReviews } from './distinct-reviews.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateCertificates } from '../src/tls/certs.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const DISTINCT_REVIEWS = 5000;
const REVIEW = fileURLToPath(new URL('../../test/fixtures/admission/v1.36/scaledobject-create.kubectl-apply.json', import.meta.url));

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  /** CPU time (user + system) of the server process per answered request, in microseconds. */
  serverCpuUs: number;
}

/** User + system time of a process, from /proc (Linux), in microseconds. */
function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
}

type Mode = 'ours' | 'bare' | 'sized' | 'ours-nolog' | 'ours-nometrics' | 'ours-plain';
const VARIANTS: Mode[] = ['ours-nolog', 'ours-nometrics', 'ours-plain'];

function startTarget(mode: Mode, cert: string, key: string, body: string): Promise<{ child: ChildProcess; port: number }> {
  // BENCH_PROFILE=DIR: each server writes DIR/<mode>.cpuprofile when it is stopped
  const dir = process.env.BENCH_PROFILE;
  const profile = dir ? ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${mode}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...profile, `${HERE}server.js`, mode], {
    env: { ...process.env, BENCH_CERT: cert, BENCH_KEY: key, BENCH_BODY: body },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      const port = /^port (\d+)$/m.exec(String(d));
      if (port) resolve({ child, port: Number(port[1]) });
      else process.stderr.write(d);
    });
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
}

async function load(
  target: { port: number; child: ChildProcess },
  ca: string,
  body: string,
  opts: { duration: number; connections: number; overallRate?: number; bodies?: string[] },
): Promise<LoadResult> {
  const cpuBefore = cpuUs(target.child.pid!);
  let next = 0;
  const result = await autocannon({
    url: `https://127.0.0.1:${target.port}/mutate?timeout=10s`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    // Distinct reviews in turn, one per request, when there are several.
    ...(opts.bodies ? { requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, body: opts.bodies![next++ % opts.bodies!.length] }) }] } : {}),
    connections: opts.connections,
    duration: opts.duration,
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
    tlsOptions: { ca, servername: 'localhost' },
  } as autocannon.Options);
  return {
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    serverCpuUs: Math.round((cpuUs(target.child.pid!) - cpuBefore) / Math.max(1, result.requests.total)),
  };
}

/**
 * bare and ours in alternating rounds over DISTINCT_REVIEWS different UPDATE reviews (see
 * bench/distinct-reviews.ts), beside the one-body figures: what the answer cache is worth
 * when every review is new.
 */
async function distinctRounds(
  targets: ReadonlyArray<readonly [string, { port: number; child: ChildProcess }]>,
  ca: string,
  body: string,
  duration: number,
  rounds: number,
  summary: (rs: LoadResult[]) => LoadResult,
): Promise<Record<string, unknown>> {
  const bodies = distinctReviews(DISTINCT_REVIEWS);
  const runs: Record<string, LoadResult[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [mode, target] of targets) (runs[mode] ??= []).push(await load(target, ca, body, { duration, connections: 10, bodies }));
  }
  const bare = summary(runs.bare!);
  const ours = summary(runs.ours!);
  return {
    reviews: bodies.length,
    bodyBytes: Math.round(bodies.reduce((n, b) => n + b.length, 0) / bodies.length),
    bareMax: bare,
    oursMax: ours,
    throughputRatio: Math.round((ours.requestsPerSecond / bare.requestsPerSecond) * 1000) / 1000,
    cpuRatio: Math.round((bare.serverCpuUs / ours.serverCpuUs) * 1000) / 1000,
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Admission over HTTPS with keep-alive against a realistic ScaledObject review (a real
 * captured body with a policy annotation), next to the bare fastify endpoint. Both servers
 * run at once and are loaded in alternating rounds, and each figure is the median of its
 * rounds: on a shared 2-core VM the throughput of back-to-back runs drifts by 10-20%, and
 * alternating keeps that drift out of the ratio.
 */
export async function runAdmissionBench(duration = 5, rounds = 3): Promise<Record<string, unknown>> {
  const set = generateCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const review = JSON.parse(readFileSync(REVIEW, 'utf8'));
  review.request.object.metadata.annotations['keda-carbon.io/environmental-impact'] = '{"carbon":[{"measuredEmission":0,"allowedMaxReplicaCount":"50%"}]}';
  const body = JSON.stringify(review);
  const bare = await startTarget('bare', set.cert, set.key, body);
  const sized = await startTarget('sized', set.cert, set.key, body);
  const ours = await startTarget('ours', set.cert, set.key, body);
  // `ours` with its log line, its metrics or both left out: where its CPU per request goes.
  const variants = process.env.BENCH_ADMISSION_VARIANTS
    ? await Promise.all(VARIANTS.map(async (m) => [m, await startTarget(m, set.cert, set.key, body)] as const))
    : [];
  const targets = [['bare', bare], ['sized', sized], ['ours', ours], ...variants] as const;
  try {
    for (const [, target] of targets) await load(target, set.caCert, body, { duration: 2, connections: 10 }); // warm-up: JIT, TLS sessions
    const runs: Record<string, LoadResult[]> = {};
    for (let round = 0; round < rounds; round++) {
      for (const [mode, target] of targets) (runs[mode] ??= []).push(await load(target, set.caCert, body, { duration, connections: 10 }));
    }
    const summary = (rs: LoadResult[]): LoadResult => ({
      requestsPerSecond: median(rs.map((r) => r.requestsPerSecond)),
      p50Ms: median(rs.map((r) => r.p50Ms)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
      errors: rs.reduce((n, r) => n + r.errors, 0),
      non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
      serverCpuUs: median(rs.map((r) => r.serverCpuUs)),
    });
    const bareMax = summary(runs.bare!);
    const sizedMax = summary(runs.sized!);
    const oursMax = summary(runs.ours!);
    const variantCpuUs = Object.fromEntries(variants.map(([m]) => [m, summary(runs[m]!).serverCpuUs]));
    const distinct = await distinctRounds(
      [
        ['bare', bare],
        ['ours', ours],
      ],
      set.caCert,
      body,
      duration,
      rounds,
      summary,
    );
    const at1000 = async (target: { port: number; child: ChildProcess }) =>
      summary([await load(target, set.caCert, body, { duration: duration * 2, connections: 10, overallRate: 1000 })]);
    const ours1000 = await at1000(ours);
    const variantP99At1000Ms: Record<string, number> = {};
    // bare and sized too: what the same fixed rate costs an endpoint that computes nothing
    const compared = variants.length ? ([['bare', bare], ['sized', sized], ...variants] as const) : [];
    for (const [m, target] of compared) variantP99At1000Ms[m] = (await at1000(target)).p99Ms;
    return {
      bareMax,
      sizedMax,
      oursMax,
      ours1000,
      throughputRatio: Math.round((oursMax.requestsPerSecond / bareMax.requestsPerSecond) * 1000) / 1000,
      sizedRatio: Math.round((sizedMax.requestsPerSecond / bareMax.requestsPerSecond) * 1000) / 1000,
      // Robust to other load on the machine: the bare server's CPU per request over ours.
      cpuRatio: Math.round((bareMax.serverCpuUs / oursMax.serverCpuUs) * 1000) / 1000,
      ...(variants.length ? { variantCpuUs, variantP99At1000Ms } : {}),
      distinct,
      roundsRequestsPerSecond: runs.ours!.length,
      bodyBytes: body.length,
    };
  } finally {
    // SIGTERM lets a profiled server write its profile; each exits at once either way
    const stop = (child: ChildProcess) =>
      new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r).kill('SIGTERM')));
    await Promise.all(targets.map(([, target]) => stop(target.child)));
  }
}

/** The admission decision alone, in-process: what one review costs without HTTP and TLS. */
export async function runHandlerMicroBench(iterations = 50_000): Promise<{ microsecondsPerReview: number; iterations: number }> {
  const { handleAdmission } = await import('../src/admission/handler.js');
  const { loadConfigFile } = await import('../src/config/config.js');
  const { CarbonStore } = await import('../src/carbon/store.js');
  const { createSampleSource } = await import('../src/carbon/providers/sample.js');
  const { DEFAULT_INTENSITY } = await import('../src/config/intensity.js');
  const config = await loadConfigFile(undefined);
  const source = createSampleSource(DEFAULT_INTENSITY, { env: {} });
  const store = new CarbonStore({ source: source.name, maxDataAgeMs: 24 * 3_600_000 });
  store.update(await source.fetch(AbortSignal.timeout(1000)), Date.now());
  const review = JSON.parse(readFileSync(REVIEW, 'utf8'));
  review.request.object.metadata.annotations['keda-carbon.io/environmental-impact'] = '{"carbon":[{"measuredEmission":0,"allowedMaxReplicaCount":"50%"}]}';
  const deps = { config: () => config, carbon: store, now: Date.now };
  for (let i = 0; i < 5_000; i++) await handleAdmission(review, deps);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await handleAdmission(review, deps);
  const ns = Number(process.hrtime.bigint() - start);
  return { microsecondsPerReview: Math.round(ns / iterations / 10) / 100, iterations };
}

/**
 * CPU time of one outcome line ("cap set"), in-process: through pino's own formatting (a
 * child of the logger, which `lineWriter` does not know) and built by `outcomeLog`, each
 * into a destination that drops it (the formatting alone) and into the batched /dev/null
 * destination `serve` uses for stdout. Lines come 100 per turn of the event loop, as under load.
 */
export async function runOutcomeLineMicroBench(lines = 40_000): Promise<Record<string, number>> {
  const { pino } = await import('pino');
  const { openSync } = await import('node:fs');
  const { createLogger } = await import('../src/log.js');
  const { outcomeLog } = await import('../src/server/outcome-log.js');
  const body = { request: { namespace: 'probe', name: 'so-b2', dryRun: false } };
  const outcome = {
    review: {} as never,
    result: 'patched' as const,
    operation: 'CREATE',
    kind: 'ScaledObject',
    capChange: { from: 10, to: 5 },
    reason: 'policy "standard" (annotation): 600 gCO2eq/kWh >= p80 (390) -> cap 5 of 10 until the band changes',
  };
  const fd = openSync('/dev/null', 'w');
  const destinations = { dropped: () => ({ write() {} }), batched: () => pino.destination({ dest: fd, sync: false, minLength: 8192, periodicFlush: 100 }) };
  const out: Record<string, number[]> = {};
  for (let round = 0; round < 3; round++) {
    for (const [name, make] of Object.entries(destinations)) {
      for (const path of ['pino', 'built']) {
        const logger = createLogger({ destination: make() });
        const log = outcomeLog(path === 'pino' ? logger.child({}) : logger)!;
        const before = process.cpuUsage();
        for (let i = 0; i < lines; i++) {
          log(`req-${i}`, body, outcome);
          if (i % 100 === 99) await new Promise((r) => setImmediate(r));
        }
        const used = process.cpuUsage(before);
        (out[`${path}_${name}_cpuUsPerLine`] ??= []).push((used.user + used.system) / lines);
      }
    }
  }
  return Object.fromEntries(Object.entries(out).map(([k, xs]) => [k, Math.round(median(xs) * 100) / 100]));
}
