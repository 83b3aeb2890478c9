import { readFileSync } from 'node:fs';
import https from 'node:https';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { type Clock, systemClock } from '../ports.js';
import { fsReason } from '../util/fs-reason.js';
import { type ClusterConnection, KubeconfigError, serviceAccountDir } from './access.js';
import { kubeApiFromTransport } from './api.js';

/**
 * The in-cluster service account without @kubernetes/client-node: an address, a CA and a
 * token file are all a Pod needs, and the client was most of the webhook's idle memory.
 */

type Env = Record<string, string | undefined>;

/**
 * How often the token is read again, as client-go does: the kubelet renews a projected token
 * well before it expires (at 80 % of its life), so a minute-old copy is always still valid.
 */
export const TOKEN_REREAD_MS = 60_000;

export interface InClusterOptions {
  clock?: Clock;
  /** Told once when the token cannot be read again, and when it can once more. */
  logger?: Pick<Logger, 'warn' | 'info'>;
  tokenRereadMs?: number;
}

/** `https://host:port`, an IPv6 address in brackets; the service always speaks TLS (client-go's rule). */
export function inClusterServer(env: Env): string {
  const host = env.KUBERNETES_SERVICE_HOST?.trim() ?? '';
  const port = env.KUBERNETES_SERVICE_PORT?.trim() ?? '';
  if (!host || !port) throw new KubeconfigError('in-cluster access needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT');
  return `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

function readSecretFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KubeconfigError(`cannot read ${path}: ${fsReason(err)}`);
  }
  if (text.trim() === '') throw new KubeconfigError(`cannot use ${path}: it is empty`);
  return text;
}

/**
 * The service-account token, read again at most once per period, keyed on the clock rather
 * than a timer so an idle process does no reads. A read that fails keeps the last token: the
 * kubelet rewrites the file atomically, so a failure is a passing fault or a lost mount, and
 * the old token is good for a while longer either way.
 */
export class TokenFile {
  private token: string;
  private readAt: number;
  private failing = false;

  constructor(
    private readonly path: string,
    private readonly clock: Clock,
    private readonly periodMs: number,
    private readonly logger?: Pick<Logger, 'warn' | 'info'>,
  ) {
    this.token = readSecretFile(path).trim();
    this.readAt = clock.now();
  }

  current(): string {
    const now = this.clock.now();
    if (now - this.readAt < this.periodMs) return this.token;
    this.readAt = now;
    try {
      this.token = readSecretFile(this.path).trim();
      if (this.failing) this.logger?.info({ file: this.path }, 'the service-account token can be read again');
      this.failing = false;
    } catch (err) {
      if (!this.failing)
        this.logger?.warn({ file: this.path, reason: (err as Error).message }, 'cannot read the service-account token again; using the last one read');
      this.failing = true;
    }
    return this.token;
  }
}

/**
 * The API client of a Pod: one keep-alive agent that trusts only the service-account CA, and
 * the token as a Bearer header. The CA is read once, as client-go does; the token is re-read.
 * Throws KubeconfigError when the CA or the token cannot be read.
 */
export function connectInCluster(env: Env, options: InClusterOptions = {}): ClusterConnection {
  const server = inClusterServer(env);
  const dir = serviceAccountDir(env);
  const ca = readSecretFile(join(dir, 'ca.crt'));
  const tokens = new TokenFile(join(dir, 'token'), options.clock ?? systemClock, options.tokenRereadMs ?? TOKEN_REREAD_MS, options.logger);
  let contextNamespace: string | undefined;
  try {
    contextNamespace = readFileSync(join(dir, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    // an older or hand-made mount without the file: the Lease namespace falls back
  }
  const agent = new https.Agent({ ca, rejectUnauthorized: true, minVersion: 'TLSv1.2', keepAlive: true, maxSockets: 16 });
  const api = kubeApiFromTransport({
    server,
    prepare: async () => ({ agent, headers: { authorization: `Bearer ${tokens.current()}` } }),
  });
  return { access: { kind: 'in-cluster' }, api, contextNamespace };
}
