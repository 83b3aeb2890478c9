import type { Band, Policy } from '../core/policy.js';
import { allowedCount } from '../core/decide.js';
import { HOUR, type CapInterval } from './timeline.js';

export interface ChartInput {
  readonly title: string;
  readonly policy: Policy;
  readonly declared: number;
  /** The timeline following the forecast: its intensities draw the curve, its caps the step line. */
  readonly intervals: readonly CapInterval[];
  /** Optional: the hourly-only caps, drawn dashed for comparison. */
  readonly hourly?: readonly CapInterval[];
}

const WIDTH = 960;
const PLOT_H = 320;
const M = { left: 78, right: 78, top: 56 };
const PLOT_W = WIDTH - M.left - M.right;
const COLORS = { intensity: '#c0392b', cap: '#1f5fa8', hourly: '#7f8c8d', threshold: '#8e6c00', gap: '#d9d9d9', grid: '#e6e6e6', text: '#222222' };

/** Escape text and attribute values: the title carries file names the user chose. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(1));
const px = (n: number): string => (Math.round(n * 10) / 10).toString();

/** A "nice" step (1, 2, 2.5, 5 x 10^k) so that about `count` ticks span [0, max]. */
export function niceStep(max: number, count: number): number {
  if (!(max > 0)) return 1;
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

/** Hour steps for time labels, chosen so that at most about 12 labels fit. */
const TIME_STEPS_H = [1, 2, 3, 6, 12, 24, 48, 168];

function timeLabel(t: number, withDate: boolean): string {
  const iso = new Date(t).toISOString();
  return withDate ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
}

function bandLabel(policy: Policy, band: Band, declared: number): string {
  const allowed = band.allowed.kind === 'percent' ? `${fmt(band.allowed.value)}% = ${Math.min(declared, allowedCount(band, declared))}` : String(band.allowed.value);
  return policy.form === 'carbon' ? `>= ${fmt(band.threshold)}: max ${allowed}` : `<= ${fmt(band.threshold)}: max ${allowed}`;
}

/**
 * The chart as a standalone SVG document, written by hand (no charting dependency): the
 * intensity as a step curve on the left axis, each band threshold as a labelled dashed
 * line, the cap as a step line on the right axis (and the hourly-only cap dashed), grey
 * bands where the forecast has gaps, axis titles with units, UTC time labels and a legend.
 * Series carry `id`s so that tests and users can find them.
 */
export function renderChart(input: ChartInput): string {
  const ivs = input.intervals;
  if (ivs.length === 0) throw new Error('nothing to chart: the timeline is empty');
  const t0 = ivs[0]!.start;
  const t1 = ivs[ivs.length - 1]!.end;
  const maxIntensity = Math.max(0, ...ivs.map((iv) => iv.intensity ?? 0), ...input.policy.bands.map((b) => b.threshold));
  const yStep = niceStep(maxIntensity * 1.08 || 100, 5);
  const yMax = Math.max(yStep, Math.ceil((maxIntensity * 1.08) / yStep) * yStep);
  const capMaxRaw = Math.max(input.declared, ...ivs.map((iv) => iv.cap), ...(input.hourly ?? []).map((iv) => iv.cap));
  // Headroom above the declared max, so the cap line does not vanish into the plot's frame.
  const cStep = niceStep(capMaxRaw * 1.08, 5);
  const cMax = Math.max(cStep, Math.ceil((capMaxRaw * 1.08) / cStep) * cStep);

  const x = (t: number) => M.left + ((t - t0) / (t1 - t0)) * PLOT_W;
  const yI = (v: number) => M.top + PLOT_H - (v / yMax) * PLOT_H;
  const yC = (v: number) => M.top + PLOT_H - (v / cMax) * PLOT_H;
  const out: string[] = [];
  const text = (tx: number, ty: number, s: string, attrs = '') => out.push(`<text x="${px(tx)}" y="${px(ty)}"${attrs ? ` ${attrs}` : ''}>${escapeXml(s)}</text>`);

  out.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  // The height depends on how many legend rows there are: the header is filled in at the end.
  out.push('');
  out.push(`<title>${escapeXml(input.title)}</title>`);
  out.push('');
  text(WIDTH / 2, 24, input.title, 'id="chart-title" text-anchor="middle" font-size="15" font-weight="bold"');

  // Gaps first, so that everything else draws over them.
  out.push(`<g id="gaps" fill="${COLORS.gap}" fill-opacity="0.6">`);
  for (const iv of ivs) {
    if (iv.intensity !== null) continue;
    out.push(`<rect x="${px(x(iv.start))}" y="${M.top}" width="${px(x(iv.end) - x(iv.start))}" height="${PLOT_H}" data-start="${new Date(iv.start).toISOString()}" data-end="${new Date(iv.end).toISOString()}"><title>no data: onMissingData applies</title></rect>`);
  }
  out.push(`</g>`);

  // Horizontal grid and the left (intensity) axis.
  out.push(`<g id="axis-intensity" text-anchor="end">`);
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    out.push(`<line x1="${M.left}" x2="${M.left + PLOT_W}" y1="${px(yI(v))}" y2="${px(yI(v))}" stroke="${COLORS.grid}"/>`);
    text(M.left - 8, yI(v) + 4, fmt(v));
  }
  out.push(`</g>`);
  out.push(`<g id="axis-cap" text-anchor="start" fill="${COLORS.cap}">`);
  for (let v = 0; v <= cMax + 1e-9; v += cStep) text(M.left + PLOT_W + 8, yC(v) + 4, fmt(v));
  out.push(`</g>`);
  text(20, M.top + PLOT_H / 2, 'Carbon intensity (gCO2eq/kWh)', `id="label-intensity" text-anchor="middle" transform="rotate(-90 20 ${px(M.top + PLOT_H / 2)})" fill="${COLORS.intensity}"`);
  text(WIDTH - 20, M.top + PLOT_H / 2, 'Replica cap (maxReplicaCount)', `id="label-cap" text-anchor="middle" transform="rotate(90 ${WIDTH - 20} ${px(M.top + PLOT_H / 2)})" fill="${COLORS.cap}"`);

  // Time axis: labels on whole UTC hours, the date shown at midnight and on the first label.
  const spanH = (t1 - t0) / HOUR;
  const stepH = TIME_STEPS_H.find((s) => spanH / s <= 12) ?? TIME_STEPS_H[TIME_STEPS_H.length - 1]!;
  out.push(`<g id="axis-time" text-anchor="middle">`);
  let first = true;
  for (let t = Math.ceil(t0 / (stepH * HOUR)) * stepH * HOUR; t <= t1; t += stepH * HOUR) {
    out.push(`<line x1="${px(x(t))}" x2="${px(x(t))}" y1="${M.top}" y2="${M.top + PLOT_H + 5}" stroke="${COLORS.grid}"/>`);
    text(x(t), M.top + PLOT_H + 18, timeLabel(t, first || t % (24 * HOUR) === 0));
    first = false;
  }
  out.push(`</g>`);
  text(M.left + PLOT_W / 2, M.top + PLOT_H + 40, 'Time (UTC)', 'id="label-time" text-anchor="middle"');
  out.push(`<rect x="${M.left}" y="${M.top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#999999"/>`);

  // Band thresholds, labelled at the right end of the plot.
  out.push(`<g id="thresholds" stroke="${COLORS.threshold}" fill="${COLORS.threshold}">`);
  for (const b of input.policy.bands) {
    const y = yI(b.threshold);
    out.push(`<line class="threshold" data-threshold="${b.threshold}" x1="${M.left}" x2="${M.left + PLOT_W}" y1="${px(y)}" y2="${px(y)}" stroke-dasharray="6 4"/>`);
  }
  out.push(`</g>`);

  out.push(`<path id="intensity" data-series="intensity" fill="none" stroke="${COLORS.intensity}" stroke-width="2" d="${stepPath(ivs, (iv) => iv.intensity, x, yI)}"/>`);
  if (input.hourly && input.hourly.length > 0) {
    out.push(`<path id="cap-hourly" data-series="cap-hourly" fill="none" stroke="${COLORS.hourly}" stroke-width="1.5" stroke-dasharray="5 3" d="${stepPath(input.hourly, (iv) => iv.cap, x, yC)}"/>`);
  }
  out.push(`<path id="cap" data-series="cap" fill="none" stroke="${COLORS.cap}" stroke-width="2.5" d="${stepPath(ivs, (iv) => iv.cap, x, yC)}"/>`);
  // Threshold labels over the curves, with a white halo so that they stay readable where a curve crosses them.
  out.push(`<g id="threshold-labels" fill="${COLORS.threshold}" text-anchor="end" stroke="#ffffff" stroke-width="3" paint-order="stroke">`);
  for (const b of input.policy.bands) text(M.left + PLOT_W - 4, yI(b.threshold) - 4, bandLabel(input.policy, b, input.declared));
  out.push(`</g>`);

  // Legend, below the time axis title, wrapped into rows that fit the width.
  const legend: [string, string, string][] = [
    ['intensity', COLORS.intensity, 'Carbon intensity (left axis)'],
    ['cap', COLORS.cap, 'Replica cap, following the forecast (right axis)'],
  ];
  if (input.hourly && input.hourly.length > 0) legend.push(['cap-hourly', COLORS.hourly, 'Replica cap, re-evaluated hourly (right axis)']);
  legend.push(['thresholds', COLORS.threshold, 'Band threshold']);
  if (ivs.some((iv) => iv.intensity === null)) legend.push(['gaps', COLORS.gap, 'No data (onMissingData applies)']);
  out.push(`<g id="legend">`);
  let lx = M.left;
  let ly = M.top + PLOT_H + 66;
  for (const [key, color, label] of legend) {
    // About 6.5 px per character at 12 px sans-serif: generous, so labels never overlap.
    const w = 28 + label.length * 6.5 + 18;
    if (lx > M.left && lx + w > WIDTH - M.left / 2) {
      lx = M.left;
      ly += 20;
    }
    const dash = key === 'thresholds' ? ' stroke-dasharray="6 4"' : key === 'cap-hourly' ? ' stroke-dasharray="5 3"' : '';
    if (key === 'gaps') out.push(`<rect x="${lx}" y="${ly - 9}" width="22" height="10" fill="${color}"/>`);
    else out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2.5"${dash}/>`);
    text(lx + 28, ly, label, `data-legend="${key}"`);
    lx += w;
  }
  out.push(`</g>`);
  const height = ly + 16;
  out[1] = `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12" fill="${COLORS.text}">`;
  out[3] = `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`;
  out.push(`</svg>`);
  return `${out.join('\n')}\n`;
}

/**
 * A step line through the intervals' values: flat over each interval, vertical at the
 * boundaries, and broken (a new `M`) around intervals without a value or across a jump
 * in time.
 */
function stepPath(ivs: readonly CapInterval[], value: (iv: CapInterval) => number | null, x: (t: number) => number, y: (v: number) => number): string {
  const parts: string[] = [];
  let open = false;
  let lastEnd = NaN;
  for (const iv of ivs) {
    const v = value(iv);
    if (v === null) {
      open = false;
      continue;
    }
    const yy = px(y(v));
    parts.push(open && iv.start === lastEnd ? `L${px(x(iv.start))},${yy}` : `M${px(x(iv.start))},${yy}`);
    parts.push(`L${px(x(iv.end))},${yy}`);
    open = true;
    lastEnd = iv.end;
  }
  return parts.join(' ');
}
