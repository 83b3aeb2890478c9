/**
 * What one admission review costs `serve` in CPU at a given request rate. The same captured
 * review (with a policy annotation that caps it) is sent straight to `serve` over keep-alive
 * HTTPS at a fixed rate; `serve` runs without a kubeconfig (no controller) and its CPU time
 * is read from /proc. Through the API server (bench/apiserver.ts) writes arrive one at a time
 * at 100/s; this says how much of their cost is the rate rather than the API server.
 *
 *   npm run bench -- rate     (BENCH_RATE_SECONDS per rate, default 10)
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startServe } from '../test/helpers/serve-process.js';
import { cpuMs, deploymentNodeOptions } from './proc.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/admission/v1.36/scaledobject-create.kubectl-apply.json', import.meta.url));
const RATES = [1, 10, 100, 1000];
const SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 10);

function post(port: number, agent: Agent, body: string): Promise<void> {
  return new Promise((done, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/mutate?timeout=5s',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', done);
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

/** `rate` requests a second for SECONDS, sent on schedule whatever the answers do. */
async function atRate(port: number, agent: Agent, body: string, rate: number): Promise<void> {
  const total = Math.max(1, Math.round(rate * SECONDS));
  const sent: Array<Promise<void>> = [];
  const t0 = performance.now();
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
      while (sent.length < due) sent.push(post(port, agent, body));
      if (sent.length >= total) {
        clearInterval(timer);
        done();
      }
    }, 2);
  });
  await Promise.all(sent);
}

export async function runRateBench(): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-rate-'));
  const serve = await startServe(['--cert-dir', join(dir, 'tls')], { KEDA_CARBON_LOG_LEVEL: 'info', NODE_OPTIONS: deploymentNodeOptions() });
  const agent = new Agent({ keepAlive: true, maxSockets: 8, ca: await readFile(join(dir, 'tls', 'ca.crt'), 'utf8') });
  const review = JSON.parse(await readFile(FIXTURE, 'utf8'));
  review.request.object.metadata.annotations = { 'keda-carbon.io/environmental-impact': '{"carbon":[{"measuredEmission":0,"allowedMaxReplicaCount":1}]}' };
  const body = JSON.stringify(review);
  try {
    for (let i = 0; i < 300; i++) await post(serve.port, agent, body);
    const figures: Record<string, number> = {};
    for (const rate of RATES) {
      const before = await cpuMs(serve.child.pid!);
      await atRate(serve.port, agent, body, rate);
      figures[`cpuMsPerRequestAt${rate}PerS`] = Math.round((((await cpuMs(serve.child.pid!)) - before) / Math.round(rate * SECONDS)) * 100) / 100;
    }
    return figures;
  } finally {
    agent.destroy();
    await serve.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runRateBench().then(
    (rate) => process.stdout.write(`${JSON.stringify({ rate })}\n`),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}
