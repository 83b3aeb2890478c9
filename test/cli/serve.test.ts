import t from 'tap';
import { parseFlags, type CommandIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { SERVE, secretFlags } from '../../src/cli/serve.js';

const io = (env: Record<string, string> = {}): CommandIO & { err(): string } => {
  const err: string[] = [];
  return { stdout: { write: () => true }, stderr: { write: (s: string) => err.push(s) }, env, err: () => err.join('') };
};
const flags = (argv: string[], env: Record<string, string> = {}) => secretFlags(parseFlags(argv, SERVE, io(env))!);
const DAY = 86_400_000;
const SELF = ['--tls-secret', 'kc-tls', '--webhook-config', 'kc', '--service-name', 'kc'];

t.test('the self-managed certificate flags', async (t) => {
  t.equal(flags([]), undefined, 'off without --tls-secret: the certificate directory as before');
  t.same(
    flags(SELF),
    { secret: 'kc-tls', webhookConfig: 'kc', serviceName: 'kc', certValidityMs: 90 * DAY, caValidityMs: 365 * DAY },
    'defaults: 90 days and a year',
  );
  t.same(
    flags([], {
      KEDA_CARBON_TLS_SECRET: 's',
      KEDA_CARBON_WEBHOOK_CONFIG: 'w',
      KEDA_CARBON_SERVICE_NAME: 'n',
      KEDA_CARBON_CERT_VALIDITY: '5m',
      KEDA_CARBON_CA_VALIDITY: '1h',
    }),
    { secret: 's', webhookConfig: 'w', serviceName: 'n', certValidityMs: 5 * 60_000, caValidityMs: 3_600_000 },
    'every flag has its environment variable',
  );
});

t.test('bad combinations and values are usage errors that say what to do', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--webhook-config', 'kc'], /--webhook-config is used with --tls-secret only/],
    [['--tls-secret', 'kc-tls', '--service-name', 'kc'], /--tls-secret needs --webhook-config too/],
    [[...SELF, '--cert-dir', '/tmp/x'], /exclude each other/],
    [['--tls-secret', 'KC_TLS', '--webhook-config', 'kc', '--service-name', 'kc'], /--tls-secret must be a Kubernetes object name/],
    [[...SELF, '--cert-validity', '30s'], /--cert-validity must be a duration from 1m to 3650d/],
    [[...SELF, '--ca-validity', 'a year'], /--ca-validity must be a duration/],
    [[...SELF, '--cert-validity', '90d', '--ca-validity', '100d'], /at least twice --cert-validity/],
  ];
  for (const [argv, message] of cases) {
    const o = io();
    t.equal(await main(['serve', ...argv], o), 2, argv.join(' '));
    t.match(o.err(), message);
  }
});

t.test('--tls-secret without cluster access stops at the start, saying why', async (t) => {
  const o = io();
  t.equal(await main(['serve', '--port', '0', '--metrics-port', '0', ...SELF], o), 2);
  t.match(o.err(), /--tls-secret needs cluster access/);
});
