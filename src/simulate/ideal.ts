/** A stretch of time with a known intensity, and the cap a timeline gave it. */
export interface Piece {
  /** Length in hours (> 0). */
  readonly hours: number;
  /** gCO2eq/kWh, as the decision shows it. */
  readonly intensity: number;
  readonly cap: number;
}

/**
 * The best any policy could do with the same replica-hours: the budget `sum(cap x h)` of
 * `pieces` placed again, every piece at least `floor`, the rest poured into the cleanest
 * pieces first, each filled up to `declared` before the next cleaner one gets any. The last
 * piece that gets some may get a fraction of a replica: replica-hours are continuous, and a
 * whole cap for part of that stretch places the same amount. Returns the caps in the order
 * of `pieces`. No placement of the same budget within [floor, declared] sees less intensity.
 */
export function idealCaps(pieces: readonly Piece[], floor: number, declared: number): number[] {
  let rest = pieces.reduce((sum, p) => sum + (p.cap - floor) * p.hours, 0);
  const caps = pieces.map(() => floor);
  const cleanest = pieces.map((p, i) => ({ p, i })).sort((a, b) => a.p.intensity - b.p.intensity);
  for (const { p, i } of cleanest) {
    if (rest <= 1e-12) break;
    const room = (declared - floor) * p.hours;
    const give = Math.min(room, rest);
    caps[i] = floor + give / p.hours;
    rest -= give;
  }
  return caps;
}

/** sum(cap x intensity x h) / sum(intensity x h), or the plain time-weighted average when every intensity is 0. */
export function intensityWeighted(pieces: readonly Piece[], caps: readonly number[]): number | null {
  let hours = 0;
  let capHours = 0;
  let weighted = 0;
  let weight = 0;
  pieces.forEach((p, i) => {
    hours += p.hours;
    capHours += caps[i]! * p.hours;
    weighted += caps[i]! * p.intensity * p.hours;
    weight += p.intensity * p.hours;
  });
  if (hours === 0) return null;
  return weight > 0 ? weighted / weight : capHours / hours;
}

export interface IdealShift {
  /** The ideal placement's intensity-weighted average cap. */
  readonly intensityWeightedCap: number;
  /** Its shift: intensityWeightedCap / averageCap - 1, in percent (same average cap as the policy: same budget, same hours). */
  readonly shiftPercent: number;
  /**
   * The policy's shift as a share of the ideal's, in percent (100: as good as any placement
   * of its replica-hours; 0: no shift; negative: toward dirtier hours). Null when the ideal
   * shifts nothing (a flat forecast, or a budget of all floor or all declared max).
   */
  readonly sharePercent: number | null;
}

/** The ideal shift for the pieces' own budget, and how much of it the pieces' caps capture; null without pieces. */
export function idealShift(pieces: readonly Piece[], floor: number, declared: number): IdealShift | null {
  const hours = pieces.reduce((sum, p) => sum + p.hours, 0);
  if (hours === 0) return null;
  const averageCap = pieces.reduce((sum, p) => sum + p.cap * p.hours, 0) / hours;
  if (averageCap === 0) return null;
  const ideal = intensityWeighted(pieces, idealCaps(pieces, floor, declared))!;
  const actual = intensityWeighted(
    pieces,
    pieces.map((p) => p.cap),
  )!;
  const idealPct = (ideal / averageCap - 1) * 100;
  const actualPct = (actual / averageCap - 1) * 100;
  // Below a thousandth of a percent the ideal is flat: a share of it means nothing.
  return { intensityWeightedCap: ideal, shiftPercent: idealPct, sharePercent: Math.abs(idealPct) < 1e-6 ? null : (actualPct / idealPct) * 100 };
}
