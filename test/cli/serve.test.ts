import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { startServe } from '../helpers/serve-process.js';

// serve's ports are the user's choice, by flag or environment variable, and a port that is
// taken ends serve with one line that says which port, and how to choose another.

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const ENV = { ...process.env, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' };

/** A port held open on 127.0.0.1 for the test's duration. */
async function busyPort(t: Test): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function certDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-serve-ports-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** serve run to its end (it ends only when it cannot start). */
function serveUntilExit(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [...process.execArgv, MAIN, 'serve', '--host', '127.0.0.1', ...args], {
    env: { ...ENV, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

t.test('--port and --metrics-port choose the ports serve listens on', async (t) => {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const serve = await startServe(['--cert-dir', await certDir(t), '--port', String(port), '--metrics-port', String(metricsPort)]);
  t.teardown(() => serve.stop('SIGKILL'));
  t.same({ port: serve.port, metricsPort: serve.metricsPort }, { port, metricsPort });
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  t.equal(res.status, 200, '/metrics answers on the chosen port');
});

t.test('a webhook port in use: one line naming the port, --port and KEDA_CARBON_PORT; exit 2', async (t) => {
  const busy = await busyPort(t);
  const run = await serveUntilExit(['--cert-dir', await certDir(t), '--port', String(busy), '--metrics-port', '0'], {});
  t.equal(run.code, 2);
  t.equal(run.stderr, `keda-carbon serve: the webhook port ${busy} is already in use on 127.0.0.1; choose another with --port PORT or KEDA_CARBON_PORT\n`);
});

t.test('a metrics port in use, set by KEDA_CARBON_METRICS_PORT: the line names --metrics-port and the variable; exit 2', async (t) => {
  const busy = await busyPort(t);
  const run = await serveUntilExit(['--cert-dir', await certDir(t), '--port', '0'], { KEDA_CARBON_METRICS_PORT: String(busy) });
  t.equal(run.code, 2);
  t.equal(
    run.stderr,
    `keda-carbon serve: the metrics port ${busy} is already in use on 127.0.0.1; choose another with --metrics-port PORT or KEDA_CARBON_METRICS_PORT\n`,
  );
});
