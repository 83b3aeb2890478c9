import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiError, type KubeApi, type RequestOptions } from '../ports.js';

export interface Transport {
  /** Agent, headers and basic auth for the next request (credentials re-read each time). */
  prepare(): Promise<{ agent: http.Agent | undefined; headers: Record<string, string>; auth?: string }>;
  server: string;
}

type Open = (method: string, path: string, options: RequestOptions, watchSignal?: AbortSignal) => Promise<http.IncomingMessage>;

function requestHeaders(headers: Record<string, string>, options: RequestOptions): { payload: string | undefined; headers: Record<string, string> } {
  const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const out: Record<string, string> = { ...headers, accept: 'application/json' };
  if (payload !== undefined) {
    out['content-type'] = options.contentType ?? 'application/json';
    out['content-length'] = String(Buffer.byteLength(payload));
  }
  return { payload, headers: out };
}

/** Where every request goes, parsed once: a `URL` per request was a visible cost per touch. */
interface Target {
  readonly mod: typeof http | typeof https;
  readonly options: http.RequestOptions;
  /** The server URL's own path (a proxy prefix), without its trailing slash. */
  readonly prefix: string;
}

function targetOf(server: string): Target {
  const url = new URL(server);
  const options: http.RequestOptions = {
    protocol: url.protocol,
    // `[::1]` in a URL is `::1` to the socket
    hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    ...(url.username ? { auth: `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` } : {}),
  };
  return { mod: url.protocol === 'http:' ? http : https, options, prefix: url.pathname.replace(/\/$/, '') };
}

/** Sends one request and resolves with the response head; the body is the caller's to read. */
function opener(transport: Transport): Open {
  const target = targetOf(transport.server);
  return async (method, path, options, watchSignal) => {
    const { agent, headers, auth } = await transport.prepare();
    const { payload, headers: reqHeaders } = requestHeaders(headers, options);
    return new Promise((resolve, reject) => {
      const what = () => `${method} ${path.split('?')[0]}`;
      const req = target.mod.request({ ...target.options, path: target.prefix + path, method, agent, headers: reqHeaders, ...(auth ? { auth } : {}) });
      let timer: NodeJS.Timeout | undefined;
      const signal = watchSignal ?? options.signal;
      // Closing our own watch is not an error; aborting a request the caller waits on is.
      const onAbort = () => req.destroy(watchSignal ? undefined : new Error(`${what()} aborted`));
      if (signal) {
        if (signal.aborted) return reject(new Error(`${what()} aborted`));
        signal.addEventListener('abort', onAbort, { once: true });
      }
      if (options.timeoutMs) timer = setTimeout(() => req.destroy(new Error(`${what()} timed out after ${options.timeoutMs} ms`)), options.timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      req.on('response', (res) => {
        // A watch lives on, still cancellable through its signal; only the connect timeout ends.
        if (watchSignal) clearTimeout(timer);
        else res.once('close', cleanup);
        resolve(res);
      });
      req.on('error', (err) => {
        cleanup();
        reject(err);
      });
      req.end(payload);
    });
  };
}

/** Parsed JSON when the text is JSON; else the text (a proxy's HTML error page, for the message). */
function parseBody(text: string): unknown {
  if (text === '') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The whole body; listeners, not `for await`, whose async iterator cost more than the read itself. */
function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let ended = false;
    res.on('data', (c: Buffer) => chunks.push(c));
    res.once('end', () => {
      ended = true;
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
    res.once('error', reject);
    res.once('close', () => {
      if (!ended) reject(new Error('the response ended before its body was complete'));
    });
  });
}

/** One event per JSON line; a torn line is skipped, since the next list reads the object anyway. */
function streamEvents(res: http.IncomingMessage, onEvent: (type: string, object: unknown) => void, isEnded: () => boolean): void {
  let buf = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line === '') continue;
      let ev: { type?: unknown; object?: unknown };
      try {
        ev = JSON.parse(line) as typeof ev;
      } catch {
        continue;
      }
      if (typeof ev.type === 'string' && !isEnded()) onEvent(ev.type, ev.object);
    }
  });
}

function watchWith(open: Open, path: string, onEvent: (type: string, object: unknown) => void, onEnd: (err?: Error) => void): () => void {
  const controller = new AbortController();
  let ended = false;
  const end = (err?: Error) => {
    if (ended) return;
    ended = true;
    onEnd(err);
  };
  open('GET', path, { timeoutMs: 30_000 }, controller.signal).then(
    (res) => {
      if (res.statusCode !== 200) {
        readAll(res).then(
          (text) => end(new ApiError('GET', path, res.statusCode ?? 0, parseBody(text))),
          (e: Error) => end(e),
        );
        return;
      }
      streamEvents(res, onEvent, () => ended);
      res.on('end', () => end());
      res.on('error', (e) => end(e));
      res.on('close', () => end());
    },
    (err: Error) => end(err),
  );
  return () => {
    ended = true;
    controller.abort();
  };
}

/** The API client over a transport that supplies agent and credentials per request. */
export function kubeApiFromTransport(transport: Transport): KubeApi {
  const open = opener(transport);
  return {
    async request(method, path, options = {}) {
      const res = await open(method, path, options);
      const body = parseBody(await readAll(res));
      return { status: res.statusCode ?? 0, headers: res.headers, body };
    },
    watch: (path, onEvent, onEnd) => watchWith(open, path, onEvent, onEnd),
  };
}

type TlsMaterial = Pick<https.AgentOptions, 'ca' | 'cert' | 'key' | 'pfx' | 'passphrase' | 'rejectUnauthorized' | 'servername'>;
const TLS_FIELDS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

/**
 * Whether two sets of TLS material are the same, compared field by field: client-node reads
 * the files (or decodes the base64) afresh each call, so the buffers are new but their bytes
 * are mostly the same, and a byte compare costs a fraction of a hash of the whole.
 */
export function sameTls(a: TlsMaterial, b: TlsMaterial): boolean {
  return TLS_FIELDS.every((f) => {
    const [x, y] = [a[f], b[f]];
    return Buffer.isBuffer(x) && Buffer.isBuffer(y) ? x.equals(y) : x === y;
  });
}

/**
 * An API client from a kubeconfig file. client-node supplies CA, client certificate and the
 * Authorization header, re-read per request so a rotated token or certificate file is picked
 * up (exec plugins keep their own cache). Its own agent is new on every call, which would
 * cost a TLS handshake per touch; we keep one keep-alive agent while the TLS material is the same.
 */
export function kubeApiFromConfig(kc: KubeConfig): KubeApi {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  let material: TlsMaterial | undefined;
  let agent: https.Agent | undefined;
  return kubeApiFromTransport({
    server: cluster.server,
    async prepare() {
      const opts: https.RequestOptions = {};
      await kc.applyToHTTPSOptions(opts);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = String(v);
      if (cluster.proxyUrl || cluster.server.startsWith('http:')) {
        return { agent: cluster.proxyUrl ? (opts.agent as http.Agent) : undefined, headers, ...(opts.auth ? { auth: opts.auth } : {}) };
      }
      const tls: TlsMaterial = {};
      for (const f of TLS_FIELDS) (tls as Record<string, unknown>)[f] = opts[f];
      if (!agent || !material || !sameTls(material, tls)) {
        agent?.destroy();
        agent = new https.Agent({ ...tls, keepAlive: true, maxSockets: 16 });
        material = tls;
      }
      return { agent, headers, ...(opts.auth ? { auth: opts.auth } : {}) };
    },
  });
}

/** An unauthenticated client for a plain URL: the local fake API of tests and the benchmark. */
export function kubeApiFromUrl(server: string): KubeApi {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  return kubeApiFromTransport({ server, prepare: async () => ({ agent, headers: {} }) });
}
