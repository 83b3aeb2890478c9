/**
 * The memory of the whole `serve` process (webhook, TLS, metrics, carbon store, and the
 * leader's controller with its object cache) holding 10,000 ScaledObjects: the same local
 * fake API as the sweep benchmark (bench/sweep-fake.ts), `serve` as its own process with the
 * Deployment's heap setting, RSS read from /proc. The sweep benchmark measures the controller
 * alone; this is what the Pod's memory request and limit must hold.
 *
 *   npm run bench -- footprint    (BENCH_FOOTPRINT_SECONDS: how long to watch it, default 20)
 */
import { fork } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServe } from '../test/helpers/serve-process.js';
import { deploymentNodeOptions, quantile, rssMiB } from './proc.js';

const SECONDS = Number(process.env.BENCH_FOOTPRINT_SECONDS ?? 20);
const SWEEP_FAKE = fileURLToPath(new URL('./sweep-fake.js', import.meta.url));

async function until(what: string, cond: () => boolean, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`footprint: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runFootprintBench(): Promise<Record<string, unknown>> {
  const fake = fork(SWEEP_FAKE, ['--fake', '10000'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-footprint-'));
  try {
    const url = await new Promise<string>((done, fail) => {
      fake.on('message', (m: { cmd: string; url?: string }) => m.cmd === 'ready' && done(m.url!));
      fake.once('exit', (code) => fail(new Error(`the fake API exited with ${code}`)));
    });
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: fake, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]\nusers: [{name: fake, user: {}}]\ncontexts: [{name: fake, context: {cluster: fake, user: fake}}]\ncurrent-context: fake\n`,
    );
    const now = Date.now();
    const forecast = join(dir, 'forecast.json');
    await writeFile(forecast, JSON.stringify([{ timestamp: new Date(now - (now % 3_600_000)).toISOString(), duration: 120, value: 400 }]));
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      `intensity: {provider: file, path: ${forecast}, refreshInterval: 1m, maxDataAge: 2h}\npolicies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]\ntouch:\n  namespaceSelector: "bench!=no"\n`,
    );
    const serve = await startServe(['--kubeconfig', kubeconfig, '--cert-dir', join(dir, 'tls'), '--config', config], {
      POD_NAMESPACE: 'bench-00',
      KEDA_CARBON_LOG_LEVEL: 'info',
      NODE_OPTIONS: deploymentNodeOptions(),
    });
    try {
      const started = Date.now();
      await until('the first sweep over the cache', () => serve.logs.some((l) => l.msg === 'sweep finished')).catch((err: Error) => {
        throw new Error(`${err.message}; serve's last lines: ${JSON.stringify(serve.logs.slice(-5))}`);
      });
      const sweep = serve.logs.find((l) => l.msg === 'sweep finished')!;
      const filledS = Math.round((Date.now() - started) / 100) / 10;
      const samples: number[] = [];
      for (let s = 0; s < SECONDS; s++) {
        await new Promise((r) => setTimeout(r, 1000));
        samples.push((await rssMiB(serve.child.pid!)).rss);
      }
      const { peak } = await rssMiB(serve.child.pid!);
      samples.sort((a, b) => a - b);
      return {
        objects: sweep.seen,
        sweepQueued: sweep.queued,
        cacheFilledS: filledS,
        steadyRssMiB: { median: Math.round(quantile(samples, 0.5)), max: Math.round(quantile(samples, 1)), seconds: SECONDS },
        peakRssMiB: Math.round(peak),
      };
    } finally {
      await serve.stop();
    }
  } finally {
    fake.send({ cmd: 'exit' });
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runFootprintBench().then(
    (footprint) => process.stdout.write(`${JSON.stringify({ footprint })}\n`),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}
