import { allowedCount } from '../core/decide.js';
import type { Band, Policy } from '../core/policy.js';
import { COLORS, fmt, M, PLOT_H, PLOT_W, px, stepPath, text, type Canvas } from './svg-canvas.js';
import type { ChartInput } from './svg-canvas.js';
import type { ThresholdSeries } from './thresholds.js';

type FixedBand = Extract<Band, { threshold: number }>;

/** The bands with a threshold as written: each is one straight dashed line. */
export const fixedBands = (policy: Policy): FixedBand[] => policy.bands.filter((b): b is FixedBand => b.threshold !== null);

/** The percentile bands resolved somewhere in the span: each is one step line that moves with the window. */
export const drawnPercentiles = (input: ChartInput): ThresholdSeries[] => (input.thresholds ?? []).filter((s) => s.steps.some((st) => st.value !== null));

export const PERCENTILE_DASH = '2 3';
export const FIXED_DASH = '6 4';

function allowedText(band: Band, declared: number): string {
  return band.allowed.kind === 'percent' ? `${fmt(band.allowed.value)}% = ${Math.min(declared, allowedCount(band, declared))}` : String(band.allowed.value);
}

function bandLabel(policy: Policy, band: FixedBand, declared: number): string {
  return `${policy.form === 'carbon' ? '>=' : '<='} ${fmt(band.threshold)}: max ${allowedText(band, declared)}`;
}

/** `>= p80 (412.3 to 498): max 25% = 10`: the range the threshold moved through, one value when it held still. */
function percentileLabel(s: ThresholdSeries, declared: number): string {
  const values = s.steps.flatMap((st) => (st.value === null ? [] : [st.value]));
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const range = lo === hi ? fmt(lo) : `${fmt(lo)} to ${fmt(hi)}`;
  return `>= p${s.percentile} (${range}): max ${allowedText(s.band, declared)}`;
}

/** Fixed thresholds dashed across the plot; resolved percentile thresholds as dotted step lines. */
export function drawThresholdLines(c: Canvas): void {
  const { input, out } = c;
  out.push(`<g id="thresholds" stroke="${COLORS.threshold}" fill="none">`);
  for (const b of fixedBands(input.policy)) {
    const y = c.yI(b.threshold);
    out.push(
      `<line class="threshold" data-threshold="${b.threshold}" x1="${M.left}" x2="${M.left + PLOT_W}" y1="${px(y)}" y2="${px(y)}" stroke-dasharray="${FIXED_DASH}"/>`,
    );
  }
  for (const s of drawnPercentiles(input)) {
    out.push(
      `<path class="threshold-percentile" data-percentile="${s.percentile}" stroke="${COLORS.percentile}" stroke-width="1.5" stroke-dasharray="${PERCENTILE_DASH}" d="${stepPath(s.steps, (st) => st.value, c.x, c.yI)}"/>`,
    );
  }
  out.push(`</g>`);
}

interface Label {
  y: number;
  readonly text: string;
  readonly color: string;
}

const LINE = 14;

/** The labels pushed apart, top to bottom, to one text line each and kept inside the plot; in their own order. */
function spread(given: readonly Label[]): readonly Label[] {
  const labels = [...given].sort((a, b) => a.y - b.y);
  for (let i = 1; i < labels.length; i++) labels[i]!.y = Math.max(labels[i]!.y, labels[i - 1]!.y + LINE);
  const bottom = M.top + PLOT_H - 4;
  for (let i = labels.length - 1; i >= 0; i--) {
    const below = i === labels.length - 1 ? bottom + LINE : labels[i + 1]!.y;
    labels[i]!.y = Math.min(labels[i]!.y, below - LINE);
  }
  return given;
}

/**
 * The threshold labels at the right edge, over the curves: a fixed band's just above its
 * line, a percentile band's above where its line ends. Close lines would stack their labels
 * on one another, so the labels are spread to one text line apart.
 */
export function drawThresholdLabels(c: Canvas): void {
  const { input } = c;
  const labels: Label[] = fixedBands(input.policy).map((b) => ({
    y: c.yI(b.threshold) - 4,
    text: bandLabel(input.policy, b, input.declared),
    color: COLORS.threshold,
  }));
  for (const s of drawnPercentiles(input)) {
    const last = [...s.steps].reverse().find((st) => st.value !== null)!;
    labels.push({ y: c.yI(last.value!) - 4, text: percentileLabel(s, input.declared), color: COLORS.percentile });
  }
  // A white halo keeps the labels readable where a curve crosses them.
  c.out.push(`<g id="threshold-labels" text-anchor="end" stroke="#ffffff" stroke-width="3" paint-order="stroke">`);
  const right = M.left + PLOT_W - 4;
  for (const l of spread(labels)) {
    // A pale backing a little wider than the text (under 7 px a character at 12 px), so no line runs through a label.
    const w = l.text.length * 7 + 8;
    c.out.push(`<rect x="${px(right - w + 3)}" y="${px(l.y - 11)}" width="${px(w)}" height="14" fill="#ffffff" fill-opacity="0.6" stroke="none"/>`);
    text(c, right, l.y, l.text, `fill="${l.color}"`);
  }
  c.out.push(`</g>`);
}
