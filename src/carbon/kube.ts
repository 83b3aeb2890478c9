import { homedir } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeApiFromConfig } from '../cluster/api.js';
import { connectCluster } from '../cluster/kubeconfig.js';
import { ConfigError } from '../config/errors.js';
import type { IntensityConfig } from '../config/intensity.js';
import type { KubeApi } from '../ports.js';

/**
 * The two calls the carbon code makes to the Kubernetes API, behind an interface so the
 * exporter-configmap source and `location: auto` can be tested against a local server.
 */
export interface KubeClient {
  /** GET a path of the API; the body is parsed JSON when it is JSON, else text. */
  get(path: string, signal: AbortSignal): Promise<{ status: number; body: unknown }>;
  /**
   * Stream watch events from a path (`watch=true` is added). `onEnd` fires once when the
   * stream ends or fails; the returned function closes it without calling `onEnd`.
   */
  watch(path: string, onEvent: (type: string, object: unknown) => void, onEnd: (err?: Error) => void): () => void;
}

/** The carbon view of the one Kubernetes API client the project has (`cluster/api.ts`). */
export function kubeClientFromApi(api: KubeApi): KubeClient {
  return {
    async get(path, signal) {
      const { status, body } = await api.request('GET', path, { signal });
      return { status, body };
    },
    watch(path, onEvent, onEnd) {
      return api.watch(`${path}${path.includes('?') ? '&' : '?'}watch=true`, onEvent, onEnd);
    },
  };
}

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
