import type { Policy } from '../core/policy.js';
import type { ThresholdSeries } from './thresholds.js';
import type { CapInterval } from './timeline.js';

export interface ChartInput {
  readonly title: string;
  readonly policy: Policy;
  readonly declared: number;
  /** The timeline following the forecast: its intensities draw the curve, its caps the step line. */
  readonly intervals: readonly CapInterval[];
  /** Optional: the caps as the Azure operator re-evaluates them, drawn dashed for comparison. */
  readonly operator?: readonly CapInterval[];
  /** Optional: each percentile band's resolved threshold over the span, drawn as a step line. */
  readonly thresholds?: readonly ThresholdSeries[];
}

/** The chart's geometry, colours and drawing primitives, shared by its parts. */
export const WIDTH = 960;
export const PLOT_H = 320;
export const M = { left: 78, right: 78, top: 56 };
export const PLOT_W = WIDTH - M.left - M.right;
export const COLORS = {
  intensity: '#c0392b',
  cap: '#1f5fa8',
  operator: '#7f8c8d',
  threshold: '#8e6c00',
  percentile: '#7b3fa0',
  gap: '#d9d9d9',
  grid: '#e6e6e6',
  text: '#222222',
};

/** Escape text and attribute values: the title carries file names the user chose. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(1));
export const px = (n: number): string => (Math.round(n * 10) / 10).toString();

/** Where things go: the time span, both vertical scales, and the lines written so far. */
export interface Canvas {
  readonly input: ChartInput;
  readonly t0: number;
  readonly t1: number;
  readonly yMax: number;
  readonly yStep: number;
  readonly cMax: number;
  readonly cStep: number;
  readonly x: (t: number) => number;
  /** The intensity axis (left). */
  readonly yI: (v: number) => number;
  /** The cap axis (right). */
  readonly yC: (v: number) => number;
  readonly out: string[];
}

export function text(c: Canvas, tx: number, ty: number, s: string, attrs = ''): void {
  c.out.push(`<text x="${px(tx)}" y="${px(ty)}"${attrs ? ` ${attrs}` : ''}>${escapeXml(s)}</text>`);
}

/**
 * A step line through the stretches' values: flat over each stretch, vertical at the
 * boundaries, and broken (a new `M`) around stretches without a value or across a jump
 * in time.
 */
export function stepPath<T extends { readonly start: number; readonly end: number }>(
  ivs: readonly T[],
  value: (iv: T) => number | null,
  x: (t: number) => number,
  y: (v: number) => number,
): string {
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
