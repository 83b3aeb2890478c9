/**
 * Shared by the tests in test/node (this file holds no tests): the cluster `.ci/node.sh`
 * started, with the webhook's image loaded into its node. Every kubectl call names that
 * cluster's kubeconfig; nothing falls back to KUBECONFIG or ~/.kube.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { waitFor as waitUntil } from '../e2e/cluster-env.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const NODE_ENV = 'KEDA_CARBON_NODE_KUBECONFIG';
export const SKIP_MESSAGE = `${NODE_ENV} is not set: the node tests run under .ci/node.sh (npm run test:node), which starts a node and loads the image`;
export const NS = 'keda-carbon';
export const DEPLOY = 'deployment/keda-carbon';
export const POD_SELECTOR = 'app.kubernetes.io/name=keda-carbon,app.kubernetes.io/component=webhook';

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

export function nodeKubeconfig(): string | null {
  const v = process.env[NODE_ENV];
  return v && v.trim() !== '' ? v.trim() : null;
}

export class NodeCluster {
  readonly env: NodeJS.ProcessEnv;
  constructor(readonly kubeconfig: string) {
    this.env = { ...process.env, KUBECONFIG: kubeconfig };
  }

  /** kubectl with a bounded run time; never throws. */
  run(args: string[], input?: string, timeoutMs = 60_000): Promise<Run> {
    return new Promise((done) => {
      const child = execFile(
        'kubectl',
        ['--kubeconfig', this.kubeconfig, ...args],
        { env: this.env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
          done({ status: code, stdout: String(stdout), stderr: String(stderr) || (err && code !== 0 ? err.message : '') });
        },
      );
      if (input !== undefined) child.stdin!.end(input);
    });
  }

  async must(args: string[], input?: string, timeoutMs?: number): Promise<string> {
    const r = await this.run(args, input, timeoutMs);
    if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  async json(args: string[]): Promise<any> {
    return JSON.parse(await this.must([...args, '-o', 'json']));
  }

  /** The webhook Pods that are Running and not being deleted, oldest first. */
  async pods(): Promise<any[]> {
    const list = await this.json(['-n', NS, 'get', 'pods', '-l', POD_SELECTOR]);
    return (list.items as any[])
      .filter((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp)
      .sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)));
  }

  /** Parsed JSON log lines of a Pod's container. */
  async logs(pod: string, previous = false): Promise<Array<Record<string, any>>> {
    const r = await this.run(['-n', NS, 'logs', pod, ...(previous ? ['--previous'] : [])]);
    return r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, any>;
        } catch {
          return {};
        }
      });
  }
}

/** The e2e waitFor with the node's longer defaults: Pods start in seconds, not milliseconds. */
export function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 60_000, everyMs = 500): Promise<T> {
  return waitUntil(what, fn, timeoutMs, everyMs);
}

/**
 * A copy of webhook-config/ and certs-scripts/ in a temporary directory, so the files the
 * install writes (tls/, ca-bundle.patch.yaml) never land in the working tree, plus an
 * overlay of the operator's own beside it, as docs/install.md describes: the image built
 * here and a config patch.
 */
export async function installTree(image: string, configYaml: string): Promise<{ dir: string; overlay: string; mine: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-node-'));
  await cp(join(ROOT, 'webhook-config'), join(dir, 'webhook-config'), {
    recursive: true,
    filter: (src) => !/\/overlays\/self-managed\/(tls|ca-bundle\.patch\.yaml)/.test(src),
  });
  await cp(join(ROOT, 'certs-scripts'), join(dir, 'certs-scripts'), { recursive: true });
  const mine = join(dir, 'my-cluster');
  await mkdir(mine);
  const [name, tag] = splitImage(image);
  await writeFile(
    join(mine, 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      '- ../webhook-config/overlays/self-managed',
      'images:',
      `- {name: ghcr.io/keda-carbon/keda-carbon, newName: ${name}, newTag: ${tag}}`,
      'patches:',
      '- target: {kind: ConfigMap, name: keda-carbon-config}',
      '  path: config-patch.yaml',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(mine, 'config-patch.yaml'),
    stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keda-carbon-config', namespace: NS }, data: { 'config.yaml': configYaml } }),
  );
  return { dir, overlay: join(dir, 'webhook-config/overlays/self-managed'), mine };
}

function splitImage(image: string): [string, string] {
  const at = image.lastIndexOf(':');
  return at > image.lastIndexOf('/') ? [image.slice(0, at), image.slice(at + 1)] : [image, 'latest'];
}

/**
 * `kubectl apply --server-side -k DIR`, on a control plane of v1.20: the one difference is
 * the PodDisruptionBudget, whose policy/v1 arrived in 1.21 (policy/v1beta1 has the same
 * fields). Rendered with kubectl's own kustomize and applied with kubectl's default field
 * manager, so conflicts show exactly as `apply -k` shows them.
 */
export async function applyKustomization(c: NodeCluster, dir: string, extra: string[] = []): Promise<Run> {
  return c.run(['apply', '--server-side', ...extra, '-f', '-'], await renderFor(c, dir));
}

/** `kubectl delete -k DIR --ignore-not-found`, on v1.20 as applyKustomization. */
export async function deleteKustomization(c: NodeCluster, dir: string): Promise<Run> {
  return c.run(['delete', '--ignore-not-found', '-f', '-'], await renderFor(c, dir), 180_000);
}

async function renderFor(c: NodeCluster, dir: string): Promise<string> {
  const rendered = await c.must(['kustomize', dir]);
  const served = new Set((await c.must(['api-versions'])).trim().split('\n'));
  const objs = parseAllDocuments(rendered).map((d) => d.toJS() as { apiVersion: string; kind: string });
  const docs = objs.map((o) => (o.kind === 'PodDisruptionBudget' && !served.has('policy/v1') ? { ...o, apiVersion: 'policy/v1beta1' } : o));
  return docs.map((o) => stringify(o)).join('---\n');
}

/** Run a script of certs-scripts/ (in the copied tree) with `keda-carbon` from this checkout. */
export function certsScript(dir: string, script: string, args: string[], kubeconfig: string, timeoutMs = 300_000): Promise<Run> {
  const bin = [process.execPath, ...process.execArgv, join(ROOT, 'src/cli/main.ts')].join(' ');
  return new Promise((done) => {
    execFile(
      'bash',
      [join(dir, 'certs-scripts', script), ...args],
      { env: { ...process.env, KUBECONFIG: kubeconfig, KEDA_CARBON_BIN: bin }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        done({
          status: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      },
    );
  });
}

/**
 * The API server (apiextensions-apiserver, on the host) dials the webhook Service by name;
 * without cluster DNS the name resolves through /etc/hosts. The line is marked so the test
 * and .ci/node.sh can remove it again.
 */
export async function addHostsLine(ip: string, name: string): Promise<() => Promise<void>> {
  const mark = process.env.KEDA_CARBON_NODE_HOSTS_MARK ?? '# keda-carbon node test';
  const before = await readFile('/etc/hosts', 'utf8');
  await writeFile('/etc/hosts', `${before.replace(/\n?$/, '\n')}${ip} ${name} ${mark}\n`);
  return async () => {
    const now = await readFile('/etc/hosts', 'utf8');
    await writeFile(
      '/etc/hosts',
      now
        .split('\n')
        .filter((l) => !l.includes(mark))
        .join('\n'),
    );
  };
}

/** A ScaledObject manifest (JSON) with the given declared max, for `kubectl create -f -`. */
export function scaledObject(ns: string, name: string, max: number): string {
  return JSON.stringify({
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, namespace: ns },
    spec: {
      minReplicaCount: 1,
      maxReplicaCount: max,
      scaleTargetRef: { name: 'web' },
      triggers: [{ type: 'cpu', metricType: 'Utilization', metadata: { value: '60' } }],
    },
  });
}

/**
 * Creates a ScaledObject once a second (names `PREFIX-N`, declared max 30+N) until `stop`
 * settles, bounded to 400 writes. Every answer is the object as stored, so each write is
 * checked on its own with `mutated`: with failurePolicy Ignore a missed mutation is otherwise
 * silent.
 */
export async function writeUntil(
  c: NodeCluster,
  ns: string,
  prefix: string,
  stop: Promise<unknown>,
  mutated: (stored: unknown, max: number) => boolean,
): Promise<{ writes: number; failed: string[]; unmutated: string[] }> {
  let done = false;
  void stop.finally(() => (done = true)).catch(() => {});
  const failed: string[] = [];
  const unmutated: string[] = [];
  let writes = 0;
  for (let i = 0; i < 400 && !done; i++) {
    const tick = Date.now();
    const name = `${prefix}-${i}`;
    const r = await c.run(['create', '-o', 'json', '-f', '-'], scaledObject(ns, name, 30 + i), 20_000);
    writes++;
    if (r.status !== 0) failed.push(`${name}: ${r.stderr.trim()}`);
    else if (!mutated(JSON.parse(r.stdout), 30 + i)) unmutated.push(`${name}: ${r.stdout.slice(0, 300)}`);
    const wait = tick + 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return { writes, failed, unmutated };
}
