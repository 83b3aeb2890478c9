import { endOf, overlay } from '../core/points.js';
import type { CarbonSnapshot, IntensityPoint, Signal } from '../core/carbon.js';
import { indexAt } from '../core/view.js';
import type { CarbonReader } from '../ports.js';

const HOUR = 3_600_000;

/** How much history the store keeps behind now: enough for any sane duration override. */
export const DEFAULT_HISTORY_MS = 48 * HOUR;

export interface CarbonStoreOptions {
  /** `provider:location`, shown in snapshots and the status annotation. */
  source: string;
  maxDataAgeMs: number;
  historyMs?: number;
}

/** Told the new snapshot each time the store's data changes; it must not throw. */
export type StoreListener = (snapshot: CarbonSnapshot) => void;

/**
 * The one place carbon data lives. Only the refresher writes it (`update`), after
 * validation; admission and the timer read it through `snapshot()`, which returns the
 * same frozen object until the next update, so reading costs nothing. Whoever must act
 * on new data subscribes instead of polling.
 */
export class CarbonStore implements CarbonReader {
  private current: CarbonSnapshot;
  private readonly historyMs: number;
  private readonly listeners = new Set<StoreListener>();

  constructor(options: CarbonStoreOptions) {
    this.historyMs = options.historyMs ?? DEFAULT_HISTORY_MS;
    this.current = freeze({ source: options.source, fetchedAt: null, points: [], maxDataAgeMs: options.maxDataAgeMs });
  }

  snapshot(): CarbonSnapshot {
    return this.current;
  }

  /**
   * `listener` is called after every change of the snapshot: each `update` (a fetch always
   * moves `fetchedAt`, so it is always a change) and each `reconfigure` that changes the
   * source or the staleness limit. Returns the unsubscribe function.
   */
  subscribe(listener: StoreListener): () => void {
    // A wrapper per call, so subscribing one function twice yields two independent subscriptions.
    const entry: StoreListener = (snap) => listener(snap);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  private replace(next: CarbonSnapshot): CarbonSnapshot {
    this.current = freeze(next);
    for (const listener of [...this.listeners]) listener(this.current);
    return this.current;
  }

  /**
   * Merge one fetch's validated points. The fetch is the truth from its first point on
   * (a newer forecast replaces the older one, and a point that is no longer forecast
   * disappears); what lies before it is kept as history, cut where the new data begins,
   * and trimmed to `historyMs` before `fetchedAt`. `signal` is what the source says its
   * numbers are; the snapshot carries it to every decision.
   */
  update(points: readonly IntensityPoint[], fetchedAt: number, signal?: Signal): CarbonSnapshot {
    const old = this.current.points;
    const first = points[0];
    let merged: IntensityPoint[];
    if (first === undefined) {
      merged = [...old];
    } else {
      const history = old.filter((p) => p.timestamp < first.timestamp);
      // overlay cuts the last history point where the new data starts, and the new
      // data has nothing beyond its own end, so everything after it is dropped.
      merged = overlay(history, points);
    }
    const horizon = fetchedAt - this.historyMs;
    let drop = 0;
    while (drop < merged.length && endOf(merged[drop]!) <= horizon) drop++;
    const next: CarbonSnapshot = { ...this.current, fetchedAt, points: drop > 0 ? merged.slice(drop) : merged };
    return this.replace(signal === undefined ? next : { ...next, signal });
  }

  /**
   * A new source after a configuration reload: data from another provider or location
   * must not be mixed with the old one, so the store starts empty. Same source: only the
   * staleness limit changes and the data stays.
   */
  reconfigure(options: CarbonStoreOptions): void {
    if (options.source === this.current.source) {
      if (options.maxDataAgeMs !== this.current.maxDataAgeMs) this.replace({ ...this.current, maxDataAgeMs: options.maxDataAgeMs });
      return;
    }
    this.replace({ source: options.source, fetchedAt: null, points: [], maxDataAgeMs: options.maxDataAgeMs });
  }
}

function freeze(s: CarbonSnapshot): CarbonSnapshot {
  const points = s.points;
  if (!Object.isFrozen(points)) {
    for (const p of points) Object.freeze(p);
    Object.freeze(points);
  }
  return Object.freeze({ ...s, points });
}

/**
 * Points that cover any part of [from, to): the current point first (it may have started
 * before `from`), then the forecast ahead. Shares point objects with the snapshot.
 */
export function pointsBetween(snapshot: CarbonSnapshot, from: number, to: number): readonly IntensityPoint[] {
  const pts = snapshot.points;
  let i = indexAt(pts, from);
  if (i < 0) {
    // `from` falls in a gap or outside the data: start at the first point after it.
    i = pts.findIndex((p) => p.timestamp >= from);
    if (i < 0) return [];
  }
  let j = i;
  while (j < pts.length && pts[j]!.timestamp < to) j++;
  return pts.slice(i, j);
}

/** The forecast from `now` over the next `horizonMs` (the current point included). */
export function forecastAhead(snapshot: CarbonSnapshot, now: number, horizonMs = 24 * HOUR): readonly IntensityPoint[] {
  return pointsBetween(snapshot, now, now + horizonMs);
}
