import type { NamespacePolicyLookup } from '../admission/handler.js';
import type { CarbonReader } from '../carbon/types.js';
import type { RuntimeConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../server/metrics.js';

export interface ClusterOptions {
  /** `--kubeconfig` / `KEDA_CARBON_KUBECONFIG`, else `KUBECONFIG`, else in-cluster. */
  kubeconfig: string | undefined;
  env: Record<string, string | undefined>;
  config(): RuntimeConfig;
  carbon: CarbonReader;
  logger: Logger;
  metrics: Metrics;
}

export interface ClusterIntegration {
  /** Namespace-label policies for admission. */
  namespaces: NamespacePolicyLookup | undefined;
  /** Called after a config hot reload. */
  reconfigure(): void;
  stop(): Promise<void>;
}

/** Where cluster credentials would come from, or null when there are none. */
export function clusterAccess(kubeconfig: string | undefined, env: Record<string, string | undefined>): { kind: 'kubeconfig'; path: string } | { kind: 'in-cluster' } | null {
  const path = kubeconfig ?? env.KUBECONFIG;
  if (path) return { kind: 'kubeconfig', path };
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) return { kind: 'in-cluster' };
  return null;
}

/**
 * Connect to the cluster for namespace-label policies and the re-touch timer. Returns
 * null without cluster access: `serve` then runs admission only.
 */
export async function startClusterIntegration(options: ClusterOptions): Promise<ClusterIntegration | null> {
  const access = clusterAccess(options.kubeconfig, options.env);
  if (!access) return null;
  options.logger.warn({ access: access.kind }, 'cluster access found, but the re-touch timer and namespace policies are not built yet');
  return null;
}
