import { access, chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AdmissionregistrationV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { generateCertificates, KEY_TYPES, type CertificateSet, type KeyType } from '../tls/certs.js';

export interface CertsIO {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  env: Record<string, string | undefined>;
}

export const DEFAULT_SECRET_NAME = 'keda-carbon-tls';

export const CERTS_USAGE = `Usage: keda-carbon certs --service NAME --namespace NS (--out-dir DIR [--force] | --secret-manifest [--secret-name N])
                        [--patch-webhook NAME] [--kubeconfig FILE]
                        [--dns-name NAME]... [--ip-address IP]... [--validity-days N] [--key-type rsa-2048|rsa-3072|rsa-4096]

Makes a private CA and a serving certificate for the webhook Service, valid for
NAME, NAME.NS, NAME.NS.svc and NAME.NS.svc.cluster.local (plus any --dns-name/--ip-address).

  --out-dir DIR         write tls.crt, tls.key (0600) and ca.crt into DIR; prints the caBundle on stdout
  --force               replace certificate files already in DIR
  --secret-manifest     print a kubernetes.io/tls Secret (with ca.crt) on stdout; the caBundle goes to stderr
  --secret-name N       name of that Secret (default ${DEFAULT_SECRET_NAME})
  --patch-webhook NAME  set caBundle on every webhook of MutatingWebhookConfiguration NAME through the API
  --kubeconfig FILE     cluster credentials for --patch-webhook (default: KUBECONFIG, ~/.kube/config, in-cluster)
  --validity-days N     lifetime of both certificates (default 365)
`;

class UsageError extends Error {}

// RFC 1123 label: what Kubernetes accepts for Service and Namespace names
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

interface CertsOptions {
  service: string;
  namespace: string;
  outDir?: string;
  force: boolean;
  secretManifest: boolean;
  secretName: string;
  patchWebhook?: string;
  kubeconfig?: string;
  dnsNames: string[];
  ipAddresses: string[];
  validityDays?: number;
  keyType?: KeyType;
}

function parse(argv: string[]): CertsOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        service: { type: 'string' },
        namespace: { type: 'string' },
        'out-dir': { type: 'string' },
        force: { type: 'boolean', default: false },
        'secret-manifest': { type: 'boolean', default: false },
        'secret-name': { type: 'string' },
        'patch-webhook': { type: 'string' },
        kubeconfig: { type: 'string' },
        'dns-name': { type: 'string', multiple: true, default: [] },
        'ip-address': { type: 'string', multiple: true, default: [] },
        'validity-days': { type: 'string' },
        'key-type': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const service = values.service;
  const namespace = values.namespace;
  if (!service) throw new UsageError('--service is required (the name of the webhook Service)');
  if (!namespace) throw new UsageError('--namespace is required (the namespace of the webhook Service)');
  if (!DNS_LABEL.test(service)) throw new UsageError(`--service ${JSON.stringify(service)} is not a valid Service name (RFC 1123 label)`);
  if (!DNS_LABEL.test(namespace)) throw new UsageError(`--namespace ${JSON.stringify(namespace)} is not a valid namespace name (RFC 1123 label)`);
  const outDir = values['out-dir'];
  const secretManifest = values['secret-manifest'] === true;
  if (outDir !== undefined && secretManifest) throw new UsageError('--out-dir and --secret-manifest are exclusive: choose one');
  if (outDir === undefined && !secretManifest) {
    throw new UsageError('one of --out-dir DIR or --secret-manifest is required (otherwise the private key would be lost)');
  }
  if (outDir === '') throw new UsageError('--out-dir must not be empty');
  if (values['secret-name'] !== undefined && !secretManifest) throw new UsageError('--secret-name only applies with --secret-manifest');
  if (values.force && outDir === undefined) throw new UsageError('--force only applies with --out-dir');
  const secretName = values['secret-name'] ?? DEFAULT_SECRET_NAME;
  if (!DNS_SUBDOMAIN.test(secretName) || secretName.length > 253) {
    throw new UsageError(`--secret-name ${JSON.stringify(secretName)} is not a valid Secret name`);
  }
  const patchWebhook = values['patch-webhook'];
  if (patchWebhook !== undefined && (!DNS_SUBDOMAIN.test(patchWebhook) || patchWebhook.length > 253)) {
    throw new UsageError(`--patch-webhook ${JSON.stringify(patchWebhook)} is not a valid object name`);
  }
  if (values.kubeconfig !== undefined && patchWebhook === undefined) throw new UsageError('--kubeconfig only applies with --patch-webhook');
  let validityDays: number | undefined;
  if (values['validity-days'] !== undefined) {
    const raw = values['validity-days'];
    validityDays = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > 3650) {
      throw new UsageError(`--validity-days must be an integer from 1 to 3650, got ${JSON.stringify(raw)}`);
    }
  }
  const keyType = values['key-type'];
  if (keyType !== undefined && !(KEY_TYPES as readonly string[]).includes(keyType)) {
    throw new UsageError(`--key-type must be one of ${KEY_TYPES.join(', ')}, got ${JSON.stringify(keyType)} (ECDSA is not supported by node-forge)`);
  }
  return {
    service,
    namespace,
    ...(outDir !== undefined ? { outDir } : {}),
    force: values.force === true,
    secretManifest,
    secretName,
    ...(patchWebhook !== undefined ? { patchWebhook } : {}),
    ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
    dnsNames: values['dns-name'] ?? [],
    ipAddresses: values['ip-address'] ?? [],
    ...(validityDays !== undefined ? { validityDays } : {}),
    ...(keyType !== undefined ? { keyType: keyType as KeyType } : {}),
  };
}

/** The names the API server may use to reach the Service, short to fully qualified. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

export function secretManifest(set: CertificateSet, name: string, namespace: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/name': 'keda-carbon', 'app.kubernetes.io/component': 'webhook-tls' },
    },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(set.cert), 'tls.key': b64(set.key), 'ca.crt': b64(set.caCert) },
  });
}

async function writeFiles(dir: string, set: CertificateSet, force: boolean): Promise<void> {
  if (!force) {
    for (const name of ['tls.crt', 'tls.key', 'ca.crt']) {
      const present = await access(join(dir, name)).then(
        () => true,
        () => false,
      );
      if (present) throw new UsageError(`${join(dir, name)} already exists; pass --force to replace it`);
    }
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keyFile = join(dir, 'tls.key');
  await writeFile(keyFile, set.key, { mode: 0o600 });
  await chmod(keyFile, 0o600);
  await writeFile(join(dir, 'tls.crt'), set.cert, { mode: 0o644 });
  await writeFile(join(dir, 'ca.crt'), set.caCert, { mode: 0o644 });
}

/** Sets caBundle on every webhook of a MutatingWebhookConfiguration; returns how many. */
export async function patchWebhookCaBundle(kc: KubeConfig, name: string, caBundle: string): Promise<number> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const current = await api.readMutatingWebhookConfiguration({ name });
  const webhooks = current.webhooks ?? [];
  if (webhooks.length === 0) throw new Error(`MutatingWebhookConfiguration ${name} has no webhooks to patch`);
  // "test" pins each index to the name we read, so a concurrent reorder fails instead of
  // putting a CA on the wrong webhook
  const ops = webhooks.flatMap((w, i) => [
    { op: 'test', path: `/webhooks/${i}/name`, value: w.name },
    { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle },
  ]);
  await api.patchMutatingWebhookConfiguration({ name, body: ops }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
  return webhooks.length;
}

function apiErrorMessage(err: unknown, name: string): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (e.code === 404) return `MutatingWebhookConfiguration ${name} not found; apply webhook-config/ first`;
  if (e.code === 401 || e.code === 403) {
    return `not allowed to read or patch MutatingWebhookConfiguration ${name} (HTTP ${e.code}); these credentials need get and patch on mutatingwebhookconfigurations`;
  }
  let detail = e.message ?? String(err);
  if (typeof e.body === 'string') {
    try {
      detail = (JSON.parse(e.body) as { message?: string }).message ?? detail;
    } catch {
      // body was not JSON; keep the client's message
    }
  }
  return `patching MutatingWebhookConfiguration ${name} failed: ${detail.split('\n')[0]}`;
}

function loadKubeConfig(file: string | undefined, env: CertsIO['env']): KubeConfig {
  const kc = new KubeConfig();
  const path = file ?? env.KUBECONFIG;
  if (path) {
    // a KUBECONFIG list (a:b) is kubectl's merge semantics; the first file is enough here
    kc.loadFromFile(path.split(':')[0] ?? path);
  } else {
    kc.loadFromDefault();
  }
  if (!kc.getCurrentCluster()) throw new Error(`no current cluster in ${path ?? 'the default kubeconfig'}`);
  return kc;
}

export async function runCerts(argv: string[], io: CertsIO): Promise<number> {
  let opts: CertsOptions | 'help';
  try {
    opts = parse(argv);
  } catch (err) {
    io.stderr.write(`keda-carbon certs: ${(err as Error).message}\n\n${CERTS_USAGE}`);
    return 2;
  }
  if (opts === 'help') {
    io.stdout.write(CERTS_USAGE);
    return 0;
  }

  let kc: KubeConfig | undefined;
  if (opts.patchWebhook !== undefined) {
    // load credentials before making anything, so a bad kubeconfig leaves no orphaned files
    try {
      kc = loadKubeConfig(opts.kubeconfig, io.env);
    } catch (err) {
      io.stderr.write(`keda-carbon certs: cannot load kubeconfig: ${(err as Error).message}\n`);
      return 1;
    }
  }

  let set: CertificateSet;
  try {
    set = generateCertificates({
      commonName: `${opts.service}.${opts.namespace}.svc`,
      dnsNames: [...serviceDnsNames(opts.service, opts.namespace), ...opts.dnsNames],
      ipAddresses: opts.ipAddresses,
      ...(opts.validityDays !== undefined ? { validityDays: opts.validityDays } : {}),
      ...(opts.keyType !== undefined ? { keyType: opts.keyType } : {}),
    });
  } catch (err) {
    io.stderr.write(`keda-carbon certs: ${(err as Error).message}\n`);
    return 2;
  }
  const caBundle = b64(set.caCert);

  if (opts.outDir !== undefined) {
    try {
      await writeFiles(opts.outDir, set, opts.force);
    } catch (err) {
      io.stderr.write(`keda-carbon certs: ${(err as Error).message}\n`);
      return err instanceof UsageError ? 2 : 1;
    }
    io.stderr.write(`wrote ${join(opts.outDir, 'tls.crt')}, ${join(opts.outDir, 'tls.key')} and ${join(opts.outDir, 'ca.crt')}\n`);
    io.stdout.write(`${caBundle}\n`);
  } else {
    io.stdout.write(secretManifest(set, opts.secretName, opts.namespace));
    io.stderr.write(`caBundle: ${caBundle}\n`);
  }

  if (opts.patchWebhook !== undefined && kc) {
    try {
      const n = await patchWebhookCaBundle(kc, opts.patchWebhook, caBundle);
      io.stderr.write(`patched caBundle into ${n} webhook(s) of MutatingWebhookConfiguration ${opts.patchWebhook}\n`);
    } catch (err) {
      io.stderr.write(`keda-carbon certs: ${apiErrorMessage(err, opts.patchWebhook)}\n`);
      return 1;
    }
  }
  return 0;
}
