import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServe } from '../helpers/serve-process.js';
import t, { type Test } from 'tap';
import { parseFlags, type CommandIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { SERVE, secretFlags } from '../../src/cli/serve.js';

const io = (env: Record<string, string> = {}): CommandIO & { err(): string } => {
  const err: string[] = [];
  return { stdout: { write: () => true }, stderr: { write: (s: string) => err.push(s) }, env, err: () => err.join('') };
};
const flags = (argv: string[], env: Record<string, string> = {}) => secretFlags(parseFlags(argv, SERVE, io(env))!);
const DAY = 86_400_000;
const SELF = ['--tls-secret', 'kc-tls', '--webhook-config', 'kc', '--service-name', 'kc'];

t.test('the self-managed certificate flags', async (t) => {
  t.equal(flags([]), undefined, 'off without --tls-secret: the certificate directory as before');
  t.same(
    flags(SELF),
    { secret: 'kc-tls', webhookConfig: 'kc', serviceName: 'kc', certValidityMs: 90 * DAY, caValidityMs: 365 * DAY },
    'defaults: 90 days and a year',
  );
  t.same(
    flags([], {
      KEDA_CARBON_TLS_SECRET: 's',
      KEDA_CARBON_WEBHOOK_CONFIG: 'w',
      KEDA_CARBON_SERVICE_NAME: 'n',
      KEDA_CARBON_CERT_VALIDITY: '5m',
      KEDA_CARBON_CA_VALIDITY: '1h',
    }),
    { secret: 's', webhookConfig: 'w', serviceName: 'n', certValidityMs: 5 * 60_000, caValidityMs: 3_600_000 },
    'every flag has its environment variable',
  );
});

t.test('bad combinations and values are usage errors that say what to do', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--webhook-config', 'kc'], /--webhook-config is used with --tls-secret only/],
    [['--tls-secret', 'kc-tls', '--service-name', 'kc'], /--tls-secret needs --webhook-config too/],
    [[...SELF, '--cert-dir', '/tmp/x'], /exclude each other/],
    [['--tls-secret', 'KC_TLS', '--webhook-config', 'kc', '--service-name', 'kc'], /--tls-secret must be a Kubernetes object name/],
    [[...SELF, '--cert-validity', '30s'], /--cert-validity must be a duration from 1m to 3650d/],
    [[...SELF, '--ca-validity', 'a year'], /--ca-validity must be a duration/],
    [[...SELF, '--cert-validity', '90d', '--ca-validity', '100d'], /at least twice --cert-validity/],
    [['--http2', 'yes'], /--http2 must be true or false, got "yes"/],
  ];
  for (const [argv, message] of cases) {
    const o = io();
    t.equal(await main(['serve', ...argv], o), 2, argv.join(' '));
    t.match(o.err(), message);
  }
});

t.test('--tls-secret without cluster access stops at the start, saying why', async (t) => {
  const o = io();
  t.equal(await main(['serve', '--port', '0', '--metrics-port', '0', ...SELF], o), 2);
  t.match(o.err(), /--tls-secret needs cluster access/);
});

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
