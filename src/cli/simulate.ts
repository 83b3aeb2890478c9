import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseForecastFile } from '../carbon/providers/file.js';
import type { IntensityPoint } from '../core/carbon.js';
import { validatePoints } from '../carbon/validate.js';
import { loadConfigFile } from '../config/config.js';
import { simulate } from '../simulate/figures.js';
import { readPolicyInput } from '../simulate/policy-input.js';
import { jsonReport, textReport } from '../simulate/report.js';
import { renderChart } from '../simulate/svg.js';
import { fetchSnapshotOnce } from './carbon-once.js';
import { parseFlags, UsageError, type CommandIO } from './io.js';

export const SIMULATE_USAGE = `Usage: keda-carbon simulate --policy FILE (--forecast FILE | --config FILE) [--declared N] [--min N] [--out chart.svg] [--output text|json]

Replays a policy over a forecast with the webhook's own decision and prints the cap
timeline, the replica-hours the cap withholds, how far it shifts capacity toward clean
hours, the same figures for re-evaluating only hourly, and suggested thresholds.
  --policy FILE     a policy document (YAML or JSON), or one ScaledObject/ScaledJob manifest
                    carrying its policy (spec.environmentalImpact or the
                    keda-carbon.io/environmental-impact annotation)
  --forecast FILE   a forecast file: JSON array of {timestamp, duration, value} or CSV
                    with the header timestamp,duration,value
  --config FILE     instead of --forecast: fetch the current forecast once from the
                    intensity source configured in FILE
  --declared N      the object's declared max (default: the manifest's, else 100)
  --min N           the object's minReplicaCount (default: the manifest's, else 0)
  --out FILE        also write an SVG chart of intensity, thresholds and caps
  --output FORMAT   text (default) or json
`;

const FLAGS = {
  policy: { type: 'string', short: 'p' },
  forecast: { type: 'string' },
  config: { type: 'string' },
  declared: { type: 'string' },
  min: { type: 'string' },
  out: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

function intFlag(value: string | boolean | undefined, name: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return n;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${what} ${path} (${(err as { code?: string }).code ?? (err as Error).message})`);
  }
}

export async function runSimulate(argv: string[], io: CommandIO): Promise<number> {
  const flags = parseFlags(argv, FLAGS, io);
  if (flags.help) {
    io.stdout.write(SIMULATE_USAGE);
    return 0;
  }
  if (typeof flags.policy !== 'string') throw new UsageError(`--policy FILE is required\n\n${SIMULATE_USAGE}`);
  const hasForecast = typeof flags.forecast === 'string';
  const hasConfig = typeof flags.config === 'string';
  if (hasForecast === hasConfig) throw new UsageError(`give exactly one of --forecast FILE or --config FILE\n\n${SIMULATE_USAGE}`);
  const output = flags.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`--output must be text or json, got ${JSON.stringify(output)}`);
  const declaredFlag = intFlag(flags.declared, 'declared', 1);
  const minFlag = intFlag(flags.min, 'min', 0);

  const input = readPolicyInput(await readText(flags.policy, 'policy file'), flags.policy);
  const declared = declaredFlag ?? input.declared ?? 100;
  const minReplicas = minFlag ?? input.minReplicas ?? 0;
  if (minReplicas > declared) {
    // KEDA itself rejects min > max; the decision would then leave the declared max alone.
    throw new UsageError(`--min ${minReplicas} is above the declared max ${declared}; KEDA rejects such an object`);
  }

  let points: IntensityPoint[];
  let source: string;
  let forecastOrigin: string;
  if (hasForecast) {
    const file = flags.forecast as string;
    source = `file:${basename(file)}`;
    points = validatePoints(parseForecastFile(await readText(file, 'forecast file'), file), source);
    forecastOrigin = file;
  } else {
    const config = await loadConfigFile(flags.config as string);
    const snapshot = await fetchSnapshotOnce(config.intensity, io.env, Date.now());
    points = [...snapshot.points];
    source = snapshot.source;
    forecastOrigin = `${snapshot.source} (fetched now, from ${flags.config as string})`;
    if (points.length === 0) throw new Error(`${snapshot.source} returned no points from the last 48 hours or ahead: nothing to simulate`);
  }

  const sim = simulate({ policy: input.policy, points, declared, minReplicas, source });
  const ctx = { policyOrigin: input.origin, policy: input.policy, forecastOrigin, pointCount: points.length, declared, minReplicas };
  if (typeof flags.out === 'string') {
    const svg = renderChart({ title: `keda-carbon simulate: ${input.origin} over ${forecastOrigin}`, policy: input.policy, declared, intervals: sim.intervals, hourly: sim.hourly.intervals });
    try {
      await writeFile(flags.out, svg);
    } catch (err) {
      throw new Error(`cannot write the chart to ${flags.out} (${(err as { code?: string }).code ?? (err as Error).message})`);
    }
  }
  if (output === 'json') {
    io.stdout.write(`${JSON.stringify({ ...(jsonReport(ctx, sim) as object), chart: typeof flags.out === 'string' ? flags.out : null }, null, 2)}\n`);
  } else {
    io.stdout.write(textReport(ctx, sim));
    if (typeof flags.out === 'string') io.stdout.write(`\nChart written to ${flags.out}\n`);
  }
  return 0;
}
