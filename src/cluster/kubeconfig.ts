import { KubeConfig } from '@kubernetes/client-node';
import { kubeApiFromConfig } from './api.js';
import type { KubeApi } from '../ports.js';
import { fsReason } from '../util/fs-reason.js';
import { clusterAccess, describeAccess, KubeconfigError, type AccessOptions, type KubeAccess } from './access.js';

export { clusterAccess, describeAccess, KubeconfigError, leaseNamespace, type AccessOptions, type KubeAccess, type LeaseNamespaceSource } from './access.js';

type Env = Record<string, string | undefined>;

function loadError(access: KubeAccess, err: unknown): KubeconfigError {
  const e = err as NodeJS.ErrnoException;
  if (e.code && e.path) return new KubeconfigError(`cannot read ${e.path}: ${fsReason(e)}`);
  return new KubeconfigError(`cannot load kubeconfig ${describeAccess(access)}: ${String(e.message).split('\n')[0]}`);
}

/** Load what `access` names; a file that cannot be read or names no cluster is a KubeconfigError. */
export function loadKubeConfig(access: KubeAccess): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (access.kind === 'in-cluster') {
      kc.loadFromCluster();
    } else {
      kc.loadFromFile(access.paths[0]!);
      for (const path of access.paths.slice(1)) {
        const next = new KubeConfig();
        next.loadFromFile(path);
        kc.mergeConfig(next, true);
      }
    }
  } catch (err) {
    throw loadError(access, err);
  }
  if (!kc.getCurrentCluster()) throw new KubeconfigError(`cannot load kubeconfig: no current cluster in ${describeAccess(access)} (set current-context)`);
  return kc;
}

/** What a process needs from its cluster credentials: one API client and the context's namespace. */
export interface ClusterConnection {
  access: KubeAccess;
  api: KubeApi;
  /** The current context's namespace, when it names one (in-cluster: the service account's). */
  contextNamespace: string | undefined;
}

/** The one API client of the process, or null without credentials. Throws KubeconfigError. */
export function connectCluster(flag: string | undefined, env: Env, options: AccessOptions = {}): ClusterConnection | null {
  const access = clusterAccess(flag, env, options);
  if (!access) return null;
  const kc = loadKubeConfig(access);
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace?.trim() || undefined;
  return { access, api: kubeApiFromConfig(kc), contextNamespace };
}
