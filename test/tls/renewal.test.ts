import t from 'tap';
import { BACKDATE_MS, issueServing, makeCa } from '../../src/tls/issue.js';
import {
  decideRenewal,
  desiredBundle,
  renewAt,
  SECRET_KEYS,
  serviceNames,
  summarize,
  type CaFacts,
  type RenewalPolicy,
  type SecretFacts,
  type ServingFacts,
} from '../../src/tls/renewal.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const NAMES = serviceNames('keda-carbon', 'kc');
const CERT = 90 * DAY;
const CA = 365 * DAY;

/** Facts as our own issuance makes them: backdated by BACKDATE_MS. */
const ca = (issuedAt: number, validity = CA, hasKey = true): CaFacts => ({
  notBefore: issuedAt - BACKDATE_MS,
  notAfter: issuedAt + validity,
  fingerprint: `ca-${issuedAt}`,
  hasKey,
});
const serving = (issuedAt: number, o: Partial<ServingFacts> = {}): ServingFacts => ({
  notBefore: issuedAt - BACKDATE_MS,
  notAfter: issuedAt + CERT,
  names: NAMES,
  keyMatches: true,
  issuer: 'current',
  ...o,
});
const policy = (o: Partial<RenewalPolicy> = {}): RenewalPolicy => ({
  names: NAMES,
  certValidityMs: CERT,
  bundleTrustedSince: null,
  publishGraceMs: 30_000,
  ...o,
});
const facts = (o: Partial<SecretFacts>): SecretFacts => ({ ca: null, previous: null, serving: null, ...o });

t.test('two thirds of the life asked for, not of the backdated span', async (t) => {
  t.equal(renewAt(serving(T0)), T0 + 60 * DAY, 'a 90-day certificate renews after 60 days');
  t.equal(renewAt({ notBefore: T0, notAfter: T0 + 30 * MIN }), T0 + 20 * MIN, 'a span shorter than the backdating is not ours and counts whole');
});

t.test('an empty or broken Secret: a new CA and serving certificate', async (t) => {
  t.match(decideRenewal(facts({}), T0, policy()), { do: 'issue-ca-and-cert', reason: /no CA; no serving certificate/ });
  const expiredCa = ca(T0 - 400 * DAY);
  t.match(decideRenewal(facts({ ca: expiredCa, serving: serving(T0 - 400 * DAY) }), T0, policy()), { do: 'issue-ca-and-cert', reason: /not valid now/ });
  t.match(decideRenewal(facts({ ca: ca(T0, CA, false) }), T0, policy()), { do: 'issue-ca-and-cert', reason: /CA key is missing/ });
});

t.test('a CA without its key while a valid certificate is served: a new CA, the old one kept in the bundle', async (t) => {
  t.same(decideRenewal(facts({ ca: ca(T0, CA, false), serving: serving(T0) }), T0 + DAY, policy()), {
    do: 'rotate-ca',
    reason: 'the CA key is missing or does not match',
    keep: 'current',
  });
  const fromPrevious = facts({ ca: ca(T0, CA, false), previous: ca(T0 - DAY), serving: serving(T0, { issuer: 'previous' }) });
  t.match(decideRenewal(fromPrevious, T0 + DAY, policy()), { do: 'rotate-ca', keep: 'previous' }, 'the CA that signed what is served is the one kept');
});

t.test('a fresh CA and certificate: nothing to do', async (t) => {
  t.same(decideRenewal(facts({ ca: ca(T0), serving: serving(T0) }), T0 + 59 * DAY, policy()), { do: 'none' });
});

t.test('the serving certificate is renewed from the same CA', async (t) => {
  const base = { ca: ca(T0) };
  const cases: Array<[string, Partial<SecretFacts>, number, RegExp]> = [
    ['past two thirds', { serving: serving(T0) }, T0 + 60 * DAY, /two thirds/],
    ['missing', {}, T0, /no serving certificate/],
    ['other names', { serving: serving(T0, { names: serviceNames('old-name', 'kc') }) }, T0, /other names \(old-name/],
    ['a key of another certificate', { serving: serving(T0, { keyMatches: false }) }, T0, /does not match/],
    ['signed by a CA not in the Secret', { serving: serving(T0, { issuer: 'other' }) }, T0, /not signed by a CA in the Secret/],
    ['expired', { serving: serving(T0 - 100 * DAY) }, T0, /expired/],
    ['not valid yet (a clock behind)', { serving: serving(T0 + 2 * BACKDATE_MS) }, T0, /not valid yet/],
  ];
  for (const [what, f, now, reason] of cases) {
    t.match(decideRenewal(facts({ ...base, ...f }), now, policy()), { do: 'issue-cert', reason, dropPrevious: false }, what);
  }
  t.match(
    decideRenewal(facts({ ca: ca(T0), serving: serving(T0, { names: [...NAMES].reverse() }) }), T0, policy()),
    { do: 'none' },
    'the order of names does not matter',
  );
});

t.test('the CA is replaced before its end, one switch at a time', async (t) => {
  const caAt = T0;
  const certAt = T0 + 244 * DAY;
  t.match(decideRenewal(facts({ ca: ca(caAt), serving: serving(certAt) }), certAt + DAY, policy()), {
    do: 'rotate-ca',
    reason: /past two thirds/,
    keep: 'current',
  });
  const shortCa = ca(T0, 150 * DAY);
  t.match(decideRenewal(facts({ ca: shortCa, serving: serving(T0 + 61 * DAY) }), T0 + 61 * DAY, policy()), {
    do: 'rotate-ca',
    reason: /expires before a new serving certificate/,
  });
  // a switch is under way (a previous CA in the bundle): no second new CA
  const during = facts({ ca: ca(caAt), previous: ca(caAt - 100 * DAY), serving: serving(certAt) });
  t.same(decideRenewal(during, certAt + DAY, policy()), { do: 'none' });
});

t.test('CA switch: serve from the new CA only once the caBundle has trusted it for the grace period', async (t) => {
  const now = T0 + DAY;
  const switching = facts({ ca: ca(now - MIN), previous: ca(T0 - 300 * DAY), serving: serving(T0, { issuer: 'previous' }) });
  t.match(decideRenewal(switching, now, policy()), { do: 'wait' }, 'the bundle does not hold the new CA yet');
  t.match(decideRenewal(switching, now, policy({ bundleTrustedSince: now - 10_000 })), { do: 'wait' }, 'published 10 s ago');
  t.same(decideRenewal(switching, now, policy({ bundleTrustedSince: now - 30_000 })), {
    do: 'issue-cert',
    reason: 'CA switch: the caBundle trusts the new CA',
    dropPrevious: false,
  });
});

t.test('the previous CA leaves the bundle at the next renewal, or once it has expired', async (t) => {
  const prev = ca(T0 - 340 * DAY);
  const after = facts({ ca: ca(T0), previous: prev, serving: serving(T0 + MIN) });
  t.same(decideRenewal(after, T0 + MIN + 60 * DAY, policy()), {
    do: 'issue-cert',
    reason: 'the serving certificate is past two thirds of its life',
    dropPrevious: true,
  });
  t.same(decideRenewal(after, prev.notAfter + 1, policy()), { do: 'drop-previous', reason: 'the previous CA has expired' });
  t.same(decideRenewal(after, T0 + 2 * MIN, policy()), { do: 'none' }, 'kept while a replica may still serve the old certificate');
});

t.test('summarize reads what a Secret holds', async (t) => {
  const now = Date.now();
  const oldCa = makeCa({ commonName: 'kc', validityMs: 2 * DAY, now });
  const newCa = makeCa({ commonName: 'kc', validityMs: 2 * DAY, now });
  const leaf = issueServing(oldCa, { commonName: 'kc', dnsNames: NAMES, ipAddresses: ['127.0.0.1', '::1'], validityMs: DAY, now });
  const data = {
    [SECRET_KEYS.ca]: newCa.cert,
    [SECRET_KEYS.caKey]: newCa.key,
    [SECRET_KEYS.previousCa]: oldCa.cert,
    [SECRET_KEYS.cert]: leaf.cert,
    [SECRET_KEYS.key]: leaf.key,
  };
  const f = summarize(data);
  t.equal(f.ca?.hasKey, true);
  t.equal(f.serving?.issuer, 'previous', 'the leaf was signed by the previous CA');
  t.equal(f.serving?.keyMatches, true);
  t.equal(f.serving!.notAfter - f.serving!.notBefore, DAY + BACKDATE_MS);
  t.match(decideRenewal(f, now, policy({ names: [...NAMES, '127.0.0.1', '::1'] })), { do: 'wait' }, 'IPv6 names compare as the same address');
  t.equal(summarize({ ...data, [SECRET_KEYS.caKey]: oldCa.key }).ca?.hasKey, false, 'a key of another CA does not count');
  t.equal(summarize({ ...data, [SECRET_KEYS.previousCa]: '' }).serving?.issuer, 'other');
  t.same(summarize({ [SECRET_KEYS.ca]: leaf.cert, [SECRET_KEYS.cert]: 'not a certificate' }), { ca: null, previous: null, serving: null }, 'a leaf is no CA');
  t.equal(desiredBundle(data), `${newCa.cert}${oldCa.cert}`, 'the bundle: current CA, then the previous one');
  t.equal(desiredBundle({}), '');
});

t.test('the names of a Service', async (t) => {
  t.same(serviceNames('kc', 'ns', ['127.0.0.1']), ['127.0.0.1', 'kc', 'kc.ns', 'kc.ns.svc', 'kc.ns.svc.cluster.local']);
});
