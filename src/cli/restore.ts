import { homedir } from 'node:os';
import { DEFAULT_TOUCH } from '../config/config.js';
import { durationMs } from '../core/duration.js';
import { connectCluster } from '../cluster/kubeconfig.js';
import { DEFAULT_LEASE_NAME } from '../cluster/lease.js';
import { PoliteClient } from '../cluster/polite.js';
import { isFailure, restoreObjects, type ObjectOutcome, type RestoreObjectsResult } from '../cluster/restore.js';
import { deleteWebhookConfig, scaleDeploymentToZero, waitForLeaseRelease } from '../cluster/restore-steps.js';
import type { ClusterConnection } from '../cluster/access.js';
import { command, OUTPUT_FLAG, outputFlag, UsageError, type CommandIO, type CommandSpec, type FlagValues } from './io.js';

export const RESTORE = {
  name: 'restore',
  synopsis:
    '[-A | -n NAMESPACE] [--dry-run] [--kubeconfig FILE] [--webhook-config NAME] [--deployment NAMESPACE/NAME] [--lease-name NAME] [--wait-timeout DURATION] [-o text|json]',
  about: `Gives every ScaledObject and ScaledJob keda-carbon wrote to its declared max back
(from keda-carbon.io/declared-max-replica-count) and removes the annotations keda-carbon
wrote. Run it before uninstalling. With --webhook-config and --deployment it first removes
the webhook and stops the re-touch controller, so nothing caps the objects again. Objects
keda-carbon never touched are not written. Exits 1 when some object could not be restored.`,
  flags: {
    namespace: { type: 'string', short: 'n', arg: 'NAMESPACE', help: "only this namespace (default: the kubeconfig context's namespace, else default)" },
    'all-namespaces': { type: 'boolean', short: 'A', help: 'every namespace' },
    'dry-run': { type: 'boolean', help: 'write nothing: print what would change (each patch is still checked by the API server with dryRun=All)' },
    kubeconfig: { type: 'string', arg: 'FILE', help: 'cluster credentials (default: KUBECONFIG, the in-cluster service account, ~/.kube/config)' },
    'webhook-config': { type: 'string', arg: 'NAME', help: 'first delete this MutatingWebhookConfiguration (gone already is fine)' },
    deployment: { type: 'string', arg: 'NAMESPACE/NAME', help: "first scale keda-carbon's Deployment to 0 and wait until its Lease is released or expired" },
    'lease-name': { type: 'string', arg: 'NAME', help: `the controller's Lease in the Deployment's namespace (default ${DEFAULT_LEASE_NAME})` },
    'wait-timeout': { type: 'string', arg: 'DURATION', help: 'how long to wait for the Lease (default 2m)' },
    output: OUTPUT_FLAG,
  },
} as const satisfies CommandSpec;

type Flags = FlagValues<typeof RESTORE.flags>;

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function checkName(value: string, flag: string): string {
  if (!NAME.test(value) || value.length > 253) throw new UsageError(`--${flag} must be a Kubernetes object name, got ${JSON.stringify(value)}`);
  return value;
}

function deploymentFlag(value: string | undefined): { namespace: string; name: string } | undefined {
  if (value === undefined) return undefined;
  const [namespace, name, ...rest] = value.split('/');
  if (!namespace || !name || rest.length > 0) throw new UsageError(`--deployment must be NAMESPACE/NAME, got ${JSON.stringify(value)}`);
  return { namespace: checkName(namespace, 'deployment'), name: checkName(name, 'deployment') };
}

interface Options {
  dryRun: boolean;
  json: boolean;
  namespace: string | null | undefined;
  webhookConfig: string | undefined;
  deployment: { namespace: string; name: string } | undefined;
  leaseName: string;
  waitMs: number;
}

function options(flags: Flags): Options {
  if (flags.namespace !== undefined && flags['all-namespaces']) throw new UsageError('-n and -A exclude each other');
  if (flags['lease-name'] !== undefined && flags.deployment === undefined) throw new UsageError('--lease-name only applies with --deployment');
  const waitMs = durationMs(flags['wait-timeout'] ?? '2m');
  if (waitMs === null || waitMs <= 0) throw new UsageError(`--wait-timeout must be a duration such as 90s or 5m, got ${JSON.stringify(flags['wait-timeout'])}`);
  return {
    dryRun: flags['dry-run'] === true,
    json: outputFlag(flags.output) === 'json',
    namespace: flags['all-namespaces'] ? null : flags.namespace === undefined ? undefined : checkName(flags.namespace, 'namespace'),
    webhookConfig: flags['webhook-config'] === undefined ? undefined : checkName(flags['webhook-config'], 'webhook-config'),
    deployment: deploymentFlag(flags.deployment),
    leaseName: checkName(flags['lease-name'] ?? DEFAULT_LEASE_NAME, 'lease-name'),
    waitMs,
  };
}

function connect(flag: string | undefined, io: CommandIO): ClusterConnection {
  let connection: ClusterConnection | null;
  try {
    connection = connectCluster(flag, io.env, { home: homedir() });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!connection) throw new UsageError('no --kubeconfig, KUBECONFIG, in-cluster service account or ~/.kube/config found');
  return connection;
}

const maxText = (n: number | undefined) => (n === undefined ? 'unset' : String(n));

export function objectLine(o: ObjectOutcome): string {
  const id = `${o.namespace}/${o.kind}/${o.name}`;
  switch (o.result) {
    case 'restored':
    case 'would-restore': {
      const max = o.to === o.from ? `max ${maxText(o.to)} (unchanged)` : `max ${maxText(o.from)} -> ${maxText(o.to)}`;
      return `${id}: ${max}, annotations removed (${o.message})`;
    }
    case 'gone':
    case 'already':
      return `${id}: nothing to do (${o.message})`;
    default:
      return `${id}: NOT RESTORED (${o.message})`;
  }
}

function totalLine(r: RestoreObjectsResult, scope: string, dryRun: boolean): string {
  const count = (pred: (o: ObjectOutcome) => boolean) => r.outcomes.filter(pred).length;
  const done = count((o) => o.result === 'restored' || o.result === 'would-restore');
  const failed = count(isFailure);
  const verb = dryRun ? 'would restore' : 'restored';
  const untouched = r.listed - r.outcomes.length;
  return `${verb} ${done} of ${r.listed} ScaledObjects and ScaledJobs in ${scope}; ${untouched} never touched by keda-carbon; ${failed} not restored`;
}

async function restore(flags: Flags, io: CommandIO): Promise<number> {
  const o = options(flags);
  const connection = connect(flags.kubeconfig, io);
  const namespace = o.namespace === undefined ? (connection.contextNamespace ?? 'default') : o.namespace;
  const client = new PoliteClient(connection.api, { qps: DEFAULT_TOUCH.qps, burst: DEFAULT_TOUCH.burst, maxInFlight: DEFAULT_TOUCH.maxInFlight });
  const say = (line: string) => {
    if (!o.json) io.stdout.write(`${o.dryRun ? '(dry run) ' : ''}${line}\n`);
  };
  const steps: unknown[] = [];
  if (o.webhookConfig !== undefined) {
    const step = await deleteWebhookConfig(client, o.webhookConfig, o.dryRun);
    steps.push({ step: 'webhook-config', ...step });
    say(
      `MutatingWebhookConfiguration ${step.name}: ${{ deleted: 'deleted', 'would-delete': 'would be deleted', absent: 'not found, nothing to delete' }[step.result]}`,
    );
  }
  if (o.deployment) {
    const step = await scaleDeploymentToZero(client, o.deployment.namespace, o.deployment.name, o.dryRun);
    steps.push({ step: 'deployment', ...step });
    const what = `Deployment ${step.namespace}/${step.name}`;
    say(
      step.result === 'absent'
        ? `${what}: not found, nothing to scale`
        : `${what}: ${step.result === 'scaled' ? 'scaled' : 'would be scaled'} from ${step.from} to 0 replicas`,
    );
    const lease = await waitForLeaseRelease({ client, namespace: o.deployment.namespace, name: o.leaseName, timeoutMs: o.waitMs, once: o.dryRun });
    steps.push({ step: 'lease', ...lease });
    const waited = lease.waitedMs >= 1000 ? ` after ${(lease.waitedMs / 1000).toFixed(1)} s` : '';
    const state = {
      absent: 'not found (no controller ran with it)',
      released: `released${waited}`,
      expired: `expired${waited}`,
      held: 'held now: the real run waits until it is released or expired',
    }[lease.result];
    say(`Lease ${lease.lease}: ${state}`);
  }
  const result = await restoreObjects({ client, namespace, dryRun: o.dryRun, concurrency: DEFAULT_TOUCH.maxInFlight });
  const scope = namespace === null ? 'all namespaces' : `namespace ${namespace}`;
  if (o.json) {
    io.stdout.write(
      `${JSON.stringify({ dryRun: o.dryRun, scope, steps, listed: result.listed, notServed: result.notServed, objects: result.outcomes }, null, 2)}\n`,
    );
  } else {
    for (const kind of result.notServed) say(`${kind}: not served by the API server (is KEDA installed?), nothing to restore`);
    for (const outcome of result.outcomes) say(objectLine(outcome));
    say(totalLine(result, scope, o.dryRun));
  }
  return result.outcomes.some(isFailure) ? 1 : 0;
}

export const runRestore = command(RESTORE, restore);
