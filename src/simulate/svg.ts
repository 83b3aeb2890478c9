import { type Canvas, type ChartInput, COLORS, escapeXml, fmt, M, PLOT_H, PLOT_W, px, stepPath, text, WIDTH } from './svg-canvas.js';
import { drawnPercentiles, drawThresholdLabels, drawThresholdLines, FIXED_DASH, fixedBands, PERCENTILE_DASH } from './svg-thresholds.js';
import { HOUR } from './timeline.js';

export { escapeXml, type ChartInput };

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

/** A scale from 0 that ends on a nice step above `max`, with headroom so lines do not vanish into the frame. */
function scale(max: number, fallback: number): { step: number; top: number } {
  const step = niceStep(max * 1.08 || fallback, 5);
  return { step, top: Math.max(step, Math.ceil((max * 1.08) / step) * step) };
}

function canvas(input: ChartInput): Canvas {
  const ivs = input.intervals;
  const t0 = ivs[0]!.start;
  const t1 = ivs[ivs.length - 1]!.end;
  const percentiles = drawnPercentiles(input).flatMap((s) => s.steps.map((st) => st.value ?? 0));
  const intensity = scale(Math.max(0, ...ivs.map((iv) => iv.intensity ?? 0), ...fixedBands(input.policy).map((b) => b.threshold), ...percentiles), 100);
  const cap = scale(Math.max(input.declared, ...ivs.map((iv) => iv.cap), ...(input.operator ?? []).map((iv) => iv.cap)), 0);
  return {
    input,
    t0,
    t1,
    yMax: intensity.top,
    yStep: intensity.step,
    cMax: cap.top,
    cStep: cap.step,
    x: (t) => M.left + ((t - t0) / (t1 - t0)) * PLOT_W,
    yI: (v) => M.top + PLOT_H - (v / intensity.top) * PLOT_H,
    yC: (v) => M.top + PLOT_H - (v / cap.top) * PLOT_H,
    out: [],
  };
}

// Gaps first, so that everything else draws over them.
function drawGaps(c: Canvas): void {
  c.out.push(`<g id="gaps" fill="${COLORS.gap}" fill-opacity="0.6">`);
  for (const iv of c.input.intervals) {
    if (iv.intensity !== null) continue;
    c.out.push(
      `<rect x="${px(c.x(iv.start))}" y="${M.top}" width="${px(c.x(iv.end) - c.x(iv.start))}" height="${PLOT_H}" data-start="${new Date(iv.start).toISOString()}" data-end="${new Date(iv.end).toISOString()}"><title>no data: onMissingData applies</title></rect>`,
    );
  }
  c.out.push(`</g>`);
}

/** The horizontal grid, the left (intensity) and right (cap) axes and their titles. */
function drawValueAxes(c: Canvas): void {
  c.out.push(`<g id="axis-intensity" text-anchor="end">`);
  for (let v = 0; v <= c.yMax + 1e-9; v += c.yStep) {
    c.out.push(`<line x1="${M.left}" x2="${M.left + PLOT_W}" y1="${px(c.yI(v))}" y2="${px(c.yI(v))}" stroke="${COLORS.grid}"/>`);
    text(c, M.left - 8, c.yI(v) + 4, fmt(v));
  }
  c.out.push(`</g>`);
  c.out.push(`<g id="axis-cap" text-anchor="start" fill="${COLORS.cap}">`);
  for (let v = 0; v <= c.cMax + 1e-9; v += c.cStep) text(c, M.left + PLOT_W + 8, c.yC(v) + 4, fmt(v));
  c.out.push(`</g>`);
  const mid = M.top + PLOT_H / 2;
  text(
    c,
    20,
    mid,
    'Carbon intensity (gCO2eq/kWh)',
    `id="label-intensity" text-anchor="middle" transform="rotate(-90 20 ${px(mid)})" fill="${COLORS.intensity}"`,
  );
  text(
    c,
    WIDTH - 20,
    mid,
    'Replica cap (maxReplicaCount)',
    `id="label-cap" text-anchor="middle" transform="rotate(90 ${WIDTH - 20} ${px(mid)})" fill="${COLORS.cap}"`,
  );
}

/** Labels on whole UTC hours, the date shown at midnight and on the first label; then the plot's frame. */
function drawTimeAxis(c: Canvas): void {
  const spanH = (c.t1 - c.t0) / HOUR;
  const stepH = TIME_STEPS_H.find((s) => spanH / s <= 12) ?? TIME_STEPS_H[TIME_STEPS_H.length - 1]!;
  c.out.push(`<g id="axis-time" text-anchor="middle">`);
  let first = true;
  for (let t = Math.ceil(c.t0 / (stepH * HOUR)) * stepH * HOUR; t <= c.t1; t += stepH * HOUR) {
    c.out.push(`<line x1="${px(c.x(t))}" x2="${px(c.x(t))}" y1="${M.top}" y2="${M.top + PLOT_H + 5}" stroke="${COLORS.grid}"/>`);
    text(c, c.x(t), M.top + PLOT_H + 18, timeLabel(t, first || t % (24 * HOUR) === 0));
    first = false;
  }
  c.out.push(`</g>`);
  text(c, M.left + PLOT_W / 2, M.top + PLOT_H + 40, 'Time (UTC)', 'id="label-time" text-anchor="middle"');
  c.out.push(`<rect x="${M.left}" y="${M.top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#999999"/>`);
}

/** Threshold lines, the intensity and cap series, then the threshold labels over the curves. */
function drawSeries(c: Canvas): void {
  const { input, out } = c;
  drawThresholdLines(c);
  out.push(
    `<path id="intensity" data-series="intensity" fill="none" stroke="${COLORS.intensity}" stroke-width="2" d="${stepPath(input.intervals, (iv) => iv.intensity, c.x, c.yI)}"/>`,
  );
  if (input.operator && input.operator.length > 0) {
    out.push(
      `<path id="cap-operator" data-series="cap-operator" fill="none" stroke="${COLORS.operator}" stroke-width="1.5" stroke-dasharray="5 3" d="${stepPath(input.operator, (iv) => iv.cap, c.x, c.yC)}"/>`,
    );
  }
  out.push(
    `<path id="cap" data-series="cap" fill="none" stroke="${COLORS.cap}" stroke-width="2.5" d="${stepPath(input.intervals, (iv) => iv.cap, c.x, c.yC)}"/>`,
  );
  drawThresholdLabels(c);
}

/** One entry for each thing drawn, and none for anything not drawn. */
function legendEntries(input: ChartInput): [string, string, string][] {
  const legend: [string, string, string][] = [];
  if (input.intervals.some((iv) => iv.intensity !== null)) legend.push(['intensity', COLORS.intensity, 'Carbon intensity (left axis)']);
  legend.push(['cap', COLORS.cap, 'Replica cap, following the forecast (right axis)']);
  if (input.operator && input.operator.length > 0) {
    legend.push(['cap-operator', COLORS.operator, 'Replica cap, Azure operator re-evaluating at each forecast point (right axis)']);
  }
  if (fixedBands(input.policy).length > 0) legend.push(['thresholds', COLORS.threshold, 'Band threshold']);
  if (drawnPercentiles(input).length > 0) {
    legend.push(['thresholds-percentile', COLORS.percentile, 'Percentile threshold, resolved as the window slides (left axis)']);
  }
  if (input.intervals.some((iv) => iv.intensity === null)) legend.push(['gaps', COLORS.gap, 'No data (onMissingData applies)']);
  return legend;
}

/** The legend below the time axis title, wrapped into rows that fit the width; returns the y of its last row. */
function drawLegend(c: Canvas): number {
  c.out.push(`<g id="legend">`);
  let lx = M.left;
  let ly = M.top + PLOT_H + 66;
  for (const [key, color, label] of legendEntries(c.input)) {
    // About 6.5 px per character at 12 px sans-serif: generous, so labels never overlap.
    const w = 28 + label.length * 6.5 + 18;
    if (lx > M.left && lx + w > WIDTH - M.left / 2) {
      lx = M.left;
      ly += 20;
    }
    const dash = { thresholds: FIXED_DASH, 'thresholds-percentile': PERCENTILE_DASH, 'cap-operator': '5 3' }[key];
    if (key === 'gaps') c.out.push(`<rect x="${lx}" y="${ly - 9}" width="22" height="10" fill="${color}"/>`);
    else
      c.out.push(
        `<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2.5"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
      );
    text(c, lx + 28, ly, label, `data-legend="${key}"`);
    lx += w;
  }
  c.out.push(`</g>`);
  return ly;
}

/**
 * The chart as a standalone SVG document, written by hand (no charting dependency): the
 * intensity as a step curve on the left axis, each fixed band threshold as a labelled dashed
 * line and each percentile band's resolved threshold as a labelled dotted step line, the cap as a step line on the right axis (and the Azure operator's cap dashed), grey
 * bands where the forecast has gaps, axis titles with units, UTC time labels and a legend.
 * Series carry `id`s so that tests and users can find them.
 */
export function renderChart(input: ChartInput): string {
  if (input.intervals.length === 0) throw new Error('nothing to chart: the timeline is empty');
  const c = canvas(input);
  c.out.push(`<title>${escapeXml(input.title)}</title>`);
  text(c, WIDTH / 2, 24, input.title, 'id="chart-title" text-anchor="middle" font-size="15" font-weight="bold"');
  drawGaps(c);
  drawValueAxes(c);
  drawTimeAxis(c);
  drawSeries(c);
  // The height depends on how many legend rows there are, so the header comes last.
  const height = drawLegend(c) + 16;
  const head = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12" fill="${COLORS.text}">`,
  ];
  const [title, ...body] = c.out;
  return `${[...head, title!, `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`, ...body, '</svg>'].join('\n')}\n`;
}
