/**
 * Self-managed certificates against the real API server: the leader fills the empty Secret
 * and the caBundle, a replica that does not lead picks the certificate up, renewals and a
 * CA switch happen while the API server keeps calling the webhook (0 failed), and a write
 * that is refused or loses a race is retried, not fatal. Time is a real clock plus a skew
 * the test moves forward, so certificates stay valid for the real TLS clients while their
 * renewal dates arrive within seconds. Runs only when KEDA_CARBON_E2E_KUBECONFIG is set.
 */
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import type { Clock, KubeApi } from '../../src/ports.js';
import { ClusterCertificates } from '../../src/server/cluster-certs.js';
import { serviceNames } from '../../src/tls/renewal.js';
import { clusterOrSkip, waitFor } from '../e2e/cluster-env.js';
import { bundles, grant, handshake, impersonating, installFixture, keepCalling, secretData, startWebhook, type Webhook } from '../helpers/cluster-certs.js';
import { captureLogger } from '../helpers/log.js';

t.setTimeout(240_000);
const c = clusterOrSkip(t);
const MIN = 60_000;
const SECRET = 'kc-tls';

/** Real time plus a skew the test advances: decisions see the future, TLS clients the present. */
function skewedClock(): Clock & { skip(ms: number): void } {
  let skew = 0;
  return {
    now: () => Date.now() + skew,
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    skip: (ms) => {
      skew += ms;
    },
  };
}

function replica(o: { api?: KubeApi; ns: string; mwc: string; leader: () => boolean; webhook: Webhook; clock: Clock }) {
  const { logger, lines } = captureLogger();
  const certs = new ClusterCertificates({
    api: o.api ?? c.api,
    namespace: o.ns,
    secretName: SECRET,
    webhookConfig: o.mwc,
    names: serviceNames('keda-carbon', o.ns, ['127.0.0.1']),
    certValidityMs: 3 * MIN,
    caValidityMs: 9 * MIN,
    isLeader: o.leader,
    onPair: o.webhook.swap,
    logger,
    clock: o.clock,
    publishGraceMs: 2_000,
  });
  const logs = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { certs, logs };
}

const lastDecision = (r: ReturnType<typeof replica>) =>
  r
    .logs()
    .filter((l) => String(l.msg).startsWith('certificates:'))
    .at(-1)?.decision;
const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
const pems = (bundle: string) => bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];

t.test('the leader fills the Secret and the caBundle, renews, and switches CA while every call succeeds', async (t) => {
  const [a, b] = [await startWebhook(t), await startWebhook(t)];
  const { ns, mwc } = await installFixture(t, c, a, SECRET, 'renew');
  const clock = skewedClock();
  const leader = replica({ ns, mwc, leader: () => true, webhook: a, clock });
  const follower = replica({ ns, mwc, leader: () => false, webhook: b, clock });
  const servername = `keda-carbon.${ns}.svc`;

  t.equal(await follower.certs.poll(), true, 'the follower reads the Secret');
  t.equal(follower.certs.loaded, false, 'nothing to load yet: /readyz stays 503');
  t.same(await secretData(c, ns, SECRET), {}, 'a replica that does not lead never writes');
  await leader.certs.poll();
  const first = await secretData(c, ns, SECRET);
  t.same(Object.keys(first).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'], 'the leader filled the empty Secret');
  t.same(await bundles(c, mwc), [first['ca.crt'], first['ca.crt']], 'and every webhook of the configuration trusts its CA');
  t.equal(leader.certs.loaded, true);
  await follower.certs.poll();
  t.equal(follower.certs.loaded, true, 'the follower picked the certificate up');
  for (const w of [a, b]) t.equal(await handshake(w.port, first['ca.crt']!, servername), fingerprint(first['tls.crt']!), "both serve the Secret's certificate");
  t.ok(leader.logs().some((l) => l.msg === 'wrote the certificate Secret'));
  t.notOk(JSON.stringify([...leader.logs(), ...follower.logs()]).includes('PRIVATE KEY'), 'no key in any log line');

  const calls = keepCalling(c, { ns, mwc, ports: [a.port, b.port], servername });
  let waited = false;
  const seen = { certs: new Set<string>(), cas: new Set<string>(), sizes: [] as number[] };
  const switched = () => seen.sizes.join('').includes('21');
  // 30 s steps of certificate time: renewals every 2 minutes, a new CA after 6, until the switch is over.
  for (let step = 0; step < 40 && !switched(); step++) {
    await leader.certs.poll();
    await follower.certs.poll();
    const data = await secretData(c, ns, SECRET);
    const bundle = (await bundles(c, mwc))[0]!;
    const served = new X509Certificate(data['tls.crt']!);
    const trusted = pems(bundle).map((p) => new X509Certificate(p));
    t.ok(
      trusted.some((ca) => served.checkIssued(ca) && served.verify(ca.publicKey)),
      `step ${step}: the caBundle trusts the certificate in the Secret`,
    );
    seen.certs.add(served.fingerprint256);
    seen.cas.add(fingerprint(data['ca.crt']!));
    seen.sizes.push(trusted.length);
    if (lastDecision(leader) === 'wait') {
      // the grace after publishing a new CA is real time (the API server's informers need it): no skipping
      await waitFor('the leader to serve from the new CA', async () => (await leader.certs.poll()) && lastDecision(leader) !== 'wait', 30_000);
      waited = true;
    } else clock.skip(30_000);
  }
  t.ok(waited, 'the leader waited before serving from the new CA');
  const counts = await calls.stop();
  t.ok(seen.certs.size >= 4, `the serving certificate changed ${seen.certs.size - 1} times`);
  t.equal(seen.cas.size, 2, 'the CA was replaced once');
  t.ok(switched(), `both CAs were in the caBundle during the switch, then the new one alone (CAs per step: ${seen.sizes.join(' ')})`);
  const last = await secretData(c, ns, SECRET);
  t.notOk(last['ca-previous.crt'], 'the previous CA left the Secret');
  t.same(pems((await bundles(c, mwc))[0]!), [last['ca.crt']!.trim()], 'and the caBundle');
  t.ok(counts.admission > 10 && counts.direct > 10, `calls made: ${counts.admission} by the API server, ${counts.direct} direct`);
  t.equal(counts.admissionFailed + counts.directFailed, 0, 'no call failed', { errors: counts.errors.slice(0, 5) });
});

t.test('with only the rules of the contract: a refused write is logged once and retried, then the leader fills the Secret', async (t) => {
  const w = await startWebhook(t);
  const { ns, mwc } = await installFixture(t, c, w, SECRET, 'rbac');
  const user = await grant(t, c, { ns, sa: 'keda-carbon', secret: SECRET, mwc, secretVerbs: ['get'] });
  const leader = replica({ api: impersonating(c.kubeconfig, user), ns, mwc, leader: () => true, webhook: w, clock: skewedClock() });
  t.equal(await leader.certs.poll(), true, 'reading is allowed');
  t.equal(await leader.certs.poll(), true, 'a refused write is not fatal');
  const refused = leader.logs().filter((l) => l.msg === 'cannot write the certificate Secret; the next round tries again');
  t.match(refused, [{ status: 403, hint: /update/ }], 'said once, with what RBAC must grant');
  t.same(await secretData(c, ns, SECRET), {}, 'nothing was written');

  await grant(t, c, { ns, sa: 'keda-carbon', secret: SECRET, mwc, secretVerbs: ['get', 'update', 'patch'] });
  await waitFor('the leader to fill the Secret once RBAC allows it', async () => (await leader.certs.poll()) && leader.certs.loaded, 10_000);
  const data = await secretData(c, ns, SECRET);
  t.same(await bundles(c, mwc), [data['ca.crt'], data['ca.crt']], 'get and update on the one webhook configuration are enough for the caBundle');
  t.equal(await handshake(w.port, data['ca.crt']!, `keda-carbon.${ns}.svc`), new X509Certificate(data['tls.crt']!).fingerprint256);
});

t.test("two leaders at once (a Lease handover): the second write conflicts, is not forced, and the loser adopts the winner's certificate", async (t) => {
  const [a, b] = [await startWebhook(t), await startWebhook(t)];
  const { ns, mwc } = await installFixture(t, c, a, SECRET, 'race');
  const clock = skewedClock();
  const winner = replica({ ns, mwc, leader: () => true, webhook: a, clock });
  // The loser read the empty Secret too; the winner writes just before the loser's own write goes out.
  const racing: KubeApi = {
    watch: c.api.watch,
    async request(method, path, options) {
      if (method === 'PUT' && path.includes('/secrets/')) await winner.certs.poll();
      return c.api.request(method, path, options);
    },
  };
  const loser = replica({ api: racing, ns, mwc, leader: () => true, webhook: b, clock });
  t.equal(await loser.certs.poll(), true, 'a conflict is not fatal');
  t.match(
    loser.logs().filter((l) => String(l.msg).startsWith('the certificate Secret changed since it was read')),
    [{ status: 409 }],
    'the conflict is logged',
  );
  const stored = await secretData(c, ns, SECRET);
  t.equal(winner.certs.loaded, true);
  t.equal(loser.certs.loaded, false, 'the loser does not serve what it failed to store');
  await loser.certs.poll();
  t.same(await secretData(c, ns, SECRET), stored, "the winner's certificates stand");
  t.equal(
    await handshake(b.port, stored['ca.crt']!, `keda-carbon.${ns}.svc`),
    new X509Certificate(stored['tls.crt']!).fingerprint256,
    'the loser now serves them',
  );
});
