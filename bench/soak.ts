/**
 * Soak `serve` with distinct policy annotations at and over the size limit, the load that
 * once grew the heap past the Pod's limit: every review carries a policy text no earlier
 * review had, so each one is parsed and offered to the parsed-policy cache. `serve` runs
 * as its own process with the Deployment's heap setting; its RSS is read from /proc.
 *
 * `npm run bench -- soak` (BENCH_SOAK_REQUESTS to change the count, default 200,000), or
 * after `tsc -p tsconfig.bench.json`, `node .bench-build/bench/soak.js`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cpuMs, deploymentNodeOptions, quantile, rssMiB } from './proc.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/admission/v1.36/scaledobject-create.kubectl-apply.json', import.meta.url));
const POLICY = 'keda-carbon.io/environmental-impact';
const LIMIT = 16 * 1024;
const CONCURRENCY = 8;

const SCHEDULES = Array.from({ length: 50 }, (_, i) => `"${i % 60} ${i % 24} * * 1-5"`).join(', ');

/** Four kinds in turn, each text unique: valid, valid with 50 cron lines, invalid, and 256 KiB. */
function policyText(i: number): string {
  const fill = (head: string, bytes: number) => `${head}# ${i} ${'x'.repeat(Math.max(0, bytes - head.length - 12))}`;
  const rule = 'carbon:\n- {measuredEmission: 300, allowedMaxReplicaCount: "50%"}\n';
  switch (i % 4) {
    case 0:
      return fill(rule, LIMIT);
    case 1:
      return fill(`${rule}ecoModeOff: {recurringSchedule: [${SCHEDULES}]}\n`, LIMIT);
    case 2:
      return fill(`${rule}onMissingData: sometimes\n`, LIMIT);
    default:
      return fill(rule, 256 * 1024);
  }
}

function post(port: number, agent: Agent, body: string): Promise<{ status: number; ms: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/mutate',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function startServe(certDir: string): Promise<{ pid: number; port: number; stop(): void }> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--cert-dir', certDir], {
    env: { ...process.env, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '', NODE_OPTIONS: deploymentNodeOptions(), KEDA_CARBON_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('keda-carbon webhook listening')) resolve(JSON.parse(line).port as number);
    });
  });
  return { pid: child.pid!, port, stop: () => child.kill('SIGKILL') };
}

/** The 1-minute load average: latencies measured on a shared machine need it next to them. */
const loadAverage = (): number => Number(loadavg()[0]!.toFixed(2));

export async function runSoakBench(requests = Number(process.env.BENCH_SOAK_REQUESTS ?? 200_000)): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-soak-'));
  const serve = await startServe(join(dir, 'tls'));
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca: await readFile(join(dir, 'tls', 'ca.crt'), 'utf8') });
  const template = JSON.parse(await readFile(FIXTURE, 'utf8'));
  const body = (i: number) => {
    template.request.uid = `soak-${i}`;
    template.request.object.metadata.annotations = { [POLICY]: policyText(i) };
    return JSON.stringify(template);
  };
  try {
    for (let i = 0; i < 200; i++) await post(serve.port, agent, body(0));
    const baseline = (await rssMiB(serve.pid)).rss;
    const cpuBefore = await cpuMs(serve.pid);
    const started = Date.now();
    const loadBefore = loadAverage();
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    let peak = baseline;
    let next = 1;
    const worker = async () => {
      while (next <= requests) {
        const i = next++;
        const { status, ms } = await post(serve.port, agent, body(i));
        latencies.push(ms);
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (i % 500 === 0) peak = Math.max(peak, (await rssMiB(serve.pid)).rss);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const final = (await rssMiB(serve.pid)).rss;
    const cpuPerRequest = Number(((await cpuMs(serve.pid)) - cpuBefore) / requests).toFixed(2);
    latencies.sort((a, b) => a - b);
    return {
      requests,
      statuses,
      rssMiB: { baseline: Math.round(baseline), peak: Math.round(Math.max(peak, final)), final: Math.round(final) },
      latencyMs: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: quantile(latencies, 1) },
      serveCpuMsPerRequest: Number(cpuPerRequest),
      wallSeconds: Math.round((Date.now() - started) / 1000),
      // Latencies are queueing on a shared machine when this is high: say so next to them.
      loadAverage: { before: loadBefore, after: loadAverage() },
    };
  } finally {
    agent.destroy();
    serve.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runSoakBench().then(
    (soak) => process.stdout.write(`${JSON.stringify({ soak }, null, 2)}\n`),
    (err) => {
      process.stderr.write(`${String(err?.stack ?? err)}\n`);
      process.exitCode = 1;
    },
  );
}
