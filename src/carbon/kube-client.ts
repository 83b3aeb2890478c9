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
