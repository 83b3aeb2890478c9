import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import type { CarbonSnapshot } from '../core/carbon.js';
import { loadConfigFile, type RuntimeConfig } from '../config/config.js';
import type { ChosenBand } from '../core/decide.js';
import { declaredMax, minReplicas, specMax, type KedaObject } from '../core/object.js';
import { planObject, type Plan } from '../core/plan.js';
import { resolvePolicy, type Resolution } from '../core/resolve.js';
import { fetchSnapshotOnce, fixedSnapshot } from './carbon-once.js';
import { parseFlags, UsageError, type CommandIO } from './io.js';

export const EXPLAIN_USAGE = `Usage: keda-carbon explain -f OBJECT.yaml [--intensity N] [--at TIME] [--config FILE] [--namespace-policy NAME] [--output text|json]

Shows what the webhook would do to each ScaledObject or ScaledJob in the file, and why:
the policy and where it came from, the intensity, the rule, the declared max, the floor
and eco mode. Without --intensity, the configured source is asked once.
  --intensity N          assume this carbon intensity (gCO2eq/kWh) instead of fetching
  --at TIME              evaluate at this time (RFC 3339; default now)
  --namespace-policy N   assume the object's namespace carries keda-carbon.io/policy=N
`;

const FLAGS = {
  file: { type: 'string', short: 'f' },
  intensity: { type: 'string' },
  at: { type: 'string' },
  config: { type: 'string' },
  'namespace-policy': { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;


function explainOne(object: KedaObject, config: RuntimeConfig, carbon: CarbonSnapshot, now: number, nsPolicy: string | null): { resolution: Resolution; plan: Plan } {
  const resolution = resolvePolicy(object, config, nsPolicy);
  const plan = planObject({ object, oldObject: object, resolution, carbon, now, invalidPolicy: config.invalidPolicy });
  return { resolution, plan };
}

/** The band exactly as the decision chose it: never derived again from the shown intensity. */
function ruleLine(band: ChosenBand, declared: number): string {
  const pct = band.allowed.kind === 'percent' ? ` (${band.allowed.value}% of ${declared}, rounded down)` : '';
  return `${band.rule}: allowed ${band.allowedCount}${pct}`;
}

function describe(object: KedaObject, resolution: Resolution, plan: Plan): string {
  const meta = object.metadata ?? {};
  const lines = [`${String(object.kind ?? 'object')} ${meta.namespace ?? 'default'}/${meta.name ?? '(unnamed)'}`];
  const row = (label: string, value: string) => lines.push(`  ${label.padEnd(13)} ${value}`);
  const current = specMax(object);
  row('policy:', resolution.kind === 'policy' ? resolution.origin : resolution.kind === 'none' ? `none (${resolution.origin})` : `invalid (${resolution.origin})`);
  if (plan.kind === 'deny') {
    row('result:', 'DENIED');
    row('message:', plan.message);
    return lines.join('\n');
  }
  if (plan.kind === 'untouched') {
    row('result:', 'left as it is');
    if (plan.warnings.length === 0) row('why:', plan.reason);
  } else if (!plan.decision) {
    row('declared max:', String(declaredMax(object, object)));
    row('result:', `maxReplicaCount ${current ?? 100} -> ${plan.maxReplicaCount} (declared max restored, our annotations removed)`);
  } else {
    const d = plan.decision;
    row('intensity:', d.intensity === null ? `none (${d.source})` : `${d.intensity} gCO2eq/kWh from ${d.source} (data for ${d.dataTime})`);
    row('declared max:', `${d.declared}${current === undefined ? ' (KEDA default: spec.maxReplicaCount unset)' : ''}`);
    row('floor:', `${d.floor} = max(1, minReplicaCount ${minReplicas(object)})`);
    row('eco mode:', d.ecoMode);
    row('rule:', d.band ? ruleLine(d.band, d.declared) : 'none');
    row('why:', d.reason);
    row('cap:', current === d.cap ? `${d.cap} (unchanged)` : `maxReplicaCount ${current ?? 100} -> ${d.cap}`);
  }
  // The cap change is already on the `cap:` line; show only the other warnings.
  const warnings = plan.kind === 'apply' ? (plan.decision?.warnings ?? []) : plan.warnings;
  for (const w of warnings) row('warning:', w.replace(/^keda-carbon: /, ''));
  return lines.join('\n');
}

export async function runExplain(argv: string[], io: CommandIO): Promise<number> {
  const flags = parseFlags(argv, FLAGS, io);
  if (flags.help) {
    io.stdout.write(EXPLAIN_USAGE);
    return 0;
  }
  if (typeof flags.file !== 'string') throw new UsageError(`-f OBJECT.yaml is required\n\n${EXPLAIN_USAGE}`);
  const output = flags.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`--output must be text or json, got ${String(output)}`);
  const now = typeof flags.at === 'string' ? Date.parse(flags.at) : Date.now();
  if (Number.isNaN(now)) throw new UsageError(`--at must be an RFC 3339 time such as 2026-11-23T22:00:00Z, got ${String(flags.at)}`);
  let intensity: number | undefined;
  if (typeof flags.intensity === 'string') {
    intensity = Number(flags.intensity);
    if (!Number.isFinite(intensity) || intensity < 0) throw new UsageError(`--intensity must be a number >= 0 (gCO2eq/kWh), got ${flags.intensity}`);
  }

  const text = flags.file === '-' ? await readStdin() : await readFile(flags.file, 'utf8');
  const objects: KedaObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${flags.file}: not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
    const value = doc.toJS() as KedaObject | null;
    if (value === null) continue;
    const list = value.kind === 'List' && Array.isArray(value.items) ? (value.items as KedaObject[]) : [value];
    for (const item of list) {
      if (item && (item.kind === 'ScaledObject' || item.kind === 'ScaledJob')) objects.push(item);
    }
  }
  if (objects.length === 0) throw new Error(`${flags.file}: no ScaledObject or ScaledJob found`);

  const config = await loadConfigFile(typeof flags.config === 'string' ? flags.config : undefined);
  const carbon = intensity !== undefined ? fixedSnapshot(intensity, now) : await fetchSnapshotOnce(config.intensity, io.env, now);
  const nsPolicy = typeof flags['namespace-policy'] === 'string' ? flags['namespace-policy'] : null;

  const results = objects.map((object) => ({ object, ...explainOne(object, config, carbon, now, nsPolicy) }));
  if (output === 'json') {
    io.stdout.write(`${JSON.stringify(results.map(({ object, resolution, plan }) => ({ kind: object.kind, namespace: object.metadata?.namespace, name: object.metadata?.name, policy: resolution.kind === 'invalid' ? { kind: 'invalid', origin: resolution.origin, message: resolution.message } : { kind: resolution.kind, origin: resolution.origin }, currentMax: specMax(object) ?? null, plan })), null, 2)}\n`);
  } else {
    io.stdout.write(`${results.map(({ object, resolution, plan }) => describe(object, resolution, plan)).join('\n\n')}\n`);
  }
  return results.some((r) => r.plan.kind === 'deny') ? 1 : 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
