import type { Logger } from '../../log.js';
import type { KubeClient } from '../kube-client.js';
import type { FetchFn } from './http.js';

/** What a source may use from the outside world; tests replace any of it. */
export interface SourceDeps {
  env: Record<string, string | undefined>;
  /** Reads credential files (default: fs). */
  readFile?: (path: string) => Promise<string>;
  /** The Kubernetes API, for exporter-configmap and `location: auto`. */
  kube?: KubeClient;
  now?: () => number;
  fetch?: FetchFn;
  logger?: Logger;
}
