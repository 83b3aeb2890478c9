import type { IntensityPoint } from './carbon.js';
import { ruleText } from './decide.js';
import { resolvePercentiles } from './percentile.js';
import type { Band, Policy } from './policy.js';

/** A band with the threshold it has at one moment. */
export interface BandThreshold {
  readonly band: Band;
  /** As written, or for a percentile band its value resolved over the window (exact). */
  readonly threshold: number;
  /** As the rule reads in the status, the warning and explain: `measuredEmission>=p80 (412.3)`. */
  readonly rule: string;
}

export type Thresholds = { readonly ok: true; readonly bands: readonly BandThreshold[] } | { readonly ok: false; readonly reason: string };

/**
 * Every band of a percentile policy with its threshold at `now`, ordered as the decision
 * orders them: the same resolution `decide` makes, so what is printed is what it compares.
 * A resolved value is shown to one decimal, or to as many as it takes to stay on the same
 * side of `intensity` (the exact value at `now`, when there is one), as the rule is.
 */
export function bandThresholds(policy: Policy, points: readonly IntensityPoint[], now: number, intensity: number | null): Thresholds {
  const resolved = resolvePercentiles(policy, points, now);
  if (!resolved.ok) return { ok: false, reason: resolved.reason };
  const relation = policy.form === 'carbon' ? '>=' : '<=';
  const bands = policy.bands.map((band) => {
    const threshold = band.percentile === null ? band.threshold! : resolved.thresholds.get(band.percentile)!;
    return { band, threshold, rule: ruleText(policy.form, relation, band, threshold, intensity) };
  });
  return { ok: true, bands: bands.sort((a, b) => a.threshold - b.threshold) };
}

const hours = (ms: number): string => `${Math.round((ms / 3_600_000) * 10) / 10}h`;

/** One line for `explain`: each band's resolved threshold, or why they cannot be resolved. */
export function thresholdsLine(policy: Policy, t: Thresholds): string {
  if (!t.ok) return `not resolved: ${t.reason.replace(/^percentile band cannot be resolved: /, '')}`;
  const w = policy.relativeWindow;
  return `${t.bands.map((b) => b.rule).join(', ')} over relativeWindow (past ${hours(w.pastMs)}, ahead ${hours(w.aheadMs)})`;
}
