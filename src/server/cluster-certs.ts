import { isIP } from 'node:net';
import type { Logger } from '../log.js';
import { systemClock, type Clock, type KubeApi } from '../ports.js';
import { issueServing, makeCa } from '../tls/issue.js';
import { pairInstaller, type CertificatePair } from '../tls/reloader.js';
import { decideRenewal, desiredBundle, SECRET_KEYS, summarize, type Renewal } from '../tls/renewal.js';
import { backoffDelay } from '../util/backoff.js';
import { publishBundle, readWebhookConfig, trustsCa, type WebhookConfig } from './ca-bundle.js';

/**
 * Certificates that manage themselves in the cluster (`serve --tls-secret`). Every replica
 * reads the Secret with GET every few seconds and swaps a new serving pair into the running
 * server; the Lease leader also renews what is due (tls/renewal.ts decides), writes the
 * Secret with its resourceVersion, and keeps the webhook configuration's caBundle equal to
 * the Secret's CAs. Nothing here is fatal: a failed read or write is logged once and retried.
 */

export interface ClusterCertificatesOptions {
  api: KubeApi;
  namespace: string;
  secretName: string;
  webhookConfig: string;
  /** The serving certificate's subjectAltName, exactly (see serviceNames). */
  names: readonly string[];
  certValidityMs: number;
  caValidityMs: number;
  /** Whether this replica holds the Lease now: only the leader writes. */
  isLeader(): boolean;
  /** A new serving pair, checked (parses, key matches): swap it into the server. */
  onPair(pair: CertificatePair): void;
  logger: Logger;
  clock?: Clock;
  random?: () => number;
  /** Between reads of the Secret (default 5 s, spread ±20 %). */
  pollMs?: number;
  /** How long the caBundle must trust a new CA before a certificate from it is served (default 30 s). */
  publishGraceMs?: number;
}

interface Secret {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  data?: Record<string, string>;
  [k: string]: unknown;
}

const MAX_BACKOFF_MS = 60_000;
const TIMEOUT_MS = 10_000;

const decode = (data: Record<string, string> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
const encode = (data: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));

export class ClusterCertificates {
  private readonly clock: Clock;
  private readonly pollMs: number;
  private readonly path: string;
  private readonly where: { secret: string };
  private readonly install: (pair: CertificatePair) => boolean;
  private timer: unknown;
  private running = false;
  private failures = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private hasPair = false;
  /** Since when (this clock) the caBundle has trusted the CA with this fingerprint. */
  private trusted: { fingerprint: string; since: number } | null = null;
  /** The last line said per topic, so a state that persists is logged once. */
  private readonly said = new Map<string, string>();

  constructor(private readonly o: ClusterCertificatesOptions) {
    this.clock = o.clock ?? systemClock;
    this.pollMs = o.pollMs ?? 5_000;
    this.path = `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/secrets/${encodeURIComponent(o.secretName)}`;
    this.where = { secret: `${o.namespace}/${o.secretName}` };
    this.install = pairInstaller(o.onPair, o.logger, this.where);
  }

  /** A serving certificate from the Secret is in use: until then /readyz answers 503. */
  get loaded(): boolean {
    return this.hasPair;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    this.clock.clearTimeout(this.timer);
  }

  /** One round: read the Secret, load its pair, and, on the leader, renew and publish. False when the Secret could not be read. */
  poll(): Promise<boolean> {
    const round = this.queue.then(() => this.round());
    this.queue = round.catch(() => undefined);
    return round;
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = this.clock.setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    let ok = false;
    try {
      ok = await this.poll();
    } catch (err) {
      this.say('round', 'warn', (err as Error).message, { err: (err as Error).message }, 'certificate round failed; retrying');
    }
    this.failures = ok ? 0 : this.failures + 1;
    const random = this.o.random ?? Math.random;
    const wait = ok
      ? Math.round(this.pollMs * (0.8 + 0.4 * random()))
      : backoffDelay(this.failures, { initialMs: this.pollMs, maxMs: MAX_BACKOFF_MS, jitter: [0.8, 1.2], random });
    this.schedule(wait);
  }

  /** Logs when `key` differs from what was last said on `topic`; `null` forgets, so the next problem is said again. */
  private say(topic: string, level: 'info' | 'warn', key: string | null, fields: Record<string, unknown>, msg: string): void {
    if (key === null) {
      this.said.delete(topic);
      return;
    }
    if (this.said.get(topic) === key) return;
    this.said.set(topic, key);
    this.o.logger[level]({ ...this.where, ...fields }, msg);
  }

  private async round(): Promise<boolean> {
    const secret = await this.read();
    if (!secret) return false;
    const data = decode(secret.data);
    this.load(data);
    if (this.o.isLeader()) await this.lead(secret, data);
    return true;
  }

  private async read(): Promise<Secret | null> {
    let res: Awaited<ReturnType<KubeApi['request']>>;
    try {
      res = await this.o.api.request('GET', this.path, { timeoutMs: TIMEOUT_MS });
    } catch (err) {
      this.say('read', 'warn', 'unreachable', { err: (err as Error).message }, 'cannot read the certificate Secret; retrying with backoff');
      return null;
    }
    if (res.status === 200) {
      this.say('read', 'info', null, {}, '');
      return res.body as Secret;
    }
    const hint = res.status === 404 ? 'the install creates it (empty); serve never creates it' : res.status === 403 ? 'RBAC must grant get on it' : '';
    this.say('read', 'warn', String(res.status), { status: res.status, hint }, 'cannot read the certificate Secret; retrying with backoff');
    return null;
  }

  private load(data: Record<string, string>): void {
    const cert = data[SECRET_KEYS.cert];
    const key = data[SECRET_KEYS.key];
    if (!cert || !key) {
      this.say('load', 'info', 'empty', {}, 'the certificate Secret holds no serving certificate yet; the Lease leader makes one');
      return;
    }
    this.say('load', 'info', null, {}, '');
    if (this.install({ cert, key })) this.hasPair = true;
  }

  private trustSince(facts: ReturnType<typeof summarize>, data: Record<string, string>, config: WebhookConfig | null): number | null {
    const ca = facts.ca;
    if (!ca || !config || !trustsCa(config, data[SECRET_KEYS.ca] ?? '')) {
      this.trusted = null;
      return null;
    }
    if (this.trusted?.fingerprint !== ca.fingerprint) this.trusted = { fingerprint: ca.fingerprint, since: this.clock.now() };
    return this.trusted.since;
  }

  private async lead(secret: Secret, data: Record<string, string>): Promise<void> {
    const config = await readWebhookConfig(this.o.api, this.o.webhookConfig, (key, fields, msg) => this.say('mwc', 'warn', key, fields, msg));
    const facts = summarize(data);
    const now = this.clock.now();
    const decision = decideRenewal(facts, now, {
      names: this.o.names,
      certValidityMs: this.o.certValidityMs,
      bundleTrustedSince: this.trustSince(facts, data, config),
      publishGraceMs: this.o.publishGraceMs ?? 30_000,
    });
    const { do: what, reason } = decision as { do: string; reason?: string };
    this.say('decision', 'info', `${what}|${reason ?? ''}`, { decision: what, reason }, `certificates: ${describe(decision)}`);
    let next = data;
    if (what !== 'none' && what !== 'wait') {
      next = this.renew(decision, data, now);
      // issuing takes a moment; a replica that lost the Lease meanwhile leaves the write to the new leader
      if (!this.o.isLeader() || !(await this.write(secret, next, what))) return;
      this.load(next);
    }
    if (config) await publishBundle(this.o.api, config, desiredBundle(next), (level, key, fields, msg) => this.say('publish', level, key, fields, msg));
  }

  /** The Secret's data after `decision`; keys serve does not own are kept. */
  private renew(decision: Renewal, data: Record<string, string>, now: number): Record<string, string> {
    const out = { ...data };
    const commonName = this.o.names.find((n) => n.endsWith('.svc')) ?? this.o.names[0] ?? 'keda-carbon';
    const serving = (ca: CertificatePair) => {
      const leaf = issueServing(ca, {
        commonName,
        dnsNames: this.o.names.filter((n) => !isIpAddress(n)),
        ipAddresses: this.o.names.filter(isIpAddress),
        validityMs: this.o.certValidityMs,
        now,
      });
      out[SECRET_KEYS.cert] = leaf.cert;
      out[SECRET_KEYS.key] = leaf.key;
    };
    const newCa = () => {
      const ca = makeCa({ commonName, validityMs: this.o.caValidityMs, now });
      out[SECRET_KEYS.ca] = ca.cert;
      out[SECRET_KEYS.caKey] = ca.key;
      return ca;
    };
    if (decision.do === 'issue-ca-and-cert') {
      serving(newCa());
      delete out[SECRET_KEYS.previousCa];
    } else if (decision.do === 'rotate-ca') {
      const keep = decision.keep === 'current' ? data[SECRET_KEYS.ca] : data[SECRET_KEYS.previousCa];
      newCa();
      if (keep) out[SECRET_KEYS.previousCa] = keep;
    } else if (decision.do === 'issue-cert') {
      serving({ cert: data[SECRET_KEYS.ca]!, key: data[SECRET_KEYS.caKey]! });
      if (decision.dropPrevious) delete out[SECRET_KEYS.previousCa];
    } else if (decision.do === 'drop-previous') {
      delete out[SECRET_KEYS.previousCa];
    }
    return out;
  }

  /** PUT with the resourceVersion read: a 409 means another writer won, and the next round reads what it wrote. */
  private async write(secret: Secret, data: Record<string, string>, what: string): Promise<boolean> {
    const body = { ...secret, data: encode(data) };
    let status: number;
    try {
      status = (await this.o.api.request('PUT', this.path, { body, timeoutMs: TIMEOUT_MS })).status;
    } catch (err) {
      this.say('write', 'warn', 'unreachable', { err: (err as Error).message }, 'cannot write the certificate Secret; the next round tries again');
      return false;
    }
    if (status === 200) {
      this.say('write', 'info', null, {}, '');
      this.o.logger.info({ ...this.where, decision: what }, 'wrote the certificate Secret');
      return true;
    }
    const msg =
      status === 409
        ? 'the certificate Secret changed since it was read (another writer won); reading it again'
        : 'cannot write the certificate Secret; the next round tries again';
    this.say('write', status === 409 ? 'info' : 'warn', String(status), { status, ...(status === 403 ? { hint: 'RBAC must grant update on it' } : {}) }, msg);
    return false;
  }
}

const isIpAddress = (name: string): boolean => isIP(name) !== 0;

function describe(d: Renewal): string {
  switch (d.do) {
    case 'issue-ca-and-cert':
      return 'making a new CA and serving certificate';
    case 'rotate-ca':
      return 'making a new CA; both CAs go into the caBundle before a certificate from the new one is served';
    case 'issue-cert':
      return d.dropPrevious ? 'renewing the serving certificate and dropping the previous CA from the caBundle' : 'making a new serving certificate';
    case 'drop-previous':
      return 'dropping the previous CA from the caBundle';
    case 'wait':
      return 'waiting before serving from the new CA';
    default:
      return 'nothing to renew';
  }
}
