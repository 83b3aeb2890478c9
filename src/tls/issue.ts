import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type Forge from 'node-forge';

let forgeModule: typeof Forge | undefined;

/** node-forge only makes certificates: a start that finds them on disk or in a Secret never loads it. */
function forge(): typeof Forge {
  forgeModule ??= createRequire(import.meta.url)('node-forge') as typeof Forge;
  return forgeModule;
}

/**
 * Only RSA is offered: node-forge can neither generate nor sign with ECDSA keys, and mixing
 * in a second crypto stack for one key type is not worth it for a cluster-internal webhook.
 */
export type KeyType = 'rsa-2048' | 'rsa-3072' | 'rsa-4096';
export const KEY_TYPES: readonly KeyType[] = ['rsa-2048', 'rsa-3072', 'rsa-4096'];

/** A certificate and its private key, as PEM. */
export interface PemPair {
  cert: string;
  key: string;
}

/**
 * Clocks of API server nodes and webhook pods drift; a cert born "in the future" is refused.
 * The renewal decision (renewal.ts) knows this constant, so "two thirds of the life" is of
 * the validity asked for, not of the backdated span.
 */
export const BACKDATE_MS = 60 * 60 * 1000;

function fail(message: string): never {
  throw new Error(`certificates: ${message}`);
}

/**
 * A positive serial of 16 random bytes (RFC 5280 allows up to 20 octets). Forcing the top bit
 * off keeps the DER integer positive without a leading zero byte.
 */
function randomSerial(): string {
  const bytes = randomBytes(16);
  // top bit off: positive; never zero: DER would then need fewer octets than we promised
  bytes[0] = (bytes[0] ?? 0) & 0x7f || 0x01;
  return bytes.toString('hex');
}

export function keyBits(keyType: KeyType | undefined): number {
  const type = keyType ?? 'rsa-2048';
  switch (type) {
    case 'rsa-2048':
      return 2048;
    case 'rsa-3072':
      return 3072;
    case 'rsa-4096':
      return 4096;
    default:
      return fail(`keyType ${JSON.stringify(type)} is not supported; use one of ${KEY_TYPES.join(', ')} (node-forge cannot create ECDSA certificates)`);
  }
}

function generateKeyPair(bits: number): Forge.pki.rsa.KeyPair {
  // forge delegates to Node's native generateKeyPairSync when it is available (~0.2 s for 2048)
  return forge().pki.rsa.generateKeyPair({ bits, e: 0x10001 });
}

function newCertificate(publicKey: Forge.pki.PublicKey, now: number, notAfter: number): Forge.pki.Certificate {
  const cert = forge().pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(now - BACKDATE_MS);
  cert.validity.notAfter = new Date(notAfter);
  return cert;
}

// forge writes CRLF line ends; LF is what openssl, kubectl and cert-manager write
const lf = (pem: string) => pem.replace(/\r\n/g, '\n');

export interface CaOptions {
  commonName: string;
  validityMs: number;
  keyType?: KeyType | undefined;
  /** Issuance time (ms); default now. */
  now?: number | undefined;
}

/** A self-signed CA that may sign serving certificates only (pathLen 0). */
export function makeCa(o: CaOptions): PemPair {
  const now = o.now ?? Date.now();
  const keys = generateKeyPair(keyBits(o.keyType));
  const ca = newCertificate(keys.publicKey, now, now + o.validityMs);
  const subject = [
    { name: 'commonName', value: `${o.commonName.slice(0, 61)} CA` },
    { name: 'organizationName', value: 'keda-carbon' },
  ];
  ca.setSubject(subject);
  ca.setIssuer(subject);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.sign(keys.privateKey, forge().md.sha256.create());
  return { cert: lf(forge().pki.certificateToPem(ca)), key: lf(forge().pki.privateKeyToPem(keys.privateKey)) };
}

export interface ServingOptions {
  commonName: string;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  validityMs: number;
  keyType?: KeyType | undefined;
  now?: number | undefined;
}

/**
 * A serving certificate for `dnsNames` and `ipAddresses`, signed by `ca`. It never outlives
 * its CA: a chain whose CA has expired is refused whatever the leaf says.
 */
export function issueServing(ca: PemPair, o: ServingOptions): PemPair {
  const now = o.now ?? Date.now();
  const caCert = forge().pki.certificateFromPem(ca.cert);
  const caKey = forge().pki.privateKeyFromPem(ca.key);
  const keys = generateKeyPair(keyBits(o.keyType));
  const notAfter = Math.min(now + o.validityMs, caCert.validity.notAfter.getTime());
  const leaf = newCertificate(keys.publicKey, now, notAfter);
  leaf.setSubject([
    { name: 'commonName', value: o.commonName },
    { name: 'organizationName', value: 'keda-carbon' },
  ]);
  leaf.setIssuer(caCert.subject.attributes);
  leaf.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [...o.dnsNames.map((value) => ({ type: 2, value })), ...o.ipAddresses.map((ip) => ({ type: 7, ip }))],
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  leaf.sign(caKey, forge().md.sha256.create());
  return { cert: lf(forge().pki.certificateToPem(leaf)), key: lf(forge().pki.privateKeyToPem(keys.privateKey)) };
}
