/**
 * Renders the install manifests the way a user does, with the helm and kubectl of
 * .ci/tools.sh: `kubectl kustomize` of an overlay and `helm template` of the chart.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { toolPath } from './tools.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CONFIG = join(ROOT, 'webhook-config');
export const CHART = join(CONFIG, 'chart');

export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: any;
};

const parse = (out: string): Obj[] =>
  parseAllDocuments(out)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);

export function kustomize(dir: string): Obj[] {
  return parse(execFileSync(toolPath('kubectl'), ['kustomize', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** `helm template` of the chart; `args` are more flags (--set, -n, --kube-version). */
export function helmTemplate(args: string[], release = 'keda-carbon'): Obj[] {
  const r = helm(['template', release, CHART, ...args]);
  if (r.status !== 0) throw new Error(`helm template ${args.join(' ')}: ${r.stderr}`);
  return parse(r.stdout);
}

export function helm(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(toolPath('helm'), args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Writes a kustomization at `dir` that includes `resources` and `components` (absolute paths). */
export async function compose(dir: string, resources: string[], components: string[], extra = ''): Promise<string> {
  await mkdir(dir, { recursive: true });
  const rel = (p: string) => relative(dir, p);
  await writeFile(
    join(dir, 'kustomization.yaml'),
    `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: ${JSON.stringify(resources.map(rel))}\ncomponents: ${JSON.stringify(components.map(rel))}\n${extra}`,
  );
  return dir;
}

export const find = (objs: Obj[], kind: string, name?: string) => objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
export const one = (objs: Obj[], kind: string, name?: string): Obj => {
  const found = find(objs, kind, name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, got ${found.length}`);
  return found[0]!;
};

/**
 * An overlay as docs/install.md tells a user to write one: an overlay of ours, components,
 * the one `namespace:` line and the transformer that derives the rest from it.
 */
export async function userOverlay(dir: string, overlay: string, components: string[], namespace: string, extra = ''): Promise<string> {
  await mkdir(dir, { recursive: true });
  const transformer = relative(dir, join(CONFIG, 'namespace'));
  return compose(dir, [join(CONFIG, 'overlays', overlay)], components, `namespace: ${namespace}\ntransformers: [${transformer}]\n${extra}`);
}
