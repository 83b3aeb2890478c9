import type { Server as HttpsServer } from 'node:https';
import type { Logger } from '../log.js';
import type { KubeApi } from '../ports.js';
import { certificateExpirySeconds, ensureLocalCertificates, readCertificatePair } from '../tls/certs.js';
import { makeCa } from '../tls/issue.js';
import { watchCertificates, type CertificatePair } from '../tls/reloader.js';
import { serviceNames } from '../tls/renewal.js';
import { ClusterCertificates } from './cluster-certs.js';
import type { Metrics } from './metrics.js';

/**
 * Where the serving certificate comes from: the certificate directory (made locally when
 * empty, or a mounted Secret), or, with `--tls-secret`, a Secret that serve manages itself.
 * Either way a new pair is swapped into the running server in memory: connections open
 * keep their handshake, new ones get the new certificate, nothing restarts.
 */
export interface TlsSource {
  /** The pair the server starts with. */
  initial: CertificatePair;
  /** For the "listening" log line: the CA file to trust, when there is one. */
  caFile: string | null;
  /** False until a real serving certificate is in use (/readyz answers 503). */
  ready(): boolean;
  /** Keeps the server's certificate current; returns the stop function. */
  start(server: HttpsServer): () => void;
}

export interface SecretTlsOptions {
  secret: string;
  webhookConfig: string;
  serviceName: string;
  certValidityMs: number;
  caValidityMs: number;
  /** Extra names (IP addresses or DNS names) for the serving certificate: a webhook reached by URL in tests. */
  extraNames?: string[];
  pollMs?: number;
}

function recordExpiry(metrics: Metrics, cert: string, logger: Logger): void {
  try {
    metrics.certificateExpiry.set(certificateExpirySeconds(cert));
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'cannot read the serving certificate expiry');
  }
}

/** Swaps `pair` into the server; TLS 1.2 stays the floor. */
function swapper(server: () => HttpsServer | undefined, metrics: Metrics, logger: Logger): (pair: CertificatePair) => void {
  return (pair) => {
    server()?.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' });
    recordExpiry(metrics, pair.cert, logger);
  };
}

/** The certificate directory, reloaded when its files change. */
export async function fileTls(certDir: string, logger: Logger, metrics: Metrics): Promise<TlsSource> {
  const certs = await ensureLocalCertificates(certDir);
  const initial = await readCertificatePair(certs.certFile, certs.keyFile);
  if (certs.created) logger.info({ caFile: certs.caFile, certDir }, 'made a local CA and serving certificate; trust the CA file to call the webhook');
  else logger.info({ certDir, caFile: certs.caFile }, 'using the certificate in the certificate directory');
  recordExpiry(metrics, initial.cert, logger);
  return {
    initial,
    caFile: certs.caFile,
    ready: () => true,
    start: (server) =>
      watchCertificates(
        certDir,
        swapper(() => server, metrics, logger),
        { logger },
      ),
  };
}

/**
 * The Secret in `namespace`, read once before the server listens (a restarted replica serves
 * the stored certificate at once) and then polled. Until the Secret holds a certificate the
 * server answers with a throwaway self-signed one, so /healthz and /readyz (503) still answer.
 */
export async function secretTls(
  o: SecretTlsOptions,
  cluster: { api: KubeApi; namespace: string; isLeader(): boolean },
  logger: Logger,
  metrics: Metrics,
): Promise<TlsSource> {
  let server: HttpsServer | undefined;
  let first: CertificatePair | undefined;
  const swap = swapper(() => server, metrics, logger);
  const names = serviceNames(o.serviceName, cluster.namespace, o.extraNames);
  const certs = new ClusterCertificates({
    api: cluster.api,
    namespace: cluster.namespace,
    secretName: o.secret,
    webhookConfig: o.webhookConfig,
    names,
    certValidityMs: o.certValidityMs,
    caValidityMs: o.caValidityMs,
    isLeader: () => cluster.isLeader(),
    onPair: (pair) => {
      first ??= pair;
      swap(pair);
    },
    logger,
    ...(o.pollMs ? { pollMs: o.pollMs } : {}),
  });
  logger.info(
    { secret: `${cluster.namespace}/${o.secret}`, webhookConfig: o.webhookConfig, names, certValidityMs: o.certValidityMs, caValidityMs: o.caValidityMs },
    'self-managed certificates: every replica reads the Secret; the Lease leader renews it and the caBundle',
  );
  await certs.poll().catch(() => false);
  const initial = first ?? placeholder();
  return {
    initial,
    caFile: null,
    ready: () => certs.loaded,
    start: (s) => {
      server = s;
      certs.start();
      return () => certs.stop();
    },
  };
}

/** Self-signed and short-lived: only the kubelet's probes (which do not verify) ever see it. */
function placeholder(): CertificatePair {
  return makeCa({ commonName: 'keda-carbon without a certificate yet', validityMs: 24 * 60 * 60 * 1000 });
}
