import type { CarbonSnapshot } from '../core/carbon.js';
import type { RuntimeConfig } from '../config/config.js';
import type { ChosenBand, Decision } from '../core/decide.js';
import type { Policy } from '../core/policy.js';
import { declaredMax, minReplicas, specMax, type KedaObject } from '../core/object.js';
import { planObject, type Plan } from '../core/plan.js';
import { resolvePolicy, type Resolution } from '../core/resolve.js';
import { bandThresholds, thresholdsLine, type Thresholds } from '../core/thresholds.js';
import { currentIntensity } from '../core/view.js';
import { isPlainObject } from '../util/object.js';
import { readYamlDocuments } from '../util/yaml-docs.js';
import { fetchSnapshotOnce, fixedSnapshot, givenOver, loadCommandConfig } from './carbon-once.js';
import { command, CONFIG_FLAG, OUTPUT_FLAG, outputFlag, readInput, UsageError, type CommandIO, type CommandSpec, type FlagValues } from './io.js';

export const EXPLAIN = {
  name: 'explain',
  synopsis: '-f FILE [--intensity N] [--at TIME] [--config FILE] [--namespace-policy NAME] [-o text|json]',
  about: `Shows what the webhook would do to each ScaledObject or ScaledJob in the file, and why:
the policy and where it came from, the intensity, the rule, the declared max, the floor
and eco mode, and a percentile policy's thresholds as resolved now. Without --intensity,
the configured source is asked once; with it, a percentile policy still reads its window
from the source, with the given value laid over the point that covers the time. Exits 1
when a policy would be denied.`,
  flags: {
    file: { type: 'string', short: 'f', arg: 'FILE', help: 'the objects: one or more YAML documents or a List ("-" reads standard input)' },
    intensity: {
      type: 'string',
      arg: 'N',
      help: "assume this carbon intensity (gCO2eq/kWh) at the time evaluated; percentile bands are resolved over the\nconfigured source's data with this value in place of the point covering that time",
    },
    at: { type: 'string', arg: 'TIME', help: 'evaluate at this time (RFC 3339, e.g. 2026-11-23T22:00:00Z; default now)' },
    config: CONFIG_FLAG,
    'namespace-policy': { type: 'string', arg: 'NAME', help: "assume the object's namespace carries the label keda-carbon.io/policy=NAME" },
    output: OUTPUT_FLAG,
  },
} as const satisfies CommandSpec;

interface Explained {
  readonly object: KedaObject;
  readonly resolution: Resolution;
  readonly plan: Plan;
  /** A percentile policy's bands as resolved at the time evaluated; null for any other policy. */
  readonly thresholds: Thresholds | null;
}

function explainOne(object: KedaObject, resolution: Resolution, config: RuntimeConfig, carbon: CarbonSnapshot, now: number): Explained {
  const plan = planObject({ object, oldObject: object, resolution, carbon, now, invalidPolicy: config.invalidPolicy });
  let thresholds: Thresholds | null = null;
  if (resolution.kind === 'policy' && resolution.policy.relative) {
    const current = currentIntensity(carbon, now);
    thresholds = bandThresholds(resolution.policy, carbon.points, now, current.state === 'ok' ? current.point.gCO2eqPerKWh : null);
  }
  return { object, resolution, plan, thresholds };
}

/** The band exactly as the decision chose it: never derived again from the shown intensity. */
function ruleLine(band: ChosenBand, declared: number): string {
  const pct = band.allowed.kind === 'percent' ? ` (${band.allowed.value}% of ${declared}, rounded down)` : '';
  return `${band.rule}: allowed ${band.allowedCount}${pct}`;
}

function capLine(plan: Extract<Plan, { kind: 'apply' }>, current: number | undefined, cap: number): string {
  if (plan.mode === 'observe') {
    const restore = plan.keepSpec ? '' : `; maxReplicaCount ${current ?? 100} -> ${plan.maxReplicaCount} (declared max restored)`;
    return `would be ${cap} (observe mode)${restore}`;
  }
  return current === cap ? `${cap} (unchanged)` : `maxReplicaCount ${current ?? 100} -> ${cap}`;
}

/** A step-down under way: where it is heading, when the next step comes, and the rule. */
function stepLine(step: NonNullable<Decision['step']>, rule: Policy['stepDown']): string {
  const per = rule ? ` (at most ${rule.maxPercent}% of the cap in force every ${rule.everyMs / 60_000} min)` : '';
  return `towards ${step.target}, next step at ${new Date(step.nextStepAt).toISOString()}${per}`;
}

function describe({ object, resolution, plan, thresholds }: Explained): string {
  const meta = object.metadata ?? {};
  const lines = [`${String(object.kind ?? 'object')} ${meta.namespace ?? 'default'}/${meta.name ?? '(unnamed)'}`];
  const row = (label: string, value: string) => lines.push(`  ${label.padEnd(13)} ${value}`);
  const current = specMax(object);
  row(
    'policy:',
    resolution.kind === 'policy' ? resolution.origin : resolution.kind === 'none' ? `none (${resolution.origin})` : `invalid (${resolution.origin})`,
  );
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
    row('mode:', plan.mode === 'observe' ? 'observe (only the status annotation is written; the spec is left as it is)' : 'enforce');
    row('intensity:', d.intensity === null ? `none (${d.source})` : `${d.intensity} gCO2eq/kWh (${d.signal} signal) from ${d.source} (data for ${d.dataTime})`);
    row('declared max:', `${d.declared}${current === undefined ? ' (KEDA default: spec.maxReplicaCount unset)' : ''}`);
    row('floor:', `${d.floor} = max(1, minReplicaCount ${minReplicas(object)})`);
    row('eco mode:', d.ecoMode);
    // Whatever applied (no band, eco mode off, missing data): a percentile policy's thresholds now.
    if (thresholds && resolution.kind === 'policy') row('thresholds:', thresholdsLine(resolution.policy, thresholds));
    row('rule:', d.band ? ruleLine(d.band, d.declared) : 'none');
    row('why:', d.reason);
    row('cap:', capLine(plan, current, d.cap));
    if (d.step && resolution.kind === 'policy') row('step-down:', stepLine(d.step, resolution.policy.stepDown));
  }
  // The cap change is already on the `cap:` line; show only the other warnings.
  const warnings = plan.kind === 'apply' ? (plan.decision?.warnings ?? []) : plan.warnings;
  for (const w of warnings) row('warning:', w.replace(/^keda-carbon: /, ''));
  return lines.join('\n');
}

/** The ScaledObjects and ScaledJobs of the file; anything else in it is skipped. */
async function readObjects(file: string, io: CommandIO): Promise<KedaObject[]> {
  const origin = file === '-' ? 'standard input' : file;
  let docs: unknown[];
  try {
    docs = readYamlDocuments(await readInput(file, io), origin);
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError((err as Error).message);
  }
  const objects = docs.filter((d): d is KedaObject => isPlainObject(d) && (d.kind === 'ScaledObject' || d.kind === 'ScaledJob'));
  if (objects.length === 0) throw new UsageError(`${origin}: no ScaledObject or ScaledJob found`);
  return objects;
}

function timeFlag(value: string | undefined): number {
  const now = value === undefined ? Date.now() : Date.parse(value);
  if (Number.isNaN(now)) throw new UsageError(`--at must be an RFC 3339 time such as 2026-11-23T22:00:00Z, got ${String(value)}`);
  return now;
}

function intensityFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const intensity = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(intensity) || intensity < 0) throw new UsageError(`--intensity must be a number >= 0 (gCO2eq/kWh), got ${value}`);
  return intensity;
}

function thresholdsJson(t: Thresholds | null) {
  if (t === null) return null;
  if (!t.ok) return { resolved: false, reason: t.reason };
  return { resolved: true, bands: t.bands.map((b) => ({ rule: b.rule, percentile: b.band.percentile, threshold: b.threshold })) };
}

function jsonResult({ object, resolution, plan, thresholds }: Explained) {
  const policy =
    resolution.kind === 'invalid'
      ? { kind: 'invalid', origin: resolution.origin, message: resolution.message }
      : { kind: resolution.kind, origin: resolution.origin };
  return {
    kind: object.kind,
    namespace: object.metadata?.namespace,
    name: object.metadata?.name,
    policy,
    currentMax: specMax(object) ?? null,
    thresholds: thresholdsJson(thresholds),
    plan,
  };
}

/**
 * The data explained against. `--intensity` alone serves absolute policies; a percentile
 * policy also needs the window around it, so the source is asked and the given value laid
 * over it. A source that cannot answer then leaves the given value alone, said on stderr:
 * the percentile is unresolved and onMissingData applies, as in the webhook.
 */
async function carbonFor(intensity: number | undefined, windowed: boolean, config: RuntimeConfig, io: CommandIO, now: number): Promise<CarbonSnapshot> {
  if (intensity === undefined) return fetchSnapshotOnce(config.intensity, io.env, now);
  if (!windowed) return fixedSnapshot(intensity, now);
  try {
    return givenOver(await fetchSnapshotOnce(config.intensity, io.env, now), intensity, now);
  } catch (err) {
    // The configuration itself has parsed; what fails here is the source or this machine's
    // environment (a token, NODE_NAME), which a value given by hand is meant to stand in for.
    io.stderr.write(`keda-carbon explain: no window for percentile bands: ${(err as Error).message}; using --intensity ${intensity} alone\n`);
    return fixedSnapshot(intensity, now);
  }
}

async function explain(flags: FlagValues<typeof EXPLAIN.flags>, io: CommandIO): Promise<number> {
  if (flags.file === undefined) throw new UsageError(`-f FILE is required (see 'keda-carbon explain --help')`);
  const output = outputFlag(flags.output);
  const now = timeFlag(flags.at);
  const intensity = intensityFlag(flags.intensity);
  const objects = await readObjects(flags.file, io);
  const config = await loadCommandConfig(flags.config, io);
  const nsPolicy = flags['namespace-policy'] ?? null;
  const resolutions = objects.map((object) => resolvePolicy(object, config, nsPolicy));
  const windowed = resolutions.some((r) => r.kind === 'policy' && r.policy.relative);
  const carbon = await carbonFor(intensity, windowed, config, io, now);

  const results = objects.map((object, i) => explainOne(object, resolutions[i]!, config, carbon, now));
  if (output === 'json') io.stdout.write(`${JSON.stringify(results.map(jsonResult), null, 2)}\n`);
  else io.stdout.write(`${results.map(describe).join('\n\n')}\n`);
  return results.some((r) => r.plan.kind === 'deny') ? 1 : 0;
}

export const runExplain = command(EXPLAIN, explain);
