import { createPrivateKey, X509Certificate } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { issueServing, keyBits, makeCa, type KeyType } from './issue.js';

export { KEY_TYPES, type KeyType } from './issue.js';

export interface GenerateOptions {
  commonName?: string;
  dnsNames: string[];
  ipAddresses: string[];
  validityDays?: number;
  keyType?: KeyType;
}

export interface CertificateSet {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

export const DEFAULT_VALIDITY_DAYS = 365;
const DNS_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

function fail(message: string): never {
  throw new Error(`certificates: ${message}`);
}

function validate(options: GenerateOptions): { dnsNames: string[]; ipAddresses: string[]; days: number } {
  if (!options || typeof options !== 'object') fail('options are required');
  const dnsNames = options.dnsNames ?? [];
  const ipAddresses = options.ipAddresses ?? [];
  if (!Array.isArray(dnsNames)) fail('dnsNames must be an array of host names');
  if (!Array.isArray(ipAddresses)) fail('ipAddresses must be an array of IP addresses');
  if (dnsNames.length + ipAddresses.length === 0) fail('at least one DNS name or IP address is required');
  for (const name of dnsNames) {
    if (typeof name !== 'string' || name.length > 253 || !DNS_NAME.test(name)) {
      fail(`dnsNames: ${JSON.stringify(name)} is not a valid DNS name`);
    }
  }
  for (const ip of ipAddresses) {
    if (typeof ip !== 'string' || isIP(ip) === 0) fail(`ipAddresses: ${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
  }
  const days = options.validityDays ?? DEFAULT_VALIDITY_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > 3650) {
    fail(`validityDays must be an integer from 1 to 3650, got ${JSON.stringify(options.validityDays)}`);
  }
  return { dnsNames: [...new Set(dnsNames)], ipAddresses: [...new Set(ipAddresses)], days };
}

/**
 * A private CA and a serving certificate signed by it, as PEM strings. The CA lives only as
 * long as the serving certificate: rotation means generating both again and updating the
 * webhook's caBundle.
 */
export function generateCertificates(options: GenerateOptions): CertificateSet {
  const { dnsNames, ipAddresses, days } = validate(options);
  keyBits(options.keyType); // an unsupported key type fails before anything is made
  const commonName = options.commonName ?? dnsNames[0] ?? ipAddresses[0] ?? 'keda-carbon';
  if (typeof commonName !== 'string' || commonName.length === 0 || commonName.length > 64) {
    fail('commonName must be a non-empty string of at most 64 characters');
  }
  const now = Date.now();
  const validityMs = days * 24 * 60 * 60 * 1000;
  const ca = makeCa({ commonName, validityMs, keyType: options.keyType, now });
  const leaf = issueServing(ca, { commonName, dnsNames, ipAddresses, validityMs, keyType: options.keyType, now });
  return { caCert: ca.cert, caKey: ca.key, cert: leaf.cert, key: leaf.key };
}

export interface LocalCertificates {
  certFile: string;
  keyFile: string;
  caFile: string | null;
  created: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The certificate directory of `serve`: use tls.crt/tls.key when they are there (a mounted
 * kubernetes.io/tls Secret), otherwise make a CA and a certificate for local use. One of the
 * two files without the other is an error rather than a silent overwrite of the survivor.
 */
export async function ensureLocalCertificates(dir: string, options: { dnsNames?: string[]; ipAddresses?: string[] } = {}): Promise<LocalCertificates> {
  if (typeof dir !== 'string' || dir.length === 0) fail('certificate directory must be a non-empty path');
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  const caPath = join(dir, 'ca.crt');
  const [haveCert, haveKey] = await Promise.all([exists(certFile), exists(keyFile)]);
  if (haveCert && haveKey) {
    return { certFile, keyFile, caFile: (await exists(caPath)) ? caPath : null, created: false };
  }
  if (haveCert !== haveKey) {
    fail(`${dir} holds ${haveCert ? 'tls.crt without tls.key' : 'tls.key without tls.crt'}; provide both or neither`);
  }

  const host = hostname().toLowerCase();
  const dnsNames = ['localhost', ...(DNS_NAME.test(host) ? [host] : []), ...(options.dnsNames ?? [])];
  const ipAddresses = ['127.0.0.1', '::1', ...(options.ipAddresses ?? [])];
  const set = generateCertificates({ commonName: 'keda-carbon local', dnsNames, ipAddresses });

  await mkdir(dir, { recursive: true, mode: 0o700 });
  // mode on writeFile only applies to new files; chmod covers a pre-existing one
  await writeFile(keyFile, set.key, { mode: 0o600 });
  await chmod(keyFile, 0o600);
  await writeFile(certFile, set.cert, { mode: 0o644 });
  await writeFile(caPath, set.caCert, { mode: 0o644 });
  // the CA key is deliberately not kept: nothing else should be able to mint certs it trusts
  return { certFile, keyFile, caFile: caPath, created: true };
}

/** Reads a PEM pair and checks it before anyone serves with it; throws naming what is wrong. */
export async function readCertificatePair(certFile: string, keyFile: string): Promise<{ cert: string; key: string }> {
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  checkPair(cert, key);
  return { cert, key };
}

/** Throws unless `cert` parses and `key` is its private key. */
export function checkPair(cert: string, key: string): X509Certificate {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    return fail(`certificate does not parse: ${(err as Error).message}`);
  }
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    return fail(`private key does not parse: ${(err as Error).message}`);
  }
  if (!matches) fail('private key does not belong to the certificate');
  return x509;
}

/** When the first certificate of a PEM bundle (the serving one) expires, in Unix seconds. */
export function certificateExpirySeconds(certPem: string): number {
  return Math.floor(Date.parse(new X509Certificate(certPem).validTo) / 1000);
}
