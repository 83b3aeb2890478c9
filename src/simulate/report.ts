import type { Policy } from '../core/policy.js';
import type { Signal } from '../core/carbon.js';
import type { Figures, Simulation } from './figures.js';
import type { CapInterval } from './timeline.js';

export interface ReportContext {
  readonly policyOrigin: string;
  readonly policy: Policy;
  readonly forecastOrigin: string;
  /** What kind of intensity the forecast is (marginal, average, unknown). */
  readonly signal?: Signal;
  readonly pointCount: number;
  readonly declared: number;
  readonly minReplicas: number;
}

/** Numbers for people: at most two decimals, no trailing zeros. */
export const num = (n: number): string => String(Math.round(n * 100) / 100);
const when = (t: number): string => `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')}Z`;

function onMissingText(policy: Policy): string {
  const r = policy.onMissingData;
  return r === 'declared' ? 'declared: the declared max' : r === 'hold' ? 'hold: the cap before the gap' : `a fixed cap of ${r}`;
}

/** The edge handling, stated in every report so nobody has to guess. */
export function edgeNotes(ctx: ReportContext, sim: Simulation): string[] {
  const notes = [
    'The span runs from the first forecast point to the end of the last one; the data counts as freshly fetched at every moment, so maxDataAge is not simulated.',
    `A gap between points is missing data: onMissingData (${onMissingText(ctx.policy)}) decides, as in the webhook.${ctx.policy.onMissingData === 'hold' ? ' The object starts at its declared max.' : ''}`,
    "Azure operator: the same decision, taken only when the Azure carbon-aware KEDA operator reconciles (at the span's start, then at the next minute of the hour that is a multiple of the current point's duration, every 5 minutes where no point covers) and held until then.",
  ];
  const gaps: { start: number; end: number }[] = [];
  for (const iv of sim.intervals) {
    if (iv.intensity !== null) continue;
    const prev = gaps[gaps.length - 1];
    if (prev && prev.end === iv.start) prev.end = iv.end;
    else gaps.push({ start: iv.start, end: iv.end });
  }
  if (gaps.length > 0) notes.push(`Gaps in this forecast: ${gaps.map((g) => `${when(g.start)} to ${when(g.end)}`).join(', ')}.`);
  return notes;
}

function pad(cells: string[], widths: number[], right: Set<number>): string {
  return cells
    .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
    .join('  ')
    .trimEnd();
}

function table(rows: string[][], right: Set<number>): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `  ${pad(r, widths, right)}`);
}

// The intensity is printed as the decision shows it: rounding it again could put it on
// the other side of the threshold its `why` column names.
function timelineRows(intervals: readonly CapInterval[]): string[] {
  const rows = [['start', 'end', 'gCO2eq/kWh', 'cap', 'eco mode', 'why']];
  for (const iv of intervals) {
    rows.push([
      when(iv.start),
      when(iv.end),
      iv.intensity === null ? 'no data' : String(iv.intensity),
      String(iv.cap),
      iv.ecoMode,
      iv.rule ? `${iv.rule} (${iv.reason})` : iv.reason,
    ]);
  }
  return table(rows, new Set([2, 3]));
}

const pct = (n: number | null): string => (n === null ? '' : ` (${n > 0 ? '+' : ''}${num(n)}%)`);
const opt = (n: number | null, unit = ''): string => (n === null ? 'n/a' : `${num(n)}${unit}`);

function figureRows(a: Figures, b: Figures): string[] {
  const caps = [...new Set([...a.hoursAtCap, ...b.hoursAtCap].map((c) => c.cap))].sort((x, y) => y - x);
  const atCap = (f: Figures, cap: number) => num(f.hoursAtCap.find((c) => c.cap === cap)?.hours ?? 0);
  const rows = [['', 'following the forecast', 'Azure operator']];
  rows.push(['hours simulated', num(a.hours), num(b.hours)]);
  for (const cap of caps) rows.push([`hours at cap ${cap}`, atCap(a, cap), atCap(b, cap)]);
  rows.push(['hours without data', num(a.missingDataHours), num(b.missingDataHours)]);
  rows.push(['hours with eco mode off', num(a.ecoModeOffHours), num(b.ecoModeOffHours)]);
  rows.push([
    'replica-hours allowed',
    `${num(a.allowedReplicaHours)} of ${num(a.declaredReplicaHours)}`,
    `${num(b.allowedReplicaHours)} of ${num(b.declaredReplicaHours)}`,
  ]);
  rows.push([
    'replica-hours withheld',
    `${num(a.withheldReplicaHours)} (${num(a.withheldPercent)}%)`,
    `${num(b.withheldReplicaHours)} (${num(b.withheldPercent)}%)`,
  ]);
  rows.push(['average cap, unweighted', opt(a.averageCap), opt(b.averageCap)]);
  rows.push([
    'average cap, intensity-weighted',
    `${opt(a.intensityWeightedCap)}${pct(a.shiftPercent)}`,
    `${opt(b.intensityWeightedCap)}${pct(b.shiftPercent)}`,
  ]);
  rows.push([
    'ideal for the same replica-hours',
    `${opt(a.idealIntensityWeightedCap)}${pct(a.idealShiftPercent)}`,
    `${opt(b.idealIntensityWeightedCap)}${pct(b.idealShiftPercent)}`,
  ]);
  rows.push(['share of the ideal shift captured', opt(a.shareOfIdealPercent, '%'), opt(b.shareOfIdealPercent, '%')]);
  rows.push(['average intensity', opt(a.averageIntensity, ' g/kWh'), opt(b.averageIntensity, ' g/kWh')]);
  rows.push(['intensity the allowed capacity sees', opt(a.capacityWeightedIntensity, ' g/kWh'), opt(b.capacityWeightedIntensity, ' g/kWh')]);
  return table(rows, new Set([1, 2]));
}

/** One sentence on what following the forecast gains over re-evaluating as the Azure operator does. */
export function comparisonLine(a: Figures, b: Figures): string {
  const dWithheld = a.withheldReplicaHours - b.withheldReplicaHours;
  const dIntensity =
    a.capacityWeightedIntensity !== null && b.capacityWeightedIntensity !== null ? a.capacityWeightedIntensity - b.capacityWeightedIntensity : null;
  if (Math.abs(dWithheld) < 1e-9 && (dIntensity === null || Math.abs(dIntensity) < 0.05)) {
    return 'Following the forecast and re-evaluating as the Azure operator does give the same caps on this forecast.';
  }
  const withheld = dWithheld === 0 ? 'the same replica-hours' : `${num(Math.abs(dWithheld))} replica-hours ${dWithheld > 0 ? 'more' : 'fewer'} withheld`;
  const intensity =
    dIntensity === null || Math.abs(dIntensity) < 0.05
      ? ''
      : `, and the allowed capacity runs at ${num(Math.abs(dIntensity))} gCO2eq/kWh ${dIntensity < 0 ? 'less' : 'more'} on average`;
  return `Following the forecast instead of re-evaluating as the Azure operator does: ${withheld}${intensity}.`;
}

/** Percentile bands: the reference window they are resolved over. */
function windowNote(policy: ReportContext['policy']): string {
  if (!policy.relative) return '';
  const h = (ms: number) => `${Math.round((ms / 3_600_000) * 10) / 10}h`;
  return `, percentiles over ${h(policy.relativeWindow.pastMs)} past and ${h(policy.relativeWindow.aheadMs)} ahead`;
}

export function textReport(ctx: ReportContext, sim: Simulation): string {
  const first = sim.intervals[0]!;
  const last = sim.intervals[sim.intervals.length - 1]!;
  const lines = [
    `Policy:   ${ctx.policyOrigin} (${ctx.policy.form === 'carbon' ? 'carbon' : 'maxReplicasByCarbonIntensity'} form, ${ctx.policy.bands.length} band${ctx.policy.bands.length === 1 ? '' : 's'}${windowNote(ctx.policy)})`,
    `Mode:     ${ctx.policy.mode}${ctx.policy.mode === 'observe' ? ' (the webhook would only write these caps into the status; the spec keeps the declared max)' : ''}`,
    `Forecast: ${ctx.forecastOrigin}, ${ctx.signal ?? 'unknown'} signal, ${ctx.pointCount} points, ${when(first.start)} to ${when(last.end)} (${num(sim.figures.hours)} h)`,
    `Object:   declared max ${ctx.declared}, floor ${Math.max(1, ctx.minReplicas)} (minReplicaCount ${ctx.minReplicas})`,
    '',
    'Cap timeline (following the forecast, as the webhook does):',
    ...timelineRows(sim.intervals),
    '',
    'Summary (replica-hours withheld: against running at the declared max all the time; ideal: the same replica-hours, cleanest hours first):',
    ...figureRows(sim.figures, sim.operator.figures),
    `  ${comparisonLine(sim.figures, sim.operator.figures)}`,
    '',
    `Suggested thresholds from this forecast (time-weighted p50 = ${num(sim.suggestion.p50)}, p80 = ${num(sim.suggestion.p80)} gCO2eq/kWh):`,
    `  ${JSON.stringify(sim.suggestion.document)}`,
    `  replayed over this forecast: ${num(sim.suggestion.figures.withheldReplicaHours)} replica-hours withheld (${num(sim.suggestion.figures.withheldPercent)}%), intensity-weighted cap ${opt(sim.suggestion.figures.intensityWeightedCap)} vs ${opt(sim.suggestion.figures.averageCap)} unweighted${pct(sim.suggestion.figures.shiftPercent)}, ${opt(sim.suggestion.figures.shareOfIdealPercent, '%')} of the ideal shift`,
    '',
    'Edge handling:',
    ...edgeNotes(ctx, sim).map((n) => `  - ${n}`),
  ];
  return `${lines.join('\n')}\n`;
}

const iso = (t: number): string => new Date(t).toISOString();
const ivJson = (iv: CapInterval) => ({
  start: iso(iv.start),
  end: iso(iv.end),
  intensity: iv.intensity,
  cap: iv.cap,
  rule: iv.rule,
  ecoMode: iv.ecoMode,
  reason: iv.reason,
});

export function jsonReport(ctx: ReportContext, sim: Simulation): unknown {
  return {
    policy: {
      origin: ctx.policyOrigin,
      form: ctx.policy.form,
      mode: ctx.policy.mode,
      onMissingData: ctx.policy.onMissingData,
      relativeWindow: ctx.policy.relative
        ? { pastHours: ctx.policy.relativeWindow.pastMs / 3_600_000, aheadHours: ctx.policy.relativeWindow.aheadMs / 3_600_000 }
        : null,
    },
    forecast: { origin: ctx.forecastOrigin, signal: ctx.signal ?? 'unknown', points: ctx.pointCount },
    declared: ctx.declared,
    minReplicas: ctx.minReplicas,
    floor: Math.max(1, ctx.minReplicas),
    timeline: sim.intervals.map(ivJson),
    summary: sim.figures,
    operator: { timeline: sim.operator.intervals.map(ivJson), summary: sim.operator.figures },
    comparison: comparisonLine(sim.figures, sim.operator.figures),
    suggestion: sim.suggestion,
    notes: edgeNotes(ctx, sim),
  };
}
