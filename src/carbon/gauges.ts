import { currentIntensity, indexAt } from '../core/view.js';
import { systemClock, type CarbonMetrics, type Clock } from '../ports.js';
import type { IntensitySource } from './source.js';
import type { CarbonStore } from './store.js';

/** The forecast steps exported as `keda_carbon_carbon_intensity_forecast_gco2eq_per_kwh{offset}`. */
const FORECAST_OFFSETS: readonly [string, number][] = [
  ['1h', 3_600_000],
  ['3h', 3 * 3_600_000],
  ['6h', 6 * 3_600_000],
];

export type CarbonGaugeSink = Omit<CarbonMetrics, 'providerFetchErrors'>;

export interface CarbonGauges {
  /** Set every gauge from the store as it stands at `now`; the scrape calls it so the data age keeps counting. */
  record(now?: number): void;
  /** Stop following the store (before it is reconfigured for another source). */
  stop(): void;
}

/** `provider:location` and the source's signal, the labels of every carbon gauge. */
function labelsOf(source: Pick<IntensitySource, 'name' | 'signal'>): { source: string; location: string; signal: string } {
  const name = source.name;
  const i = name.indexOf(':');
  const signal = source.signal ?? 'unknown';
  return i < 0 ? { source: name, location: '', signal } : { source: name.slice(0, i), location: name.slice(i + 1), signal };
}

/**
 * The carbon view as gauges: current intensity, data age, the staleness limit and the
 * forecast at fixed offsets, for one source. They follow the store (each change records
 * them) and each scrape, so nothing else has to remember to update them.
 */
export function exportCarbonGauges(
  store: CarbonStore,
  source: Pick<IntensitySource, 'name' | 'signal'>,
  metrics: CarbonGaugeSink,
  clock: Clock = systemClock,
): CarbonGauges {
  const labels = labelsOf(source);
  const record = (now = clock.now()): void => {
    const snap = store.snapshot();
    if (snap.fetchedAt !== null) metrics.carbonDataAge.set(labels, (now - snap.fetchedAt) / 1000);
    metrics.carbonMaxDataAge.set(labels, snap.maxDataAgeMs / 1000);
    const cur = currentIntensity(snap, now);
    if (cur.state === 'ok') metrics.carbonIntensity.set(labels, cur.point.gCO2eqPerKWh);
    else metrics.carbonIntensity.remove(labels);
    for (const [offset, ms] of FORECAST_OFFSETS) {
      const i = indexAt(snap.points, now + ms);
      if (i >= 0) metrics.carbonForecast.set({ ...labels, offset }, snap.points[i]!.gCO2eqPerKWh);
      else metrics.carbonForecast.remove({ ...labels, offset });
    }
  };
  const stop = store.subscribe(() => record());
  return { record, stop };
}
