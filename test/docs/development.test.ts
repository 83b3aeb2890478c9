import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { clusterOrSkip, waitFor } from '../e2e/cluster-env.js';
import { startServe } from '../helpers/serve-process.js';

// docs/development.md, "Point a cluster at serve on this machine", run as written against
// the loopback control plane: this machine is 127.0.0.1 to it, and serve gets a free port
// where the doc says 8443. `npx keda-carbon` is the CLI from the sources.

const c = clusterOrSkip(t);
const DOC = fileURLToPath(new URL('../../docs/development.md', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

const text = await readFile(DOC, 'utf8');
const section = text.slice(text.indexOf('## Point a cluster at serve'), text.indexOf('## The dev loop'));
const blocks = [...section.matchAll(/^```bash\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

t.test('the steps: a certificate for the address, serve, the URL webhook, the check, the removal', async (t) => {
  t.equal(blocks.length, 5, 'five steps, each one block');
  const [certs, serveBlock, register, check, remove] = blocks as [string, string, string, string, string];
  const cwd = await mkdtemp(join(tmpdir(), 'keda-carbon-dev-doc-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  const bin = join(cwd, 'bin');
  await mkdir(bin);
  await writeFile(
    join(bin, 'npx'),
    `#!/usr/bin/env bash\n[[ $1 == keda-carbon ]] && shift\nexec ${[process.execPath, ...process.execArgv, MAIN].join(' ')} "$@"\n`,
  );
  await chmod(join(bin, 'npx'), 0o755);
  const port = await freePort();
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, KUBECONFIG: c.kubeconfig, WEBHOOK_HOST: '127.0.0.1' };
  const bash = (script: string) => spawnSync('bash', ['-euo', 'pipefail', '-c', script], { cwd, env, encoding: 'utf8' });

  t.match(certs, /^WEBHOOK_HOST=\S+ /m);
  const made = bash(certs.replace(/^WEBHOOK_HOST=\S+/m, 'WEBHOOK_HOST=127.0.0.1'));
  t.equal(made.status, 0, made.stderr);

  const m = /^KUBECONFIG= npm start -- (.*)$/m.exec(serveBlock);
  t.ok(m, 'serve through npm start, with flags');
  const args = (m?.[1] ?? '').trim().split(/\s+/);
  t.same(args.slice(-2), ['--port', '8443']);
  const serve = await startServe(['--cert-dir', join(cwd, args[args.indexOf('--cert-dir') + 1]!), '--port', String(port)]);
  t.teardown(() => serve.stop('SIGKILL'));

  t.match(register, /url: https:\/\/\$WEBHOOK_HOST:8443\/mutate/);
  const registered = bash(register.replaceAll(':8443/', `:${port}/`));
  t.equal(registered.status, 0, registered.stderr);
  t.teardown(() => void bash('kubectl delete mutatingwebhookconfiguration keda-carbon-dev --ignore-not-found'));

  await waitFor('the check to print 1', async () => {
    const run = bash(check);
    return run.status === 0 && run.stdout === '1\n';
  });
  // the answer came from this serve: it counted the review it patched
  const metrics = await (await fetch(`http://127.0.0.1:${serve.metricsPort}/metrics`)).text();
  t.match(metrics, /^keda_carbon_admission_requests_total\{operation="CREATE",kind="ScaledObject",result="patched"\} [1-9]/m);

  // The loopback control plane has no namespace controller: a deleted namespace never goes
  // away, and kubectl would wait for it forever.
  t.match(remove, /^kubectl delete namespace carbon-dev$/m);
  const removed = bash(remove.replace(/^kubectl delete namespace carbon-dev$/m, '$& --wait=false'));
  t.equal(removed.status, 0, removed.stderr);
  const gone = bash('kubectl get mutatingwebhookconfiguration keda-carbon-dev');
  t.match(gone.stderr, /NotFound/, 'the registration is gone');
});
