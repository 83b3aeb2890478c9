import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

// The certs-scripts' --help, and self-managed.sh handing extra certificate names through to
// `keda-carbon certs` (a stand-in that records its arguments, so nothing is built or applied).

const SCRIPTS = fileURLToPath(new URL('../../certs-scripts/', import.meta.url));

if (spawnSync('bash', ['--version'], { stdio: 'ignore' }).status !== 0) {
  t.plan(0, 'bash is not installed');
  process.exit(0);
}

for (const script of ['self-managed.sh', 'rotate.sh', 'cert-manager.sh']) {
  t.test(`${script} --help prints its comment block, and nothing else`, async (t) => {
    const run = spawnSync('bash', [join(SCRIPTS, script), '--help'], { encoding: 'utf8' });
    t.equal(run.status, 0);
    t.equal(run.stderr, '');
    const lines = run.stdout.trimEnd().split('\n');
    const source = await readFile(join(SCRIPTS, script), 'utf8');
    const comment = source
      .split('\n')
      .slice(1)
      .filter((_, i, all) => all.slice(0, i + 1).every((l) => l.startsWith('#')))
      .map((l) => l.replace(/^# ?/, ''));
    t.same(lines, comment, 'the header comment without its # marks');
    t.match(lines.find((l) => l.startsWith('Usage: ')) ?? '', `Usage: certs-scripts/${script}`);
    for (const l of lines) t.notMatch(l, /^#|^set -|^source /, `no stray line: ${JSON.stringify(l)}`);
  });
}

t.test('self-managed.sh passes --ip-address and --dns-name through to keda-carbon certs', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-certs-scripts-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'kustomization.yaml'), '');
  const argsFile = join(dir, 'args.json');
  const stub = join(dir, 'stub.mjs');
  await writeFile(
    stub,
    `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(argsFile)}, JSON.stringify(process.argv.slice(2)));\nconsole.log('QUJD');\n`,
  );
  const run = spawnSync(
    'bash',
    [join(SCRIPTS, 'self-managed.sh'), '--overlay', dir, '--ip-address', '10.0.0.7', '--dns-name', 'webhook.example', '--ip-address', '::1'],
    { encoding: 'utf8', env: { ...process.env, KEDA_CARBON_BIN: `node ${stub}` } },
  );
  t.equal(run.status, 0, run.stderr);
  const args = JSON.parse(await readFile(argsFile, 'utf8')) as string[];
  t.same(args.slice(0, 1), ['certs']);
  t.same(args.slice(-6), ['--ip-address', '10.0.0.7', '--dns-name', 'webhook.example', '--ip-address', '::1'], 'every name, in order, after the fixed flags');
  t.ok(args.includes('--out-dir') && args[args.indexOf('--out-dir') + 1] === join(dir, 'tls'));
  t.match(await readFile(join(dir, 'ca-bundle.patch.yaml'), 'utf8'), /value: QUJD/);
});

const noShellcheck = spawnSync('shellcheck', ['--version'], { stdio: 'ignore' }).status !== 0;
t.test('the certs-scripts are shellcheck-clean', { skip: noShellcheck && 'shellcheck is not installed (Debian: apt-get install shellcheck)' }, async (t) => {
  const scripts = ['lib.sh', 'self-managed.sh', 'rotate.sh', 'cert-manager.sh'].map((s) => join(SCRIPTS, s));
  const run = spawnSync('shellcheck', ['-x', ...scripts], { encoding: 'utf8', cwd: join(SCRIPTS, '..') });
  t.equal(run.status, 0, run.stdout);
});
