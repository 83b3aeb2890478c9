import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { BACKDATE_MS } from './issue.js';

/**
 * What the Lease leader does with the certificates Secret, decided from what the Secret holds
 * and the time alone. `summarize` reads the PEM; `decideRenewal` is pure, so tests give it
 * any state and any instant.
 */

/** The keys serve writes into its Secret. */
export const SECRET_KEYS = { ca: 'ca.crt', caKey: 'ca.key', previousCa: 'ca-previous.crt', cert: 'tls.crt', key: 'tls.key' } as const;

export interface Validity {
  notBefore: number;
  notAfter: number;
}

export interface CaFacts extends Validity {
  fingerprint: string;
  /** The Secret holds the CA's private key, and it matches. */
  hasKey: boolean;
}

export interface ServingFacts extends Validity {
  /** DNS and IP names of the subjectAltName, sorted. */
  names: string[];
  keyMatches: boolean;
  /** Which CA of the Secret signed it. */
  issuer: 'current' | 'previous' | 'other';
}

export interface SecretFacts {
  ca: CaFacts | null;
  previous: (Validity & { fingerprint: string }) | null;
  serving: ServingFacts | null;
}

export interface RenewalPolicy {
  /** The names the serving certificate must carry, exactly. */
  names: readonly string[];
  certValidityMs: number;
  /** When the MWC was first seen trusting the current CA (this leader's clock), or null. */
  bundleTrustedSince: number | null;
  /** How long the caBundle must have trusted a new CA before a certificate from it is served. */
  publishGraceMs: number;
}

export type Renewal =
  | { do: 'issue-ca-and-cert'; reason: string }
  | { do: 'rotate-ca'; reason: string; keep: 'current' | 'previous' }
  | { do: 'issue-cert'; reason: string; dropPrevious: boolean }
  | { do: 'drop-previous'; reason: string }
  | { do: 'wait'; reason: string }
  | { do: 'none' };

/**
 * The instant two thirds of a certificate's life have passed. Our certificates are backdated
 * by BACKDATE_MS, which is not part of the life asked for; a span shorter than that is not ours
 * and counts whole.
 */
export function renewAt(v: Validity): number {
  const span = v.notAfter - v.notBefore;
  const life = span > BACKDATE_MS ? span - BACKDATE_MS : span;
  return v.notAfter - life / 3;
}

/** One spelling per name: IPv6 addresses compressed (X509Certificate prints them in full), DNS names lower case. */
function normalName(name: string): string {
  return isIP(name) === 6 ? new URL(`http://[${name}]`).hostname.slice(1, -1) : name.toLowerCase();
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const [x, y] = [new Set(a.map(normalName)), new Set(b.map(normalName))];
  return x.size === y.size && [...x].every((n) => y.has(n));
}

/** Why the serving certificate cannot stay, or null when it can. */
function servingProblem(s: ServingFacts | null, names: readonly string[], now: number): string | null {
  if (!s) return 'no serving certificate';
  if (!s.keyMatches) return 'the serving key does not match its certificate';
  if (s.issuer === 'other') return 'the serving certificate was not signed by a CA in the Secret';
  if (now < s.notBefore) return 'the serving certificate is not valid yet';
  if (now >= s.notAfter) return 'the serving certificate has expired';
  if (!sameNames(s.names, names)) return `the serving certificate is for other names (${s.names.join(', ')})`;
  return null;
}

/** Why the CA must be replaced, or null. Past two thirds of its life, or too short-lived to sign a whole certificate. */
function caDue(ca: CaFacts, now: number, certValidityMs: number): string | null {
  if (now >= renewAt(ca)) return 'the CA is past two thirds of its life';
  if (ca.notAfter - now < certValidityMs) return 'the CA expires before a new serving certificate would';
  return null;
}

/** The next step for the Secret; see docs/adr/0008-self-managed-certificates.md for the CA switch order. */
export function decideRenewal(facts: SecretFacts, now: number, policy: RenewalPolicy): Renewal {
  const { ca, previous, serving } = facts;
  const problem = servingProblem(serving, policy.names, now);
  const caUsable = ca?.hasKey && now < ca.notAfter && now >= ca.notBefore;
  if (!caUsable) {
    const why = ca === null ? 'no CA' : ca.hasKey ? 'the CA is not valid now' : 'the CA key is missing or does not match';
    if (problem) return { do: 'issue-ca-and-cert', reason: `${why}; ${problem}` };
    // Something valid is being served: keep trusting its issuer while a new CA takes over.
    return { do: 'rotate-ca', reason: why, keep: serving!.issuer === 'previous' ? 'previous' : 'current' };
  }
  if (problem) return { do: 'issue-cert', reason: problem, dropPrevious: false };
  const s = serving!;
  if (s.issuer === 'previous') {
    const since = policy.bundleTrustedSince;
    if (since !== null && now - since >= policy.publishGraceMs)
      return { do: 'issue-cert', reason: 'CA switch: the caBundle trusts the new CA', dropPrevious: false };
    return { do: 'wait', reason: 'CA switch: waiting until the caBundle has trusted the new CA for a while' };
  }
  const due = caDue(ca, now, policy.certValidityMs);
  // One switch at a time: a previous CA still in the bundle goes first (at the next renewal).
  if (due && !previous) return { do: 'rotate-ca', reason: due, keep: 'current' };
  if (now >= renewAt(s)) return { do: 'issue-cert', reason: 'the serving certificate is past two thirds of its life', dropPrevious: previous !== null };
  if (previous && now >= previous.notAfter) return { do: 'drop-previous', reason: 'the previous CA has expired' };
  return { do: 'none' };
}

/** The desired caBundle: the current CA, then the previous one during a switch. */
export function desiredBundle(data: Record<string, string>): string {
  return [data[SECRET_KEYS.ca], data[SECRET_KEYS.previousCa]]
    .filter((p): p is string => typeof p === 'string' && p.trim() !== '')
    .map((p) => (p.endsWith('\n') ? p : `${p}\n`))
    .join('');
}

function parseCert(pem: string | undefined): X509Certificate | null {
  if (!pem || pem.trim() === '') return null;
  try {
    return new X509Certificate(pem);
  } catch {
    return null;
  }
}

function keyOf(cert: X509Certificate, key: string | undefined): boolean {
  if (!key) return false;
  try {
    return cert.checkPrivateKey(createPrivateKey(key));
  } catch {
    return false;
  }
}

const validity = (x: X509Certificate): Validity => ({ notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo) });

/** The SAN names (DNS and IP) of a certificate, sorted. */
export function certificateNames(x: X509Certificate): string[] {
  return (x.subjectAltName ?? '')
    .split(', ')
    .map((entry) => entry.replace(/^DNS:/, '').replace(/^IP Address:/, ''))
    .filter((n) => n !== '')
    .sort();
}

function issuerOf(leaf: X509Certificate, ca: X509Certificate | null, previous: X509Certificate | null): ServingFacts['issuer'] {
  const signedBy = (c: X509Certificate | null) => c !== null && leaf.checkIssued(c) && leaf.verify(c.publicKey);
  if (signedBy(ca)) return 'current';
  if (signedBy(previous)) return 'previous';
  return 'other';
}

/** What the Secret's data (decoded) holds; anything that does not parse counts as absent. */
export function summarize(data: Record<string, string>): SecretFacts {
  const caCert = parseCert(data[SECRET_KEYS.ca]);
  const ca = caCert?.ca ? caCert : null;
  const prevCert = parseCert(data[SECRET_KEYS.previousCa]);
  const previous = prevCert?.ca ? prevCert : null;
  const leaf = parseCert(data[SECRET_KEYS.cert]);
  return {
    ca: ca ? { ...validity(ca), fingerprint: ca.fingerprint256, hasKey: keyOf(ca, data[SECRET_KEYS.caKey]) } : null,
    previous: previous ? { ...validity(previous), fingerprint: previous.fingerprint256 } : null,
    serving: leaf
      ? { ...validity(leaf), names: certificateNames(leaf), keyMatches: keyOf(leaf, data[SECRET_KEYS.key]), issuer: issuerOf(leaf, ca, previous) }
      : null,
  };
}

/** The names a serving certificate for Service `service` in `namespace` carries, plus any extra IPs or DNS names. */
export function serviceNames(service: string, namespace: string, extra: readonly string[] = []): string[] {
  const base = [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
  return [...new Set([...base, ...extra])].sort();
}
