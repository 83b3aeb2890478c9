import { KubeConfig } from '@kubernetes/client-node';
import { kubeApiFromConfig } from './api.js';
import { fsReason } from '../util/fs-reason.js';
import { type ClusterConnection, clusterAccess, describeAccess, KubeconfigError, type AccessOptions, type KubeAccess } from './access.js';
import { connectInCluster, type InClusterOptions } from './in-cluster.js';

export {
  clusterAccess,
  describeAccess,
  KubeconfigError,
  leaseNamespace,
  type AccessOptions,
  type ClusterConnection,
  type KubeAccess,
  type LeaseNamespaceSource,
} from './access.js';

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

/**
 * The one API client of the process, or null without credentials. Throws KubeconfigError.
 * In a Pod the service account is read without client-node (`connectInCluster`); serve goes
 * there directly, so as not to load this module and client-node with it.
 */
export function connectCluster(flag: string | undefined, env: Env, options: AccessOptions & InClusterOptions = {}): ClusterConnection | null {
  const access = clusterAccess(flag, env, options);
  if (!access) return null;
  if (access.kind === 'in-cluster') return connectInCluster(env, options);
  const kc = loadKubeConfig(access);
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace?.trim() || undefined;
  return { access, api: kubeApiFromConfig(kc), contextNamespace };
}
