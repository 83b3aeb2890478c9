import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CERTS } from '../../src/cli/certs.js';
import { CONVERT } from '../../src/cli/convert.js';
import { EXPLAIN } from '../../src/cli/explain.js';
import { RESTORE } from '../../src/cli/restore.js';
import { INTENSITY } from '../../src/cli/intensity.js';
import { helpText, parseFlags, type CommandIO, type CommandSpec } from '../../src/cli/io.js';
import { COMMANDS, main } from '../../src/cli/main.js';
import { SERVE } from '../../src/cli/serve.js';
import { SIMULATE } from '../../src/cli/simulate.js';
import { FakeKube } from '../helpers/fake-kube.js';

const SPECS: CommandSpec[] = [SERVE, EXPLAIN, INTENSITY, SIMULATE, CONVERT, CERTS, RESTORE];

function capture(env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

async function run(argv: string[], env: Record<string, string | undefined> = {}) {
  const c = capture(env);
  const code = await main(argv, c.io);
  return { code, out: c.out(), err: c.err() };
}

const OBJECT = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: web
  namespace: shop
  annotations: {keda-carbon.io/policy: standard}
spec:
  maxReplicaCount: 40
  scaleTargetRef: {name: web}
`;

/** A config whose `standard` policy allows `allowed` replicas from 100 g, reading the intensity from `csv`. */
const config = (allowed: number, csv: string) =>
  `intensity: {provider: file, path: ${csv}}\npolicies:\n  standard:\n    carbon: [{measuredEmission: 100, allowedMaxReplicaCount: ${allowed}}]\n`;

function workdir(t: Test) {
  const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  const rows = (v: number) =>
    `timestamp,duration,value\n${[0, 1, 2].map((i) => `${new Date(hour + (i - 1) * 3_600_000).toISOString()},60,${v + i}`).join('\n')}\n`;
  const dir = t.testdir({
    'so.yaml': OBJECT,
    'env.csv': rows(300),
    'flag.csv': rows(600),
    'policy.yaml': 'carbon: [{measuredEmission: 300, allowedMaxReplicaCount: "50%"}]\n',
    'broken.yaml': `${OBJECT}---\nkind: ScaledJob\nmetadata: {name: b}\nspec: {a: [1, 2}\n`,
    'azure.yaml': 'kind: ConfigMap\nmetadata: {name: x}\n',
  });
  writeFileSync(join(dir, 'env.yaml'), config(7, join(dir, 'env.csv')));
  writeFileSync(join(dir, 'flag.yaml'), config(3, join(dir, 'flag.csv')));
  mkdirSync(join(dir, 'a-directory'));
  return dir;
}

/** A kubeconfig for an API server with no objects: enough for restore to list and print. */
async function fakeKubeconfig(t: Test, dir: string): Promise<string> {
  const fake = new FakeKube();
  await fake.start();
  t.teardown(() => fake.close());
  const path = join(dir, 'kubeconfig');
  writeFileSync(
    path,
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: '${fake.url}', insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
  );
  return path;
}

t.test('every command main knows has a flag table, and each table is the whole story', async (t) => {
  t.same(SPECS.map((s) => s.name).sort(), Object.keys(COMMANDS).sort(), 'one table per command');
  for (const spec of SPECS) {
    const help = helpText(spec);
    for (const [name, flag] of Object.entries(spec.flags)) {
      t.ok(flag.help.trim().length > 10, `${spec.name} --${name} says what it does`);
      const lines = help.split('\n');
      const at = lines.findIndex((l) => new RegExp(`^  (-${flag.short}, )? *--${name}\\b`).test(l));
      // A flag's entry runs on over indented lines until the next flag.
      const end = lines.findIndex((l, i) => i > at && !/^ {6,}\S/.test(l));
      const line = at < 0 ? undefined : lines.slice(at, end).join('\n');
      t.ok(line, `${spec.name}: --${name} has a line in the help`);
      t.ok(line?.includes(flag.help.split('\n')[0]!), `${spec.name}: --${name} help text`);
      if (flag.short) t.ok(line?.startsWith(`  -${flag.short}, --${name}`), `${spec.name}: -${flag.short} shown`);
      if (flag.env) t.ok(line?.includes(`env ${flag.env}`), `${spec.name}: --${name} names ${flag.env}`);
      t.ok(
        spec.synopsis.includes(`--${name}`) || (flag.short !== undefined && spec.synopsis.includes(`-${flag.short} `)),
        `${spec.name}: --${name} in the usage line`,
      );
      // The parser knows the flag the help describes.
      const values = parseFlags(flag.type === 'boolean' ? [`--${name}`] : [`--${name}`, 'x'], spec, capture().io);
      t.not(values?.[name], undefined, `${spec.name}: the parser accepts --${name}`);
    }
    t.match(help, /^ {2}-h, --help +print this help and exit$/m, `${spec.name}: -h/--help`);
    if ('config' in spec.flags) t.equal(spec.flags.config?.env, 'KEDA_CARBON_CONFIG', `${spec.name}: --config falls back to KEDA_CARBON_CONFIG`);
  }
});

t.test('--help, -h and help CMD print the same generated help', async (t) => {
  for (const spec of SPECS) {
    for (const argv of [
      [spec.name, '--help'],
      [spec.name, '-h'],
      ['help', spec.name],
    ]) {
      const r = await run(argv);
      t.equal(r.code, 0, argv.join(' '));
      t.equal(r.out, helpText(spec), argv.join(' '));
    }
  }
  const top = await run(['help']);
  t.equal(top.code, 0);
  t.match(top.out, /help CMD +the options of one command/);
  t.match(top.out, /Exit codes: 0 done; 1 .*; 2 a usage or input error/s);
  const unknown = await run(['help', 'frobnicate']);
  t.equal(unknown.code, 2);
  t.match(unknown.err, /unknown command "frobnicate"/);
});

t.test('-o json parses as JSON on every command that prints a result; other formats are refused', async (t) => {
  const dir = workdir(t);
  const fixture = join(import.meta.dirname, '..', 'fixtures', 'azure', 'carbonawarekedascaler-sample.yaml');
  const cases: Record<string, string[]> = {
    explain: ['explain', '-f', join(dir, 'so.yaml'), '--intensity', '350'],
    intensity: ['intensity', '--config', join(dir, 'env.yaml')],
    simulate: ['simulate', '--policy', join(dir, 'policy.yaml'), '--config', join(dir, 'env.yaml')],
    convert: ['convert', '-f', fixture],
    certs: ['certs', '--service', 'webhook', '--namespace', 'ns', '--secret-manifest', '--validity-days', '1'],
    restore: ['restore', '-A', '--kubeconfig', await fakeKubeconfig(t, dir)],
  };
  const withOutput = SPECS.filter((s) => 'output' in s.flags).map((s) => s.name);
  t.same(Object.keys(cases).sort(), withOutput.sort(), 'every command with -o is run here');
  for (const [name, argv] of Object.entries(cases)) {
    const r = await run([...argv, '-o', 'json']);
    t.equal(r.code, 0, `${name}: ${r.err}`);
    t.doesNotThrow(() => JSON.parse(r.out), `${name}: stdout is JSON`);
    const long = await run([...argv, '--output=json']);
    t.same(JSON.parse(long.out) !== null, true, `${name}: --output=json too`);
    const bad = await run([...argv, '-o', 'yaml']);
    t.equal(bad.code, 2, `${name}: -o yaml`);
    t.equal(bad.err, `keda-carbon ${name}: --output must be text or json, got "yaml"\n`);
  }
});

t.test('--config beats KEDA_CARBON_CONFIG, which beats the embedded defaults', async (t) => {
  const dir = workdir(t);
  const env = { KEDA_CARBON_CONFIG: join(dir, 'env.yaml') };
  const cap = async (argv: string[], e: Record<string, string> = {}) => {
    const r = await run(['explain', '-f', join(dir, 'so.yaml'), '--intensity', '350', '-o', 'json', ...argv], e);
    t.equal(r.code, 0, r.err);
    return (JSON.parse(r.out) as { plan: { maxReplicaCount: number } }[])[0]!.plan.maxReplicaCount;
  };
  t.equal(await cap([]), 40, 'embedded standard is relative: one given value is too little data, onMissingData declared');
  t.equal(await cap([], env), 7, 'explain: from the environment');
  t.equal(await cap(['--config', join(dir, 'flag.yaml')], env), 3, 'explain: the flag wins');
  t.equal(await cap(['-c', join(dir, 'flag.yaml')], env), 3, 'explain: -c is --config');
  t.equal(await cap([], { KEDA_CARBON_CONFIG: '' }), 40, 'an empty variable counts as unset');

  const source = async (argv: string[], e: Record<string, string> = {}) => {
    const r = await run(['intensity', '-o', 'json', ...argv], e);
    t.equal(r.code, 0, r.err);
    return (JSON.parse(r.out) as { source: string }).source;
  };
  t.equal(await source([]), 'sample:sample');
  t.equal(await source([], env), 'file:env.csv', 'intensity: from the environment');
  t.equal(await source(['--config', join(dir, 'flag.yaml')], env), 'file:flag.csv', 'intensity: the flag wins');

  const serve = (argv: string[], e: Record<string, string>) => parseFlags(argv, SERVE, capture(e).io)?.config;
  t.equal(serve([], env), env.KEDA_CARBON_CONFIG, 'serve: from the environment');
  t.equal(serve(['--config', 'other.yaml'], env), 'other.yaml', 'serve: the flag wins');
  t.equal(parseFlags([], SERVE, capture({ KEDA_CARBON_PORT: '9443' }).io)?.port, '9443', 'serve: every flag has its variable');
});

t.test('a file that cannot be read is named, plainly, with exit code 2', async (t) => {
  const dir = workdir(t);
  const nope = join(dir, 'nope.yaml');
  const so = join(dir, 'so.yaml');
  const cases: [string[], Record<string, string>, string][] = [
    [['explain', '-f', nope, '--intensity', '1'], {}, `keda-carbon explain: cannot read ${nope}: no such file`],
    [['explain', '-f', join(dir, 'a-directory'), '--intensity', '1'], {}, `keda-carbon explain: cannot read ${join(dir, 'a-directory')}: is a directory`],
    [['explain', '-f', so, '--intensity', '1', '--config', nope], {}, `keda-carbon explain: cannot read ${nope}: no such file`],
    [['explain', '-f', so, '--intensity', '1'], { KEDA_CARBON_CONFIG: nope }, `keda-carbon explain: cannot read ${nope}: no such file`],
    [['intensity', '--config', nope], {}, `keda-carbon intensity: cannot read ${nope}: no such file`],
    [['intensity'], { KEDA_CARBON_CONFIG: nope }, `keda-carbon intensity: cannot read ${nope}: no such file`],
    [['simulate', '--policy', nope, '--config', join(dir, 'env.yaml')], {}, `keda-carbon simulate: cannot read ${nope}: no such file`],
    [['simulate', '--policy', join(dir, 'policy.yaml'), '--forecast', nope], {}, `keda-carbon simulate: cannot read ${nope}: no such file`],
    [['simulate', '--policy', join(dir, 'policy.yaml'), '--config', nope], {}, `keda-carbon simulate: cannot read ${nope}: no such file`],
    [['convert', '-f', nope], {}, `keda-carbon convert: cannot read ${nope}: no such file`],
    [
      ['certs', '--service', 's', '--namespace', 'n', '--secret-manifest', '--patch-webhook', 'w', '--kubeconfig', nope],
      {},
      `keda-carbon certs: cannot read ${nope}: no such file`,
    ],
  ];
  for (const [argv, env, message] of cases) {
    const r = await run(argv, env);
    t.equal(r.code, 2, argv.join(' '));
    t.equal(r.err, `${message}\n`, argv.join(' '));
    t.equal(r.out, '', `${argv[0]}: nothing on stdout`);
  }
});

t.test('explain names the file and line of a YAML error, and a file with no KEDA object', async (t) => {
  const dir = workdir(t);
  const broken = await run(['explain', '-f', join(dir, 'broken.yaml'), '--intensity', '1']);
  t.equal(broken.code, 2);
  t.match(broken.err, new RegExp(`^keda-carbon explain: ${join(dir, 'broken.yaml')}: line 13, column \\d+: not valid YAML: `));
  const other = await run(['explain', '-f', join(dir, 'azure.yaml'), '--intensity', '1']);
  t.equal(other.code, 2);
  t.equal(other.err, `keda-carbon explain: ${join(dir, 'azure.yaml')}: no ScaledObject or ScaledJob found\n`);
});

t.test('-f - reads standard input', async (t) => {
  const c = capture();
  const stdin = (async function* () {
    yield Buffer.from(OBJECT);
  })();
  t.equal(await main(['explain', '-f', '-', '--intensity', '350', '-o', 'json'], { ...c.io, stdin }), 0, c.err());
  t.equal((JSON.parse(c.out()) as { name: string }[])[0]!.name, 'web');
});

t.test('the parser: environment fallbacks for booleans, repeatable flags, strictness', async (t) => {
  const spec = {
    name: 'demo',
    synopsis: '[--dry] [--tag T]...',
    about: 'A command for this test.',
    flags: {
      dry: { type: 'boolean', env: 'DEMO_DRY', help: 'change nothing' },
      tag: { type: 'string', multiple: true, arg: 'T', help: 'a tag' },
    },
  } as const satisfies CommandSpec;
  const parse = (argv: string[], env: Record<string, string> = {}) => parseFlags(argv, spec, capture(env).io);
  t.same(parse([], { DEMO_DRY: 'true' }), { dry: true });
  t.same(parse([], { DEMO_DRY: '0' }), { dry: false });
  t.same(parse(['--tag', 'a', '--tag=b']), { tag: ['a', 'b'] });
  t.throws(() => parse(['stray']), { name: 'UsageError', message: /positional.*\(see 'keda-carbon demo --help'\)$/ });
  t.throws(() => parse(['--tag']), { name: 'UsageError', message: /--tag/ });
  t.match(helpText(spec), /^ {6}--tag T {2}a tag \[repeatable\]$/m);
  t.match(helpText(spec), /^ {6}--dry {4}change nothing \[env DEMO_DRY\]$/m);
});
