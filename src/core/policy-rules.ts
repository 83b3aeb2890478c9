import { CronExpressionParser, type CronExpression } from 'cron-parser';
import { durationMs } from './duration.js';
import { custom, fail, number, type Node, show } from './schema.js';

/** The leaves of the policy document whose rules are their own (see policy-document.ts). */

export type AllowedMax = { readonly kind: 'count'; readonly value: number } | { readonly kind: 'percent'; readonly value: number };

/**
 * One band. In the `carbon` form it applies from its threshold upwards (`>=`); in the Azure
 * form `threshold` is an upper bound and the band covers (previous threshold, threshold].
 * A percentile band (`measuredEmission: p80`, carbon form only) has no threshold of its
 * own: `decide` resolves it from the grid's intensity in the policy's `relativeWindow`.
 */
export type Band =
  | { readonly threshold: number; readonly percentile: null; readonly allowed: AllowedMax }
  | { readonly threshold: null; readonly percentile: number; readonly allowed: AllowedMax };

export interface RecurringSchedule {
  readonly expression: string;
  matches(at: number): boolean;
}

/** A one-off window in which eco mode is off: [start, end), as milliseconds since the epoch. */
export interface EcoWindow {
  readonly start: number;
  readonly end: number;
  /** `start..end` as written: how reasons and explain name the window. */
  readonly text: string;
}

export const HOUR = 3_600_000;

const PERCENT = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/;

/** `allowedMaxReplicaCount`: an integer >= 1 or a percentage of the declared max. */
export const allowedMax: Node<number | string, AllowedMax> = custom(
  'integer >= 1, or a percentage such as `"50%"`',
  // A structural int-or-string may not type its anyOf branches, so the bounds sit on the
  // field itself: minimum only checks integers, pattern only strings.
  { 'x-kubernetes-int-or-string': true, minimum: 1, pattern: '^\\s*(100(\\.0+)?|[0-9]{1,2}(\\.[0-9]+)?)\\s*%\\s*$' },
  (v, field) => {
    if (typeof v === 'string') {
      const m = PERCENT.exec(v);
      const pct = m ? Number(m[1]) : NaN;
      if (!(pct > 0 && pct <= 100)) {
        fail(field, `must be an integer >= 1 or a percentage of the declared max from "1%" to "100%", got ${show(v)}`);
      }
      return { kind: 'percent', value: pct };
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      fail(field, `must be an integer >= 1 or a percentage of the declared max such as "50%", got ${show(v)}`);
    }
    return { kind: 'count', value: v };
  },
);

const PERCENTILE = /^p([1-9]\d?)$/;
const threshold = number(0);

/**
 * `measuredEmission`: a number >= 0, or `p1` to `p99`. The near misses get their own rule,
 * since each one is a plausible way to write what the user meant.
 */
export const emission: Node<number | string, Pick<Band, 'threshold' | 'percentile'>> = custom(
  'number >= 0, or a percentile `p1` to `p99`',
  // A number or a string: no structural type covers both (int-or-string would refuse 412.5),
  // and CEL rules cannot be declared on an untyped field, so the webhook checks it.
  { 'x-kubernetes-preserve-unknown-fields': true },
  (v, field) => {
    if (typeof v !== 'string') return { threshold: threshold.parse(v, field), percentile: null };
    const m = PERCENTILE.exec(v);
    if (m) return { threshold: null, percentile: Number(m[1]) };
    const text = v.trim();
    let rule = `must be a number >= 0 or a percentile of the grid's own intensity from p1 to p99, got ${show(v)}`;
    if (/^p\d+$/.test(text)) rule = `a percentile must be from p1 to p99 (whole numbers), got ${show(v)}`;
    else if (/^p\d+\.\d+$/i.test(text)) rule = `a percentile must be a whole number from p1 to p99, got ${show(v)}`;
    else if (/^P\d+$/.test(text)) rule = `a percentile is written with a lower-case p, e.g. "p80", got ${show(v)}`;
    else if (/%\s*$/.test(text)) rule = `a threshold is gCO2eq/kWh or a percentile such as "p80", not a percentage, got ${show(v)}`;
    fail(field, rule);
  },
);

// Percentile bands sort after absolute ones; their order against those is only known per moment.
const written = (b: Band): string => (b.threshold !== null ? String(b.threshold) : `p${b.percentile}`);

/** Absolute bands by threshold, then percentile bands by percentile; two equal thresholds are an error. */
export function sortedBands(bands: Band[], field: string, thresholdName: string): Band[] {
  bands.sort((a, b) =>
    a.threshold !== null && b.threshold !== null
      ? a.threshold - b.threshold
      : a.threshold !== null
        ? -1
        : b.threshold !== null
          ? 1
          : a.percentile! - b.percentile!,
  );
  for (let i = 1; i < bands.length; i++) {
    if (written(bands[i]!) === written(bands[i - 1]!)) {
      fail(field, `two rules have the same ${thresholdName} ${written(bands[i]!)}`);
    }
  }
  return bands;
}

export const timeZone: Node<string, string> = custom('IANA time zone', { type: 'string', minLength: 1, maxLength: 64 }, (v, field) => {
  if (typeof v !== 'string' || v.trim() === '') fail(field, `must be an IANA time zone such as "Europe/Amsterdam", got ${show(v)}`);
  try {
    new Intl.DateTimeFormat('en', { timeZone: v });
  } catch {
    fail(field, `is not a known IANA time zone: ${show(v)}`);
  }
  return v;
});

/** One cron line, checked for its shape; `compileSchedule` compiles it once the time zone is known. */
export function cronLine(maxLength: number): Node<string, string> {
  return custom('5-field cron line', { type: 'string', minLength: 9, maxLength }, (line, field) => {
    if (typeof line === 'string' && line.length > maxLength) {
      fail(field, `is ${line.length} characters long; a cron line may have at most ${maxLength}`);
    }
    if (typeof line !== 'string' || line.trim().split(/\s+/).length !== 5) {
      fail(field, `must be a cron expression with 5 fields (minute hour day-of-month month day-of-week), got ${show(line)}`);
    }
    return line;
  });
}

/**
 * A cron line compiled once. Matching asks cron-parser (which handles the time zone and
 * cron's day-of-month/day-of-week rules) at most once per minute: the answer is memoised
 * because admission asks the same question for every request within that minute.
 */
export function compileSchedule(line: string, tz: string, field: string): RecurringSchedule {
  let expr: CronExpression;
  try {
    expr = CronExpressionParser.parse(line, { tz, strict: false });
  } catch (err) {
    fail(field, `is not a valid cron expression (${(err as Error).message}): ${show(line)}`);
  }
  let memoMinute = NaN;
  let memoMatch = false;
  return {
    expression: line,
    matches(at: number): boolean {
      const minute = Math.floor(at / 60_000);
      if (minute !== memoMinute) {
        memoMatch = expr.includesDate(new Date(minute * 60_000));
        memoMinute = minute;
      }
      return memoMatch;
    },
  };
}

export type OnMissingData = 'declared' | 'hold' | number;

export const onMissingData: Node<OnMissingData | string, OnMissingData> = custom(
  '`declared` \\| `hold` \\| integer >= 1',
  { 'x-kubernetes-int-or-string': true, minimum: 1, pattern: '^(declared|hold|[0-9]*[1-9][0-9]*)$' },
  (v, field) => {
    if (v === 'declared' || v === 'hold') return v;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 1) return v;
    if (typeof v === 'string' && /^\d+$/.test(v) && Number(v) >= 1) return Number(v);
    fail(field, `must be "declared", "hold" or an integer cap >= 1, got ${show(v)}`);
  },
);

/** A duration from `min` to `max` hours, written like `24h` (a bare number is seconds). */
export function hours(min: number, max: number, example: string): Node<string | number, number> {
  const range = `${min}h to ${max % 24 === 0 ? `${max / 24}d` : `${max}h`}`;
  return custom(
    `duration, ${range}`,
    { 'x-kubernetes-int-or-string': true, minimum: min * 3600, maximum: max * 3600, pattern: '^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+$' },
    (v, field) => {
      const ms = durationMs(v);
      if (ms === null || ms < min * HOUR || ms > max * HOUR) fail(field, `must be a duration from ${range} such as "${example}", got ${show(v)}`);
      return ms;
    },
  );
}

// RFC 3339 with upper-case T and Z, as the Azure operator's parser (Go's time.RFC3339) and
// CEL's timestamp() both read it; a time without an offset is refused, not guessed.
const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|([+-])(\d{2}):(\d{2}))$/;
const NO_OFFSET = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/**
 * An RFC 3339 time with an explicit offset (`Z` or `+hh:mm`) as milliseconds since the
 * epoch (fractions beyond milliseconds cut), or null: another shape, no offset, or a date or
 * time that does not exist (Date.parse rolls `02-30` over into March; a round trip catches it).
 */
export function rfc3339(text: string): number | null {
  const m = RFC3339.exec(text);
  if (!m) return null;
  const local = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(local) || new Date(local).toISOString().slice(0, 19) !== m[1]) return null;
  const [oh, om] = [Number(m[5] ?? 0), Number(m[6] ?? 0)];
  if (oh > 23 || om > 59) return null;
  const fraction = m[2] ? Number(m[2].slice(1, 4).padEnd(3, '0')) : 0;
  return local + fraction - (m[4] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
}

/** Whether `text` is a date and time that only lacks its offset (`2026-12-24T00:00:00`). */
export const lacksOffset = (text: string): boolean => NO_OFFSET.test(text.trim());

/** A window's `start` or `end`: the time, and the text as written. */
export const timestamp: Node<string, { at: number; text: string }> = custom(
  'RFC 3339 time with offset',
  { type: 'string', maxLength: 40, pattern: RFC3339.source },
  (v, field) => {
    const at = typeof v === 'string' ? rfc3339(v) : null;
    if (at !== null) return { at, text: v as string };
    if (typeof v === 'string' && lacksOffset(v)) {
      fail(field, `has no offset: write Z for UTC or +hh:mm, e.g. "${v.trim().replace(' ', 'T')}Z", got ${show(v)}`);
    }
    fail(field, `must be an RFC 3339 time with an offset such as "2026-12-24T00:00:00Z" or "2026-12-24T00:00:00+01:00", got ${show(v)}`);
  },
);
