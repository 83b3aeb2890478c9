import { loadConfigFile, parseConfigText, type RuntimeConfig } from '../config/config.js';
import type { IntensityConfig } from '../config/intensity.js';
import { kubeClientForCommand } from '../carbon/kube.js';
import { openSource } from '../carbon/providers/index.js';
import { CarbonStore } from '../carbon/store.js';
import type { CarbonSnapshot } from '../core/carbon.js';
import { overlay } from '../core/points.js';
import { indexAt } from '../core/view.js';
import { validatePoints } from '../carbon/validate.js';
import { readInput, type CommandIO } from './io.js';

/**
 * One fetch from the configured source into a fresh store, for commands that run once
 * (explain, simulate). The webhook itself never does this on a request path.
 */
export async function fetchSnapshotOnce(config: IntensityConfig, env: Record<string, string | undefined>, now = Date.now()): Promise<CarbonSnapshot> {
  // openSource, like serve: `location: auto` is resolved and exporter-configmap gets a client.
  const kube = kubeClientForCommand(config, env);
  const { config: resolved, source } = await openSource(config, { env, now: () => now, ...(kube ? { kube } : {}) });
  const store = new CarbonStore({ source: source.name, maxDataAgeMs: resolved.maxDataAgeMs });
  const points = validatePoints(await source.fetch(AbortSignal.timeout(resolved.timeoutMs)), source.name);
  return store.update(points, now, source.signal ?? 'unknown');
}

/** A snapshot holding one value that covers `at`: `explain --intensity N`. */
export function fixedSnapshot(intensity: number, at: number): CarbonSnapshot {
  const hour = 3_600_000;
  return {
    source: 'given:--intensity',
    fetchedAt: at,
    maxDataAgeMs: hour,
    points: [{ timestamp: at - (at % hour), durationMinutes: 60, gCO2eqPerKWh: intensity }],
  };
}

/**
 * `explain --intensity N` over a source's data: the point covering `at` takes the value N
 * (its interval kept), every other point stays, so a percentile band still has its window.
 * Where no point covers `at`, an hour-long point of N is laid in, cutting what it overlaps.
 */
export function givenOver(snapshot: CarbonSnapshot, intensity: number, at: number): CarbonSnapshot {
  const i = indexAt(snapshot.points, at);
  const points =
    i >= 0 ? snapshot.points.map((p, j) => (j === i ? { ...p, gCO2eqPerKWh: intensity } : p)) : overlay(snapshot.points, fixedSnapshot(intensity, at).points);
  return { ...snapshot, source: `given:--intensity over ${snapshot.source}`, points };
}

/**
 * The configuration a command runs with: `--config` (or KEDA_CARBON_CONFIG, which the flag
 * table reads), else the embedded defaults. An unreadable file names itself plainly.
 */
export async function loadCommandConfig(path: string | undefined, io: CommandIO): Promise<RuntimeConfig> {
  if (path === undefined) return loadConfigFile(undefined);
  return parseConfigText(await readInput(path, io), path);
}
