import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { KubeApi } from '../ports.js';

/**
 * Where cluster credentials come from, decided without loading the Kubernetes client: a
 * process without credentials (serve outside a cluster) never imports it, which saves about
 * half a second of start and some 60 MB of memory.
 */

type Env = Record<string, string | undefined>;

/** Where cluster credentials come from; `from` is said in logs and errors. */
export type KubeAccess = { kind: 'kubeconfig'; paths: string[]; from: '--kubeconfig' | 'KUBECONFIG' | '~/.kube/config' } | { kind: 'in-cluster' };

export interface AccessOptions {
  /**
   * The home directory whose `.kube/config` is the last resort, as kubectl reads it. The
   * one-shot commands pass it; `serve` does not, so a developer's own kubeconfig never
   * turns a local webhook into a cluster controller by accident.
   */
  home?: string | undefined;
}

/**
 * The one order every command follows: `--kubeconfig`, else `KUBECONFIG` (a list of files,
 * merged as kubectl does), else the in-cluster service account, else (commands only)
 * `~/.kube/config`. Null when none applies.
 */
export function clusterAccess(flag: string | undefined, env: Env, options: AccessOptions = {}): KubeAccess | null {
  if (flag?.trim()) return { kind: 'kubeconfig', paths: [flag.trim()], from: '--kubeconfig' };
  const list = (env.KUBECONFIG ?? '').split(delimiter).filter((p) => p.trim() !== '');
  if (list.length > 0) return { kind: 'kubeconfig', paths: list, from: 'KUBECONFIG' };
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) return { kind: 'in-cluster' };
  if (options.home) {
    const path = join(options.home, '.kube', 'config');
    if (existsSync(path)) return { kind: 'kubeconfig', paths: [path], from: '~/.kube/config' };
  }
  return null;
}

/** What a process needs from its cluster credentials: one API client and the context's namespace. */
export interface ClusterConnection {
  access: KubeAccess;
  api: KubeApi;
  /** The current context's namespace, when it names one (in-cluster: the service account's). */
  contextNamespace: string | undefined;
}

/** `a.yaml (from KUBECONFIG)` or `the in-cluster service account`: for messages. */
export function describeAccess(access: KubeAccess): string {
  return access.kind === 'in-cluster' ? 'the in-cluster service account' : `${access.paths.join(delimiter)} (from ${access.from})`;
}

/** Raised when credentials were asked for but cannot be used; the message names the file and the reason. */
export class KubeconfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeconfigError';
  }
}

/** Where the kubelet mounts the Pod's service account: token, ca.crt and namespace. */
export const SERVICEACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The service-account directory; `KEDA_CARBON_SERVICEACCOUNT_DIR` moves it, so tests can run
 * the in-cluster path against files of their own. A Pod never sets it.
 */
export function serviceAccountDir(env: Env): string {
  return env.KEDA_CARBON_SERVICEACCOUNT_DIR?.trim() || SERVICEACCOUNT_DIR;
}

export type LeaseNamespaceSource = 'POD_NAMESPACE' | 'service account namespace file' | 'kubeconfig context' | 'default';

/**
 * The namespace of the leader-election Lease: `POD_NAMESPACE` (the Deployment sets it),
 * else the service account's namespace file, else the kubeconfig context's namespace, else
 * `default`. Out of cluster that is a namespace the user's own context already works in,
 * instead of one that may not exist.
 */
export function leaseNamespace(
  env: Env,
  contextNamespace: string | undefined,
  readFile: (p: string) => string = (p) => readFileSync(p, 'utf8'),
): { namespace: string; from: LeaseNamespaceSource } {
  const fromEnv = env.POD_NAMESPACE?.trim();
  if (fromEnv) return { namespace: fromEnv, from: 'POD_NAMESPACE' };
  try {
    const ns = readFile(join(serviceAccountDir(env), 'namespace')).trim();
    if (ns) return { namespace: ns, from: 'service account namespace file' };
  } catch {
    // not in a pod
  }
  if (contextNamespace?.trim()) return { namespace: contextNamespace.trim(), from: 'kubeconfig context' };
  return { namespace: 'default', from: 'default' };
}
