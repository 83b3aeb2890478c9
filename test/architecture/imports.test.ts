import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startServe } from '../helpers/serve-process.js';
import { serviceAccountFiles, startTlsApi } from '../helpers/tls-api.js';
import { until } from '../helpers/until.js';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Packages the pure core may use: parsers with no I/O of their own. */
const CORE_PACKAGES = new Set(['yaml', 'cron-parser']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every module specifier a file imports or re-exports, static or dynamic. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g;
  for (const m of text.matchAll(re)) found.push((m[1] ?? m[2] ?? m[3]) as string);
  return found;
}

/** The folder under src/ a file belongs to; files at the top (ports.ts, log.ts) are their own unit. */
function unitOf(file: string): string {
  const rel = relative(SRC, file).split('/');
  return rel.length > 1 ? (rel[0] as string) : (rel[0] as string).replace(/\.ts$/, '');
}

interface Edge {
  from: string;
  to: string;
  file: string;
  spec: string;
}

function importGraph(): { edges: Edge[]; fileEdges: Edge[]; packagesByFile: Map<string, string[]> } {
  const edges: Edge[] = [];
  const fileEdges: Edge[] = [];
  const packagesByFile = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const pkgs: string[] = [];
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) {
        pkgs.push(spec);
        continue;
      }
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      const [from, to] = [unitOf(file), unitOf(target)];
      if (from !== to) edges.push({ from, to, file: relative(SRC, file), spec });
      fileEdges.push({ from: relative(SRC, file), to: relative(SRC, target), file: relative(SRC, file), spec });
    }
    packagesByFile.set(relative(SRC, file), pkgs);
  }
  return { edges, fileEdges, packagesByFile };
}

/** Strongly connected components with more than one unit: each is an import loop. */
function loops(edges: Edge[]): string[][] {
  const next = new Map<string, Set<string>>();
  for (const e of edges) (next.get(e.from) ?? next.set(e.from, new Set()).get(e.from)!).add(e.to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of next.keys()) if (!index.has(v)) visit(v);
  return found;
}

const { edges, fileEdges, packagesByFile } = importGraph();

t.test('no folder of src/ imports a folder that imports it back', async (t) => {
  const found = loops(edges);
  const detail = found.map((units) => edges.filter((e) => units.includes(e.from) && units.includes(e.to)).map((e) => `${e.file} -> ${e.spec}`));
  t.same(found, [], `import loops:\n${detail.flat().join('\n')}`);
});

t.test('no file of src/ imports a file that imports it back, type imports included', async (t) => {
  // A loop of types only costs nothing at run time, but it ties two files into one to read.
  const found = loops(fileEdges);
  const detail = found.map((files) => fileEdges.filter((e) => files.includes(e.from) && files.includes(e.to)).map((e) => `${e.file} -> ${e.spec}`));
  t.same(found, [], `import loops between files:\n${detail.flat().join('\n')}`);
});

t.test('the core imports nothing outside itself', async (t) => {
  const outside = edges.filter((e) => e.from === 'core').map((e) => `${e.file} -> ${e.spec}`);
  t.same(outside, [], 'core reaches into another folder');
  const packages = [...packagesByFile]
    .filter(([f]) => f.startsWith('core/'))
    .flatMap(([f, pkgs]) => pkgs.filter((p) => !CORE_PACKAGES.has(p)).map((p) => `${f} -> ${p}`));
  t.same(packages, [], 'core uses a package with I/O or a Node built-in');
});

t.test('ports depend on the core alone', async (t) => {
  t.same(
    edges.filter((e) => e.from === 'ports' && e.to !== 'core').map((e) => e.file),
    [],
  );
});

t.test('the loop finder finds a planted loop', async (t) => {
  const planted: Edge[] = [
    { from: 'a', to: 'b', file: 'a/x.ts', spec: '../b/y.js' },
    { from: 'b', to: 'c', file: 'b/y.ts', spec: '../c/z.js' },
    { from: 'c', to: 'a', file: 'c/z.ts', spec: '../a/x.js' },
    { from: 'c', to: 'd', file: 'c/z.ts', spec: '../d/w.js' },
  ];
  t.same(loops(planted), [['a', 'b', 'c']]);
  t.same(specifiers("import a from './a.js';\nexport { b } from '../b.js';\nconst c = await import('./c.js');\nimport './d.js';"), [
    './a.js',
    '../b.js',
    './c.js',
    './d.js',
  ]);
});

/** Packages a module loads when it is imported: static, value (not `import type`) imports, followed through src/. */
function staticPackages(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s+(?!type\b)[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)) {
      const spec = (m[1] ?? m[2]) as string;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else if (!spec.startsWith('node:')) packages.add(spec);
    }
  };
  visit(join(SRC, entry));
  return packages;
}

t.test('serve loads the Kubernetes client and node-forge only when it needs them', async (t) => {
  // Together they were most of the start time and half the idle memory of a webhook that
  // has no cluster credentials and finds its certificate on disk.
  const loaded = staticPackages('cli/serve.ts');
  t.ok(loaded.has('fastify'), 'the walk follows src/ imports');
  t.notOk(loaded.has('@kubernetes/client-node'), '@kubernetes/client-node: imported only once credentials exist');
  t.notOk(loaded.has('node-forge'), 'node-forge: loaded only to make a certificate');
  // What serve loads in a Pod: its own service-account client and the carbon view of it.
  for (const entry of ['cluster/in-cluster.ts', 'carbon/kube-client.ts']) {
    t.notOk(staticPackages(entry).has('@kubernetes/client-node'), `${entry} does without @kubernetes/client-node`);
  }
  t.ok(staticPackages('cluster/kubeconfig.ts').has('@kubernetes/client-node'), 'the walk finds client-node where it is');
});

t.test('serve in a Pod (the service account, no kubeconfig) does not load the Kubernetes client', async (t) => {
  // The static walk above cannot see dynamic imports; this runs serve and records what it resolves.
  const api = await startTlsApi();
  t.teardown(() => api.close());
  const sa = await serviceAccountFiles(t, { ca: api.certs.caCert, token: 'pod-token', namespace: 'keda-carbon' });
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-imports-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const recorded = join(dir, 'imports.txt');
  const preload = new URL('../helpers/record-imports.mjs', import.meta.url).href;
  const serve = await startServe(
    ['--cert-dir', join(dir, 'tls')],
    {
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: String(api.port),
      KEDA_CARBON_SERVICEACCOUNT_DIR: sa,
      KEDA_CARBON_TEST_IMPORTS: recorded,
    },
    30_000,
    [`--import=${preload}`],
  );
  t.teardown(() => serve.stop('SIGKILL'));
  t.match(
    serve.logs.find((l) => l.leaseNamespace !== undefined),
    { cluster: 'the in-cluster service account', leaseNamespace: 'keda-carbon' },
    'serve runs with in-cluster access',
  );
  // Let the controller start talking to the API before looking.
  await until(() => api.authorizations.includes('Bearer pod-token'), 'a request with the service-account token');
  t.ok(api.authorizations.includes('Bearer pod-token'), 'and reaches the API server with the service-account token');
  const urls = (await readFile(recorded, 'utf8')).split('\n');
  t.ok(
    urls.some((u) => u.endsWith('/src/cluster/in-cluster.ts')),
    'the recorder sees the modules serve loads',
  );
  t.same(
    urls.filter((u) => u.includes('@kubernetes/client-node') || u.endsWith('/src/cluster/kubeconfig.ts')),
    [],
    'neither client-node nor the module that wraps it',
  );
});
