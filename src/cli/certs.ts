import { access, chmod, mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { clusterAccess, loadKubeConfig as loadClusterConfig } from '../cluster/kubeconfig.js';
import { generateCertificates, KEY_TYPES, type CertificateSet, type KeyType } from '../tls/certs.js';
import { command, intFlag, OUTPUT_FLAG, outputFlag, UsageError, type CommandIO, type CommandSpec, type FlagValues } from './io.js';
import { fsReason } from '../util/fs-reason.js';

export type CertsIO = CommandIO;

export const DEFAULT_SECRET_NAME = 'keda-carbon-tls';

export const CERTS = {
  name: 'certs',
  synopsis: `--service NAME --namespace NS (--out-dir DIR [--force] | --secret-manifest [--secret-name N])
                        [--patch-webhook NAME] [--kubeconfig FILE] [-o text|json]
                        [--dns-name NAME]... [--ip-address IP]... [--validity-days N] [--key-type rsa-2048|rsa-3072|rsa-4096]`,
  about: `Makes a private CA and a serving certificate for the webhook Service, valid for
NAME, NAME.NS, NAME.NS.svc and NAME.NS.svc.cluster.local (plus any --dns-name/--ip-address).`,
  flags: {
    service: { type: 'string', arg: 'NAME', help: 'the name of the webhook Service (required)' },
    namespace: { type: 'string', arg: 'NS', help: 'the namespace of the webhook Service (required)' },
    'out-dir': { type: 'string', arg: 'DIR', help: 'write tls.crt, tls.key (0600) and ca.crt into DIR; prints the caBundle on stdout' },
    force: { type: 'boolean', help: 'replace certificate files already in DIR' },
    'secret-manifest': { type: 'boolean', help: 'print a kubernetes.io/tls Secret (with ca.crt) on stdout; the caBundle goes to stderr' },
    'secret-name': { type: 'string', arg: 'N', help: `name of that Secret (default ${DEFAULT_SECRET_NAME})` },
    'patch-webhook': { type: 'string', arg: 'NAME', help: 'set caBundle on every webhook of MutatingWebhookConfiguration NAME through the API' },
    kubeconfig: { type: 'string', arg: 'FILE', help: 'cluster credentials for --patch-webhook (default: KUBECONFIG, ~/.kube/config, in-cluster)' },
    'dns-name': { type: 'string', multiple: true, arg: 'NAME', help: 'one more DNS name for the serving certificate' },
    'ip-address': { type: 'string', multiple: true, arg: 'IP', help: 'an IP address for the serving certificate' },
    'validity-days': { type: 'string', arg: 'N', help: 'lifetime of both certificates, 1 to 3650 (default 365)' },
    'key-type': { type: 'string', arg: 'TYPE', help: `${KEY_TYPES.join(', ')} (default rsa-2048; ECDSA is not supported by node-forge)` },
    output: { ...OUTPUT_FLAG, help: 'text (default: the caBundle, or the Secret as YAML) or json: {caBundle, files} or {caBundle, secret}' },
  },
} as const satisfies CommandSpec;

type Flags = FlagValues<typeof CERTS.flags>;

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

const isSubdomain = (name: string) => DNS_SUBDOMAIN.test(name) && name.length <= 253;

function serviceAndNamespace(values: Flags): { service: string; namespace: string } {
  const { service, namespace } = values;
  if (!service) throw new UsageError('--service is required (the name of the webhook Service)');
  if (!namespace) throw new UsageError('--namespace is required (the namespace of the webhook Service)');
  if (!DNS_LABEL.test(service)) throw new UsageError(`--service ${JSON.stringify(service)} is not a valid Service name (RFC 1123 label)`);
  if (!DNS_LABEL.test(namespace)) throw new UsageError(`--namespace ${JSON.stringify(namespace)} is not a valid namespace name (RFC 1123 label)`);
  return { service, namespace };
}

/** Where the key goes: files or a Secret manifest, exactly one, or the key would be lost. */
function destination(values: Flags): Pick<CertsOptions, 'outDir' | 'force' | 'secretManifest' | 'secretName'> {
  const outDir = values['out-dir'];
  const secretManifest = values['secret-manifest'] === true;
  if (outDir !== undefined && secretManifest) throw new UsageError('--out-dir and --secret-manifest are exclusive: choose one');
  if (outDir === undefined && !secretManifest)
    throw new UsageError('one of --out-dir DIR or --secret-manifest is required (otherwise the private key would be lost)');
  if (outDir === '') throw new UsageError('--out-dir must not be empty');
  if (values['secret-name'] !== undefined && !secretManifest) throw new UsageError('--secret-name only applies with --secret-manifest');
  if (values.force && outDir === undefined) throw new UsageError('--force only applies with --out-dir');
  const secretName = values['secret-name'] ?? DEFAULT_SECRET_NAME;
  if (!isSubdomain(secretName)) throw new UsageError(`--secret-name ${JSON.stringify(secretName)} is not a valid Secret name`);
  return { ...(outDir !== undefined ? { outDir } : {}), force: values.force === true, secretManifest, secretName };
}

function patchTarget(values: Flags): Pick<CertsOptions, 'patchWebhook' | 'kubeconfig'> {
  const patchWebhook = values['patch-webhook'];
  if (patchWebhook !== undefined && !isSubdomain(patchWebhook))
    throw new UsageError(`--patch-webhook ${JSON.stringify(patchWebhook)} is not a valid object name`);
  if (values.kubeconfig !== undefined && patchWebhook === undefined) throw new UsageError('--kubeconfig only applies with --patch-webhook');
  return { ...(patchWebhook !== undefined ? { patchWebhook } : {}), ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}) };
}

function keyType(value: string | undefined): KeyType | undefined {
  if (value !== undefined && !(KEY_TYPES as readonly string[]).includes(value)) {
    throw new UsageError(`--key-type must be one of ${KEY_TYPES.join(', ')}, got ${JSON.stringify(value)} (ECDSA is not supported by node-forge)`);
  }
  return value as KeyType | undefined;
}

function certsOptions(values: Flags): CertsOptions {
  const validityDays = intFlag(values['validity-days'], 'validity-days', 1, 3650);
  const type = keyType(values['key-type']);
  return {
    ...serviceAndNamespace(values),
    ...destination(values),
    ...patchTarget(values),
    dnsNames: values['dns-name'] ?? [],
    ipAddresses: values['ip-address'] ?? [],
    ...(validityDays !== undefined ? { validityDays } : {}),
    ...(type !== undefined ? { keyType: type } : {}),
  };
}

/** The names the API server may use to reach the Service, short to fully qualified. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function secretObject(set: CertificateSet, name: string, namespace: string) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/name': 'keda-carbon', 'app.kubernetes.io/component': 'webhook-tls' },
    },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(set.cert), 'tls.key': b64(set.key), 'ca.crt': b64(set.caCert) },
  };
}

export function secretManifest(set: CertificateSet, name: string, namespace: string): string {
  return stringify(secretObject(set, name, namespace));
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
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const keyFile = join(dir, 'tls.key');
    await writeFile(keyFile, set.key, { mode: 0o600 });
    await chmod(keyFile, 0o600);
    await writeFile(join(dir, 'tls.crt'), set.cert, { mode: 0o644 });
    await writeFile(join(dir, 'ca.crt'), set.caCert, { mode: 0o644 });
  } catch (err) {
    throw new Error(`cannot write the certificate files into ${dir}: ${fsReason(err)}`);
  }
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

/** Credentials for --patch-webhook; a file that cannot be read or holds no cluster is an input error. */
function loadKubeConfig(file: string | undefined, env: CertsIO['env']): KubeConfig {
  const access = clusterAccess(file, env, { home: homedir() });
  if (!access) throw new UsageError('no --kubeconfig, KUBECONFIG, in-cluster service account or ~/.kube/config found');
  try {
    return loadClusterConfig(access);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function makeCertificates(opts: CertsOptions): CertificateSet {
  try {
    return generateCertificates({
      commonName: `${opts.service}.${opts.namespace}.svc`,
      dnsNames: [...serviceDnsNames(opts.service, opts.namespace), ...opts.dnsNames],
      ipAddresses: opts.ipAddresses,
      ...(opts.validityDays !== undefined ? { validityDays: opts.validityDays } : {}),
      ...(opts.keyType !== undefined ? { keyType: opts.keyType } : {}),
    });
  } catch (err) {
    // What generateCertificates refuses is what the flags asked for (an IP that is not one).
    throw new UsageError((err as Error).message);
  }
}

async function certs(flags: Flags, io: CommandIO): Promise<number> {
  const opts = certsOptions(flags);
  const json = outputFlag(flags.output) === 'json';
  // load credentials before making anything, so a bad kubeconfig leaves no orphaned files
  const kc = opts.patchWebhook !== undefined ? loadKubeConfig(opts.kubeconfig, io.env) : undefined;
  const set = makeCertificates(opts);
  const caBundle = b64(set.caCert);
  // Everything is printed before the API is called, so a failed patch loses no key.
  if (opts.outDir !== undefined) {
    await writeFiles(opts.outDir, set, opts.force);
    const files = { cert: join(opts.outDir, 'tls.crt'), key: join(opts.outDir, 'tls.key'), ca: join(opts.outDir, 'ca.crt') };
    io.stderr.write(`wrote ${files.cert}, ${files.key} and ${files.ca}\n`);
    io.stdout.write(json ? `${JSON.stringify({ caBundle, files })}\n` : `${caBundle}\n`);
  } else {
    const secret = secretObject(set, opts.secretName, opts.namespace);
    io.stdout.write(json ? `${JSON.stringify({ caBundle, secret })}\n` : stringify(secret));
    io.stderr.write(`caBundle: ${caBundle}\n`);
  }
  if (opts.patchWebhook !== undefined && kc) {
    let n: number;
    try {
      n = await patchWebhookCaBundle(kc, opts.patchWebhook, caBundle);
    } catch (err) {
      throw new Error(apiErrorMessage(err, opts.patchWebhook));
    }
    io.stderr.write(`patched caBundle into ${n} webhook(s) of MutatingWebhookConfiguration ${opts.patchWebhook}\n`);
  }
  return 0;
}

export const runCerts = command(CERTS, certs);
