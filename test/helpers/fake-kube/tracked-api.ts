import { kubeApiFromUrl } from '../../../src/cluster/api.js';
import type { ApiResponse, KubeApi, RequestOptions } from '../../../src/ports.js';

const RESOURCE = /\/(scaledobjects|scaledjobs|namespaces|configmaps)(?:\?|$)/;

const versionOf = (x: unknown): number => Number((x as { metadata?: { resourceVersion?: string } } | null)?.metadata?.resourceVersion ?? 0) || 0;

/**
 * A client of the fake that keeps account of its own loopback I/O: the requests not yet
 * answered, the watches open, and per resource the newest resourceVersion a list or a watch
 * event has brought it. Set against the fake's record of the last change it broadcast per
 * resource, that says when every request was answered and every change reached the client:
 * the event a test waits on before it moves a fake clock, instead of a real-time tick.
 * It assumes cluster-wide watches: one that hears a single namespace or name never sees
 * the others' changes, so `settled` would stay false while it is open.
 */
export class TrackedApi implements KubeApi {
  /** Requests sent and not yet answered. */
  pending = 0;
  private readonly open = new Map<string, number>();
  private readonly seen = new Map<string, number>();
  private readonly api: KubeApi;

  constructor(
    url: string,
    private readonly latest: (resource: string) => number,
  ) {
    this.api = kubeApiFromUrl(url);
  }

  /** Every request answered, and every watched resource's last broadcast change delivered. */
  get settled(): boolean {
    if (this.pending > 0) return false;
    for (const [resource, n] of this.open) if (n > 0 && (this.seen.get(resource) ?? 0) < this.latest(resource)) return false;
    return true;
  }

  async request(method: string, path: string, options?: RequestOptions): Promise<ApiResponse> {
    this.pending++;
    try {
      const res = await this.api.request(method, path, options);
      // Only a list speaks for the whole resource; one object's version may run ahead of its watch.
      if (Array.isArray((res.body as { items?: unknown } | null)?.items)) this.saw(path, versionOf(res.body));
      return res;
    } finally {
      this.pending--;
    }
  }

  watch(path: string, onEvent: (type: string, object: unknown) => void, onEnd: (err?: Error) => void): () => void {
    const resource = RESOURCE.exec(path)?.[1] ?? path;
    this.open.set(resource, (this.open.get(resource) ?? 0) + 1);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.open.set(resource, (this.open.get(resource) ?? 1) - 1);
    };
    const close = this.api.watch(
      path,
      (type, object) => {
        this.saw(path, versionOf(object));
        onEvent(type, object);
      },
      (err) => {
        end();
        onEnd(err);
      },
    );
    return () => {
      end();
      close();
    };
  }

  private saw(path: string, rv: number): void {
    const resource = RESOURCE.exec(path)?.[1];
    if (resource && rv > (this.seen.get(resource) ?? 0)) this.seen.set(resource, rv);
  }
}
