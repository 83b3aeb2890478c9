import { loadConfigFile } from '../config/config.js';
import { parseIntensityConfig, type IntensityConfig } from '../config/intensity.js';
import { kubeClientForCommand, type KubeClient } from '../carbon/kube.js';
import { openSource } from '../carbon/providers/index.js';
import type { FetchFn } from '../carbon/providers/http.js';
import { Refresher } from '../carbon/refresher.js';
import { CarbonStore, forecastAhead } from '../carbon/store.js';
import type { IntensityPoint } from '../core/carbon.js';
import { currentIntensity, pointEnd } from '../core/view.js';
import { systemClock } from '../ports.js';

export interface IntensityIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: Record<string, string | undefined>;
  /** For tests: the clock, the HTTP client and the Kubernetes API. */
  now?: () => number;
  fetch?: FetchFn;
  kube?: KubeClient;
}

const USAGE = `usage: keda-carbon intensity [--config FILE] [--json]

Fetch the configured carbon-intensity source once and print the current intensity
(value, interval, age, source) and the forecast ahead. Without --config (or
KEDA_CARBON_CONFIG) the bundled sample day is used.
`;

/**
 * The `intensity:` block of a config file. Kept in one function so the full config loader
 * (src/config) can replace it without touching the command.
 */
/** The `intensity:` block of the config file, validated with the rest of the file. */
export async function loadIntensityConfig(path: string): Promise<IntensityConfig> {
  return (await loadConfigFile(path)).intensity;
}

function hhmm(t: number): string {
  return new Date(t).toISOString().slice(11, 16);
}

function when(t: number): string {
  return new Date(t).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

function ago(ms: number): string {
  const min = Math.round(ms / 60_000);
  if (Math.abs(min) < 1) return 'just now';
  if (min < 0) return `in ${-min} min`;
  if (min < 120) return `${min} min ago`;
  return `${Math.round(min / 60)} h ago`;
}

/** Time-weighted mean per hour over [from, from + hours h); null where no point covers the hour. */
export function hourlyMeans(points: readonly IntensityPoint[], from: number, hours: number): { hour: number; mean: number | null }[] {
  const out: { hour: number; mean: number | null }[] = [];
  for (let h = 0; h < hours; h++) {
    const a = from + h * 3_600_000;
    const b = a + 3_600_000;
    let weight = 0;
    let sum = 0;
    for (const p of points) {
      const overlap = Math.min(b, pointEnd(p)) - Math.max(a, p.timestamp);
      if (overlap > 0) {
        weight += overlap;
        sum += overlap * p.gCO2eqPerKWh;
      }
    }
    out.push({ hour: a, mean: weight > 0 ? sum / weight : null });
  }
  return out;
}

function parseArgs(argv: string[]): { config?: string; json: boolean; help: boolean } | string {
  const out: { config?: string; json: boolean; help: boolean } = { json: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') out.help = true;
    else if (a === '--json') out.json = true;
    else if (a === '--config' || a === '-c') {
      const v = argv[++i];
      if (v === undefined || v === '') return `${a} needs a file`;
      out.config = v;
    } else if (a.startsWith('--config=')) {
      out.config = a.slice('--config='.length);
      if (out.config === '') return '--config needs a file';
    } else return `unknown argument ${JSON.stringify(a)}`;
  }
  return out;
}

/** `keda-carbon intensity`: 0 when the current intensity is known, 1 when not, 2 on a usage or config error. */
export async function runIntensity(argv: string[], io: IntensityIo): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    io.stderr.write(`error: ${args}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const now = io.now ?? (() => Date.now());
  const configPath = args.config ?? io.env.KEDA_CARBON_CONFIG;
  let store: CarbonStore;
  let refresher: Refresher;
  try {
    const raw = configPath ? await loadIntensityConfig(configPath) : parseIntensityConfig(undefined);
    let kube = io.kube;
    kube ??= kubeClientForCommand(raw, io.env);
    const { config, source } = await openSource(raw, { env: io.env, now, ...(io.fetch ? { fetch: io.fetch } : {}), ...(kube ? { kube } : {}) });
    store = new CarbonStore({ source: source.name, maxDataAgeMs: config.maxDataAgeMs });
    refresher = new Refresher({ source, store, refreshIntervalMs: config.refreshIntervalMs, timeoutMs: config.timeoutMs, clock: { ...systemClock, now } });
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n`);
    return 2;
  }
  const result = await refresher.refreshNow();
  if (!result.ok) {
    io.stderr.write(`error: ${result.error.message}\n`);
    return 1;
  }
  const snap = store.snapshot();
  const t = now();
  const cur = currentIntensity(snap, t);
  const ahead = forecastAhead(snap, t, 24 * 3_600_000);
  if (args.json) {
    io.stdout.write(
      JSON.stringify({
        source: snap.source,
        now: new Date(t).toISOString(),
        fetchedAt: snap.fetchedAt === null ? null : new Date(snap.fetchedAt).toISOString(),
        current: cur.state === 'ok' ? { ...cur.point, time: new Date(cur.point.timestamp).toISOString() } : null,
        reason: cur.state === 'ok' ? undefined : cur.reason,
        forecast: ahead.map((p) => ({ time: new Date(p.timestamp).toISOString(), durationMinutes: p.durationMinutes, gCO2eqPerKWh: p.gCO2eqPerKWh })),
      }) + '\n',
    );
    return cur.state === 'ok' ? 0 : 1;
  }
  const lines: string[] = [`source     ${snap.source}`];
  if (cur.state === 'ok') {
    const p = cur.point;
    lines.push(`intensity  ${round(p.gCO2eqPerKWh)} gCO2eq/kWh`);
    lines.push(`time       ${when(p.timestamp)} to ${hhmm(pointEnd(p))} (${p.durationMinutes} min interval)`);
    lines.push(`age        ${ago(t - p.timestamp)} (now ${when(t)})`);
  } else {
    lines.push(`intensity  unknown: ${cur.reason}`);
    const last = snap.points[snap.points.length - 1];
    if (last) lines.push(`data       ${when(snap.points[0]!.timestamp)} to ${when(pointEnd(last))}`);
  }
  const means = hourlyMeans(ahead, Math.floor(t / 3_600_000) * 3_600_000, 24).filter((m) => m.mean !== null) as { hour: number; mean: number }[];
  // One point (Prometheus' held sample) is a current value, not a forecast.
  if (ahead.length > 1 && means.length > 1) {
    lines.push(`forecast   next ${means.length} h, hourly mean gCO2eq/kWh (UTC):`);
    for (let i = 0; i < means.length; i += 8) {
      lines.push('  ' + means.slice(i, i + 8).map((m) => `${hhmm(m.hour)} ${String(Math.round(m.mean)).padStart(3)}`).join('  '));
    }
    const lo = means.reduce((a, b) => (b.mean < a.mean ? b : a));
    const hi = means.reduce((a, b) => (b.mean > a.mean ? b : a));
    lines.push(`  lowest ${Math.round(lo.mean)} at ${hhmm(lo.hour)}, highest ${Math.round(hi.mean)} at ${hhmm(hi.hour)}`);
  } else {
    lines.push('forecast   none (this source gives the current value only)');
  }
  io.stdout.write(lines.join('\n') + '\n');
  return cur.state === 'ok' ? 0 : 1;
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}
