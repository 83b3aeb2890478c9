import { CronExpressionParser, type CronExpression } from 'cron-parser';
import { parse as parseYaml } from 'yaml';
import { durationMs } from './duration.js';

/** A policy document that failed validation; `field` names where, `message` says field and rule. */
export class PolicyError extends Error {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(field ? `${field}: ${rule}` : rule);
    this.name = 'PolicyError';
  }
}

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

/** The reference window of percentile bands, around `now`. */
export interface RelativeWindow {
  readonly pastMs: number;
  readonly aheadMs: number;
}

export interface RecurringSchedule {
  readonly expression: string;
  matches(at: number): boolean;
}

export interface Policy {
  readonly form: 'carbon' | 'azure';
  /** Never empty. Absolute bands sorted by threshold, ascending, then percentile bands by percentile. */
  readonly bands: readonly Band[];
  /** True when some band is a percentile: the decision then needs the reference window. */
  readonly relative: boolean;
  readonly relativeWindow: RelativeWindow;
  /** `observe`: the status says what the cap would be, the spec is never changed. */
  readonly mode: 'enforce' | 'observe';
  readonly ecoModeOff: {
    readonly schedules: readonly RecurringSchedule[];
    readonly timeZone: string;
    readonly duration: { readonly threshold: number; readonly minutes: number } | null;
  };
  readonly onMissingData: 'declared' | 'hold' | number;
}

const TOP_KEYS = new Set(['carbon', 'maxReplicasByCarbonIntensity', 'ecoModeOff', 'onMissingData', 'relativeWindow', 'mode']);
const WINDOW_KEYS = new Set(['past', 'ahead']);
const HOUR = 3_600_000;
export const DEFAULT_WINDOW: RelativeWindow = { pastMs: 24 * HOUR, aheadMs: 24 * HOUR };
const ECO_KEYS = new Set(['recurringSchedule', 'timeZone', 'carbonIntensityDuration']);
const DURATION_KEYS = new Set(['carbonIntensityThreshold', 'overrideEcoAfterDurationInMins']);
const CARBON_KEYS = new Set(['measuredEmission', 'allowedMaxReplicaCount']);
const AZURE_KEYS = new Set(['carbonIntensityThreshold', 'maxReplicas']);

const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, known: Set<string>, at: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.has(key)) {
      throw new PolicyError(at ? `${at}.${key}` : key, `unknown field (expected one of ${[...known].join(', ')})`);
    }
  }
}

function nonNegativeNumber(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new PolicyError(field, `must be a number >= 0, got ${show(v)}`);
  }
  return v;
}

function integerAtLeast(v: unknown, min: number, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new PolicyError(field, `must be an integer >= ${min}, got ${show(v)}`);
  }
  return v;
}

const PERCENT = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/;

function allowedMax(v: unknown, field: string): AllowedMax {
  if (typeof v === 'string') {
    const m = PERCENT.exec(v);
    const pct = m ? Number(m[1]) : NaN;
    if (!(pct > 0 && pct <= 100)) {
      throw new PolicyError(field, `must be an integer >= 1 or a percentage of the declared max from "1%" to "100%", got ${show(v)}`);
    }
    return { kind: 'percent', value: pct };
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new PolicyError(field, `must be an integer >= 1 or a percentage of the declared max such as "50%", got ${show(v)}`);
  }
  return { kind: 'count', value: v };
}

// Percentile bands sort after absolute ones; their order against those is only known per moment.
const written = (b: Band): string => (b.threshold !== null ? String(b.threshold) : `p${b.percentile}`);

function sortedBands(bands: Band[], field: string, thresholdName: string): Band[] {
  bands.sort((a, b) => (a.threshold !== null && b.threshold !== null ? a.threshold - b.threshold : a.threshold !== null ? -1 : b.threshold !== null ? 1 : a.percentile! - b.percentile!));
  for (let i = 1; i < bands.length; i++) {
    if (written(bands[i]!) === written(bands[i - 1]!)) {
      throw new PolicyError(field, `two rules have the same ${thresholdName} ${written(bands[i]!)}`);
    }
  }
  return bands;
}

const PERCENTILE = /^p([1-9]\d?)$/;

/**
 * `measuredEmission`: a number >= 0, or `p1` to `p99`. The near misses get their own rule,
 * since each one is a plausible way to write what the user meant.
 */
function emission(v: unknown, field: string): Pick<Band, 'threshold' | 'percentile'> {
  if (typeof v !== 'string') return { threshold: nonNegativeNumber(v, field), percentile: null };
  const m = PERCENTILE.exec(v);
  if (m) return { threshold: null, percentile: Number(m[1]) };
  const text = v.trim();
  let rule = `must be a number >= 0 or a percentile of the grid's own intensity from p1 to p99, got ${show(v)}`;
  if (/^p\d+$/.test(text)) rule = `a percentile must be from p1 to p99 (whole numbers), got ${show(v)}`;
  else if (/^p\d+\.\d+$/i.test(text)) rule = `a percentile must be a whole number from p1 to p99, got ${show(v)}`;
  else if (/^P\d+$/.test(text)) rule = `a percentile is written with a lower-case p, e.g. "p80", got ${show(v)}`;
  else if (/%\s*$/.test(text)) rule = `a threshold is gCO2eq/kWh or a percentile such as "p80", not a percentage, got ${show(v)}`;
  throw new PolicyError(field, rule);
}

function carbonBands(v: unknown): Band[] {
  if (!Array.isArray(v) || v.length === 0) throw new PolicyError('carbon', `must be a non-empty list of rules, got ${show(v)}`);
  const bands = v.map((rule, i): Band => {
    const at = `carbon[${i}]`;
    if (!isRecord(rule)) throw new PolicyError(at, `must be a mapping with measuredEmission and allowedMaxReplicaCount, got ${show(rule)}`);
    checkKeys(rule, CARBON_KEYS, at);
    return { ...emission(rule.measuredEmission, `${at}.measuredEmission`), allowed: allowedMax(rule.allowedMaxReplicaCount, `${at}.allowedMaxReplicaCount`) } as Band;
  });
  return sortedBands(bands, 'carbon', 'measuredEmission');
}

function azureBands(v: unknown): Band[] {
  if (!Array.isArray(v) || v.length === 0) {
    throw new PolicyError('maxReplicasByCarbonIntensity', `must be a non-empty list of {carbonIntensityThreshold, maxReplicas}, got ${show(v)}`);
  }
  const bands = v.map((rule, i): Band => {
    const at = `maxReplicasByCarbonIntensity[${i}]`;
    if (!isRecord(rule)) throw new PolicyError(at, `must be a mapping with carbonIntensityThreshold and maxReplicas, got ${show(rule)}`);
    checkKeys(rule, AZURE_KEYS, at);
    // The Azure operator accepts 0 here; the floor of max(1, minReplicaCount) still applies.
    return {
      threshold: nonNegativeNumber(rule.carbonIntensityThreshold, `${at}.carbonIntensityThreshold`),
      percentile: null,
      allowed: { kind: 'count', value: integerAtLeast(rule.maxReplicas, 0, `${at}.maxReplicas`) },
    };
  });
  return sortedBands(bands, 'maxReplicasByCarbonIntensity', 'carbonIntensityThreshold');
}

function validTimeZone(v: unknown): string {
  if (v === undefined || v === null) return 'UTC';
  if (typeof v !== 'string' || v.trim() === '') throw new PolicyError('ecoModeOff.timeZone', `must be an IANA time zone such as "Europe/Amsterdam", got ${show(v)}`);
  try {
    new Intl.DateTimeFormat('en', { timeZone: v });
  } catch {
    throw new PolicyError('ecoModeOff.timeZone', `is not a known IANA time zone: ${show(v)}`);
  }
  return v;
}

/**
 * A cron line compiled once. Matching asks cron-parser (which handles the time zone and
 * cron's day-of-month/day-of-week rules) at most once per minute: the answer is memoised
 * because admission asks the same question for every request within that minute.
 */
function compileSchedule(line: unknown, tz: string, field: string): RecurringSchedule {
  if (typeof line !== 'string' || line.trim().split(/\s+/).length !== 5) {
    throw new PolicyError(field, `must be a cron expression with 5 fields (minute hour day-of-month month day-of-week), got ${show(line)}`);
  }
  let expr: CronExpression;
  try {
    expr = CronExpressionParser.parse(line, { tz, strict: false });
  } catch (err) {
    throw new PolicyError(field, `is not a valid cron expression (${(err as Error).message}): ${show(line)}`);
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

function ecoModeOff(v: unknown): Policy['ecoModeOff'] {
  if (v === undefined || v === null) return { schedules: [], timeZone: 'UTC', duration: null };
  if (!isRecord(v)) throw new PolicyError('ecoModeOff', `must be a mapping, got ${show(v)}`);
  checkKeys(v, ECO_KEYS, 'ecoModeOff');
  const timeZone = validTimeZone(v.timeZone);
  let schedules: RecurringSchedule[] = [];
  if (v.recurringSchedule !== undefined && v.recurringSchedule !== null) {
    if (!Array.isArray(v.recurringSchedule)) {
      throw new PolicyError('ecoModeOff.recurringSchedule', `must be a list of cron expressions, got ${show(v.recurringSchedule)}`);
    }
    schedules = v.recurringSchedule.map((line, i) => compileSchedule(line, timeZone, `ecoModeOff.recurringSchedule[${i}]`));
  }
  let duration: Policy['ecoModeOff']['duration'] = null;
  const d = v.carbonIntensityDuration;
  if (d !== undefined && d !== null) {
    if (!isRecord(d)) throw new PolicyError('ecoModeOff.carbonIntensityDuration', `must be a mapping, got ${show(d)}`);
    checkKeys(d, DURATION_KEYS, 'ecoModeOff.carbonIntensityDuration');
    duration = {
      threshold: nonNegativeNumber(d.carbonIntensityThreshold, 'ecoModeOff.carbonIntensityDuration.carbonIntensityThreshold'),
      minutes: integerAtLeast(d.overrideEcoAfterDurationInMins, 1, 'ecoModeOff.carbonIntensityDuration.overrideEcoAfterDurationInMins'),
    };
  }
  return { schedules, timeZone, duration };
}

function onMissingData(v: unknown): Policy['onMissingData'] {
  if (v === undefined || v === null || v === 'declared') return 'declared';
  if (v === 'hold') return 'hold';
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1) return v;
  if (typeof v === 'string' && /^\d+$/.test(v) && Number(v) >= 1) return Number(v);
  throw new PolicyError('onMissingData', `must be "declared", "hold" or an integer cap >= 1, got ${show(v)}`);
}

function windowPart(v: unknown, field: string, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  const ms = durationMs(v);
  if (ms === null || ms < HOUR || ms > 168 * HOUR) {
    throw new PolicyError(field, `must be a duration from 1h to 7d such as "24h", got ${show(v)}`);
  }
  return ms;
}

function relativeWindow(v: unknown): RelativeWindow {
  if (v === undefined || v === null) return DEFAULT_WINDOW;
  if (!isRecord(v)) throw new PolicyError('relativeWindow', `must be a mapping such as {past: 24h, ahead: 24h}, got ${show(v)}`);
  checkKeys(v, WINDOW_KEYS, 'relativeWindow');
  return { pastMs: windowPart(v.past, 'relativeWindow.past', DEFAULT_WINDOW.pastMs), aheadMs: windowPart(v.ahead, 'relativeWindow.ahead', DEFAULT_WINDOW.aheadMs) };
}

function mode(v: unknown): Policy['mode'] {
  if (v === undefined || v === null || v === 'enforce') return 'enforce';
  if (v === 'observe') return 'observe';
  throw new PolicyError('mode', `must be "enforce" or "observe", got ${show(v)}`);
}

/** Validate an already-decoded policy document (e.g. `spec.environmentalImpact`). */
export function validatePolicy(doc: unknown): Policy {
  if (!isRecord(doc)) throw new PolicyError('', `a policy must be a mapping with "carbon" or "maxReplicasByCarbonIntensity", got ${show(doc)}`);
  checkKeys(doc, TOP_KEYS, '');
  const hasCarbon = doc.carbon !== undefined && doc.carbon !== null;
  const hasAzure = doc.maxReplicasByCarbonIntensity !== undefined && doc.maxReplicasByCarbonIntensity !== null;
  if (hasCarbon && hasAzure) {
    throw new PolicyError('maxReplicasByCarbonIntensity', 'cannot be used together with carbon: choose one form');
  }
  if (!hasCarbon && !hasAzure) {
    throw new PolicyError('carbon', 'is required (or use the Azure-operator form maxReplicasByCarbonIntensity)');
  }
  const bands = hasCarbon ? carbonBands(doc.carbon) : azureBands(doc.maxReplicasByCarbonIntensity);
  return {
    form: hasCarbon ? 'carbon' : 'azure',
    bands,
    relative: bands.some((b) => b.percentile !== null),
    relativeWindow: relativeWindow(doc.relativeWindow),
    mode: mode(doc.mode),
    ecoModeOff: ecoModeOff(doc.ecoModeOff),
    onMissingData: onMissingData(doc.onMissingData),
  };
}

/** Parse a policy written as YAML or JSON (JSON is YAML), as found in an annotation. */
export function parsePolicyText(text: string): Policy {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new PolicyError('', `not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  return validatePolicy(doc);
}

const CACHE_LIMIT = 1000;
const textCache = new Map<string, Policy | PolicyError>();

/**
 * parsePolicyText with a bounded cache: annotation texts repeat across requests and
 * objects, and parsing YAML plus compiling cron lines is the costliest step admission
 * could take. Errors are cached too, so a broken annotation is not re-parsed per request.
 */
export function parsePolicyTextCached(text: string): Policy {
  let hit = textCache.get(text);
  if (hit === undefined) {
    try {
      hit = parsePolicyText(text);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      hit = err;
    }
    if (textCache.size >= CACHE_LIMIT) textCache.delete(textCache.keys().next().value!);
    textCache.set(text, hit);
  }
  if (hit instanceof PolicyError) throw hit;
  return hit;
}
