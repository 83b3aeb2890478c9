import { kubeClientForCommand } from '../carbon/kube.js';
import type { KubeClient } from '../carbon/kube-client.js';
import { openSource } from '../carbon/providers/index.js';
import type { FetchFn } from '../carbon/providers/http.js';
import { Refresher } from '../carbon/refresher.js';
import { CarbonStore, forecastAhead } from '../carbon/store.js';
import type { CarbonSnapshot, IntensityPoint } from '../core/carbon.js';
import { currentIntensity, pointEnd } from '../core/view.js';
import { systemClock } from '../ports.js';
import { loadCommandConfig } from './carbon-once.js';
import { command, CONFIG_FLAG, OUTPUT_FLAG, outputFlag, type CommandIO, type CommandSpec, type FlagValues } from './io.js';

export interface IntensityIo extends CommandIO {
  /** For tests: the clock, the HTTP client and the Kubernetes API. */
  now?: () => number;
  fetch?: FetchFn;
  kube?: KubeClient;
}

export const INTENSITY = {
  name: 'intensity',
  synopsis: '[--config FILE] [-o text|json]',
  about: `Fetches the configured carbon-intensity source once and prints the current intensity
(value, interval, age, source) and the forecast ahead. Exits 1 when no data point covers
now. Without --config (or KEDA_CARBON_CONFIG) the bundled sample day is used.`,
  flags: {
    config: CONFIG_FLAG,
    output: OUTPUT_FLAG,
  },
} as const satisfies CommandSpec;

function hhmm(t: number): string {
  return new Date(t).toISOString().slice(11, 16);
}

function when(t: number): string {
  return `${new Date(t).toISOString().replace('T', ' ').slice(0, 16)} UTC`;
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

/** One source, one store and one refresher, opened the way serve opens them. */
async function openRefresher(configPath: string | undefined, io: IntensityIo, now: () => number): Promise<{ store: CarbonStore; refresher: Refresher }> {
  const raw = (await loadCommandConfig(configPath, io)).intensity;
  const kube = io.kube ?? kubeClientForCommand(raw, io.env);
  const { config, source } = await openSource(raw, { env: io.env, now, ...(io.fetch ? { fetch: io.fetch } : {}), ...(kube ? { kube } : {}) });
  const store = new CarbonStore({ source: source.name, maxDataAgeMs: config.maxDataAgeMs });
  const refresher = new Refresher({ source, store, refreshIntervalMs: config.refreshIntervalMs, timeoutMs: config.timeoutMs, clock: { ...systemClock, now } });
  return { store, refresher };
}

function jsonReport(snap: CarbonSnapshot, t: number): string {
  const cur = currentIntensity(snap, t);
  return `${JSON.stringify({
    source: snap.source,
    signal: snap.signal ?? 'unknown',
    now: new Date(t).toISOString(),
    fetchedAt: snap.fetchedAt === null ? null : new Date(snap.fetchedAt).toISOString(),
    current: cur.state === 'ok' ? { ...cur.point, time: new Date(cur.point.timestamp).toISOString() } : null,
    reason: cur.state === 'ok' ? undefined : cur.reason,
    forecast: forecastAhead(snap, t, 24 * 3_600_000).map((p) => ({
      time: new Date(p.timestamp).toISOString(),
      durationMinutes: p.durationMinutes,
      gCO2eqPerKWh: p.gCO2eqPerKWh,
    })),
  })}\n`;
}

function forecastLines(snap: CarbonSnapshot, t: number): string[] {
  const ahead = forecastAhead(snap, t, 24 * 3_600_000);
  const means = hourlyMeans(ahead, Math.floor(t / 3_600_000) * 3_600_000, 24).filter((m) => m.mean !== null) as { hour: number; mean: number }[];
  // One point (Prometheus' held sample) is a current value, not a forecast.
  if (ahead.length <= 1 || means.length <= 1) return ['forecast   none (this source gives the current value only)'];
  const lines = [`forecast   next ${means.length} h, hourly mean gCO2eq/kWh (UTC):`];
  for (let i = 0; i < means.length; i += 8) {
    lines.push(
      '  ' +
        means
          .slice(i, i + 8)
          .map((m) => `${hhmm(m.hour)} ${String(Math.round(m.mean)).padStart(3)}`)
          .join('  '),
    );
  }
  const lo = means.reduce((a, b) => (b.mean < a.mean ? b : a));
  const hi = means.reduce((a, b) => (b.mean > a.mean ? b : a));
  lines.push(`  lowest ${Math.round(lo.mean)} at ${hhmm(lo.hour)}, highest ${Math.round(hi.mean)} at ${hhmm(hi.hour)}`);
  return lines;
}

function textReport(snap: CarbonSnapshot, t: number): string {
  const cur = currentIntensity(snap, t);
  const lines: string[] = [`source     ${snap.source}`, `signal     ${signalText(snap.signal ?? 'unknown')}`];
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
  return `${[...lines, ...forecastLines(snap, t)].join('\n')}\n`;
}

/** 0 when the current intensity is known, 1 when not or when the source fails, 2 on a usage or config error. */
async function intensity(flags: FlagValues<typeof INTENSITY.flags>, io: IntensityIo): Promise<number> {
  const output = outputFlag(flags.output);
  const now = io.now ?? (() => Date.now());
  const { store, refresher } = await openRefresher(flags.config, io, now);
  const result = await refresher.refreshNow();
  if (!result.ok) throw result.error;
  const snap = store.snapshot();
  const t = now();
  io.stdout.write(output === 'json' ? jsonReport(snap, t) : textReport(snap, t));
  return currentIntensity(snap, t).state === 'ok' ? 0 : 1;
}

export const runIntensity: (argv: string[], io: IntensityIo) => Promise<number> = command(INTENSITY, (flags, io) => intensity(flags, io as IntensityIo));

function signalText(signal: string): string {
  if (signal === 'marginal') return 'marginal (the emissions of the next kWh; compare with marginal thresholds only)';
  if (signal === 'average') return 'average (the grid mix; compare with average thresholds only)';
  return 'unknown (set intensity.signal in the configuration if you know it)';
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}
