import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseForecastFile } from '../carbon/providers/file.js';
import type { IntensityPoint, Signal } from '../core/carbon.js';
import { validatePoints } from '../carbon/validate.js';
import { simulate } from '../simulate/figures.js';
import { readPolicyInput } from '../simulate/policy-input.js';
import { jsonReport, textReport } from '../simulate/report.js';
import { renderChart } from '../simulate/svg.js';
import { fetchSnapshotOnce, loadCommandConfig } from './carbon-once.js';
import { command, CONFIG_FLAG, intFlag, OUTPUT_FLAG, outputFlag, readInput, UsageError, type CommandIO, type CommandSpec, type FlagValues } from './io.js';
import { fsReason } from '../util/fs-reason.js';

export const SIMULATE = {
  name: 'simulate',
  synopsis: '--policy FILE (--forecast FILE | --config FILE) [--declared N] [--min N] [--out chart.svg] [-o text|json]',
  about: `Replays a policy over a forecast with the webhook's own decision and prints the cap
timeline, the replica-hours the cap withholds, how far it shifts capacity toward clean
hours against the ideal placement of the same replica-hours, the same figures for re-evaluating as the Azure carbon-aware KEDA operator does
(at each forecast point's duration), and suggested thresholds.
Without --forecast, the source configured by --config (or KEDA_CARBON_CONFIG) is asked once.`,
  flags: {
    policy: {
      type: 'string',
      short: 'p',
      arg: 'FILE',
      help: 'a policy document (YAML or JSON), or one ScaledObject/ScaledJob manifest carrying its policy\n(spec.environmentalImpact or the keda-carbon.io/environmental-impact annotation)',
    },
    forecast: {
      type: 'string',
      arg: 'FILE',
      help: 'a forecast file: JSON array of {timestamp, duration, value} or CSV with the header timestamp,duration,value',
    },
    config: { ...CONFIG_FLAG, help: 'instead of --forecast: fetch the current forecast once from the intensity source configured in FILE' },
    declared: { type: 'string', arg: 'N', help: "the object's declared max (default: the manifest's, else 100)" },
    min: { type: 'string', arg: 'N', help: "the object's minReplicaCount (default: the manifest's, else 0)" },
    out: { type: 'string', arg: 'FILE', help: 'also write an SVG chart of intensity, thresholds and caps' },
    output: OUTPUT_FLAG,
  },
} as const satisfies CommandSpec;

type Flags = FlagValues<typeof SIMULATE.flags>;

interface Forecast {
  points: IntensityPoint[];
  source: string;
  signal: Signal;
  origin: string;
}

async function readForecast(flags: Flags, io: CommandIO): Promise<Forecast> {
  if (flags.forecast !== undefined) {
    const file = flags.forecast;
    const source = `file:${basename(file)}`;
    let points: IntensityPoint[];
    try {
      points = validatePoints(parseForecastFile(await readInput(file, io), file), source);
    } catch (err) {
      throw err instanceof UsageError ? err : new UsageError((err as Error).message);
    }
    return { points, source, signal: 'unknown', origin: file };
  }
  const path = flags.config as string;
  const config = await loadCommandConfig(path, io);
  const snapshot = await fetchSnapshotOnce(config.intensity, io.env, Date.now());
  if (snapshot.points.length === 0) throw new Error(`${snapshot.source} returned no points from the last 48 hours or ahead: nothing to simulate`);
  return {
    points: [...snapshot.points],
    source: snapshot.source,
    signal: snapshot.signal ?? 'unknown',
    origin: `${snapshot.source} (fetched now, from ${path})`,
  };
}

async function readPolicy(flags: Flags, io: CommandIO) {
  const file = flags.policy as string;
  const text = await readInput(file, io);
  try {
    return readPolicyInput(text, file);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function writeChart(path: string, svg: string): Promise<void> {
  try {
    await writeFile(path, svg);
  } catch (err) {
    throw new Error(`cannot write the chart to ${path}: ${fsReason(err)}`);
  }
}

/** --forecast wins over KEDA_CARBON_CONFIG from the environment, never over --config given as a flag. */
function checkSources(flags: Flags, fromEnv: ReadonlySet<string>): void {
  if (flags.policy === undefined) throw new UsageError(`--policy FILE is required (see 'keda-carbon simulate --help')`);
  if (flags.forecast !== undefined && fromEnv.has('config')) delete flags.config;
  if ((flags.forecast !== undefined) === (flags.config !== undefined)) {
    throw new UsageError(`give exactly one of --forecast FILE or --config FILE (see 'keda-carbon simulate --help')`);
  }
}

async function runSimulation(flags: Flags, io: CommandIO, fromEnv: ReadonlySet<string>): Promise<number> {
  checkSources(flags, fromEnv);
  const output = outputFlag(flags.output);
  const declaredFlag = intFlag(flags.declared, 'declared', 1);
  const minFlag = intFlag(flags.min, 'min', 0);
  const input = await readPolicy(flags, io);
  const declared = declaredFlag ?? input.declared ?? 100;
  const minReplicas = minFlag ?? input.minReplicas ?? 0;
  if (minReplicas > declared) {
    // KEDA itself rejects min > max; the decision would then leave the declared max alone.
    throw new UsageError(`--min ${minReplicas} is above the declared max ${declared}; KEDA rejects such an object`);
  }
  const { points, source, signal, origin: forecastOrigin } = await readForecast(flags, io);

  const sim = simulate({ policy: input.policy, points, declared, minReplicas, source });
  const ctx = { policyOrigin: input.origin, policy: input.policy, forecastOrigin, signal, pointCount: points.length, declared, minReplicas };
  if (flags.out !== undefined) {
    await writeChart(
      flags.out,
      renderChart({
        title: `keda-carbon simulate: ${input.origin} over ${forecastOrigin}`,
        policy: input.policy,
        declared,
        intervals: sim.intervals,
        operator: sim.operator.intervals,
        thresholds: sim.thresholds,
      }),
    );
  }
  if (output === 'json') {
    io.stdout.write(`${JSON.stringify({ ...(jsonReport(ctx, sim) as object), chart: flags.out ?? null }, null, 2)}\n`);
  } else {
    io.stdout.write(textReport(ctx, sim));
    if (flags.out !== undefined) io.stdout.write(`\nChart written to ${flags.out}\n`);
  }
  return 0;
}

export const runSimulate = command(SIMULATE, runSimulation);
