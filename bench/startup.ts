import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI: what the image runs (`npm run build` first). */
const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface StartSample {
  /** From spawn to the first 200 of GET /healthz. */
  readyMs: number;
  /** CPU time (user + system) the process had spent when it first answered: robust to a loaded machine. */
  cpuMsAtReady: number;
  /** Resident memory once started and idle for a second. */
  idleRssMiB: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

function healthz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** User + system time of a process, from /proc (Linux), in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return Math.round(Number(line?.[1]) / 102.4) / 10;
}

/** One `serve` without cluster credentials: started, polled until /healthz answers 200, measured, stopped. */
async function startOnce(certDir: string): Promise<StartSample> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const env = { ...process.env };
  for (const name of ['KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'KEDA_CARBON_KUBECONFIG']) delete env[name];
  const started = process.hrtime.bigint();
  const args = [MAIN, 'serve', '--cert-dir', certDir, '--host', '127.0.0.1', '--port', String(port), '--metrics-port', String(metricsPort)];
  const child = spawn(process.execPath, args, { env, stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    while (!(await healthz(port))) {
      if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode} before it was ready`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const readyMs = Number(process.hrtime.bigint() - started) / 1e6;
    const cpuMsAtReady = cpuMs(child.pid!);
    await new Promise((r) => setTimeout(r, 1000));
    return { readyMs: Math.round(readyMs), cpuMsAtReady: Math.round(cpuMsAtReady), idleRssMiB: rssMiB(child.pid!) };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * `serve` from the built dist, no cluster: the first start in an empty certificate
 * directory (it makes a CA and a serving certificate), then `runs` starts that find them.
 */
export async function runStartupBench(runs = 7): Promise<Record<string, unknown>> {
  const certDir = await mkdtemp(join(tmpdir(), 'keda-carbon-startup-'));
  try {
    const first = await startOnce(certDir);
    const samples: StartSample[] = [];
    for (let i = 0; i < runs; i++) samples.push(await startOnce(certDir));
    const pick = (f: (s: StartSample) => number) => ({ median: median(samples.map(f)), max: Math.max(...samples.map(f)) });
    return {
      firstStart: first,
      withCertificates: { runs, readyMs: pick((s) => s.readyMs), cpuMsAtReady: pick((s) => s.cpuMsAtReady), idleRssMiB: pick((s) => s.idleRssMiB) },
    };
  } finally {
    await rm(certDir, { recursive: true, force: true });
  }
}
