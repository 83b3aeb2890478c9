import { homedir } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeApiFromConfig } from '../cluster/api.js';
import { connectCluster } from '../cluster/kubeconfig.js';
import { ConfigError } from '../config/errors.js';
import type { IntensityConfig } from '../config/intensity.js';
import { type KubeClient, kubeClientFromApi } from './kube-client.js';

/** For tests that build a kubeconfig by hand; the process itself connects through `connectCluster`. */
export function kubeClientFromConfig(kc: KubeConfig): KubeClient {
  return kubeClientFromApi(kubeApiFromConfig(kc));
}

/**
 * The Kubernetes client a one-shot command (intensity, explain, simulate) needs for this
 * intensity config: only exporter-configmap and `location: auto` read the cluster.
 */
export function kubeClientForCommand(config: IntensityConfig, env: Record<string, string | undefined>): KubeClient | undefined {
  if (config.provider !== 'exporter-configmap' && config.location.toLowerCase() !== 'auto') return undefined;
  let connection: ReturnType<typeof connectCluster>;
  try {
    connection = connectCluster(undefined, env, { home: homedir() });
  } catch (err) {
    throw new ConfigError('intensity.provider', `${config.provider} needs the Kubernetes API: ${(err as Error).message}`);
  }
  // Without credentials the source says what it is missing, as it does under `serve`.
  return connection ? kubeClientFromApi(connection.api) : undefined;
}
