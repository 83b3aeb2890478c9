import http from 'node:http';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

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

/** kubeconfig file, else in-cluster service account, else `~/.kube/config` (client-node's default order). */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault();
  return kc;
}

/**
 * Plain HTTP(S) to the API server with the kubeconfig's credentials. client-node supplies
 * the agent (CA, client certificate) and the Authorization header, re-read per request so
 * a rotated service-account token is used; we keep control of timeouts and the stream.
 */
export function kubeClientFromConfig(kc: KubeConfig): KubeClient {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const server = cluster.server.replace(/\/$/, '');

  async function open(path: string, signal?: AbortSignal): Promise<http.IncomingMessage> {
    const opts: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    const url = new URL(server + path);
    const mod = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method: 'GET', agent: opts.agent, headers: { ...(opts.headers ?? {}), accept: 'application/json' }, auth: opts.auth, signal }, resolve);
      req.on('error', reject);
      req.end();
    });
  }

  return {
    async get(path, signal) {
      const res = await open(path, signal);
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // a proxy's HTML error page: keep the text for the message
      }
      return { status: res.statusCode ?? 0, body };
    },
    watch(path, onEvent, onEnd) {
      const controller = new AbortController();
      let ended = false;
      const end = (err?: Error) => {
        if (ended) return;
        ended = true;
        if (!controller.signal.aborted) onEnd(err);
      };
      const sep = path.includes('?') ? '&' : '?';
      open(`${path}${sep}watch=true`, controller.signal).then(
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            end(new Error(`watch ${path} answered ${res.statusCode}`));
            return;
          }
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (line === '') continue;
              try {
                const ev = JSON.parse(line) as { type?: string; object?: unknown };
                if (typeof ev.type === 'string') onEvent(ev.type, ev.object);
              } catch {
                // a torn or foreign line; the next GET reads the object anyway
              }
            }
          });
          res.on('end', () => end());
          res.on('error', (e) => end(e));
        },
        (err: Error) => end(err),
      );
      return () => {
        ended = true;
        controller.abort();
      };
    },
  };
}
