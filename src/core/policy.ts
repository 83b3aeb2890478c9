import { CronExpressionParser, type CronExpression } from 'cron-parser';
import { parse as parseYaml } from 'yaml';
import { brief, clip } from './brief.js';
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

/**
 * What a policy may contain. A real policy is a few hundred bytes, four levels deep, with
 * a handful of rules and schedules; these bounds sit far above that and keep one
 * hostile document from stalling admission (YAML parsing runs on the event loop) or
 * from growing the heap (parsed policies are cached).
 */
export const POLICY_LIMITS = {
  /** UTF-8 bytes of a policy written as text (the annotation). */
  textBytes: 16 * 1024,
  /** Nesting of mappings and lists, as estimated from the text before parsing it. */
  depth: 32,
  /** The YAML parser's `maxAliasCount`: how far `*alias` references may expand. */
  aliases: 50,
  /** Rules in `carbon` or `maxReplicasByCarbonIntensity`. */
  rules: 50,
  /** Lines in `ecoModeOff.recurringSchedule`. */
  schedules: 50,
  /** Characters in one cron line. */
  cronLine: 256,
} as const;

const show = (v: unknown): string => (v === undefined ? 'nothing' : brief(v));

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, known: Set<string>, at: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.has(key)) {
      const name = clip(key, 60);
      throw new PolicyError(at ? `${at}.${name}` : name, `unknown field (expected one of ${[...known].join(', ')})`);
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
      throw new PolicyError(field, `two rules have the same ${thresholdName} ${written(bands[i]!)}`);
    }
  }
  return bands;
}

function atMost(list: readonly unknown[], limit: number, field: string, what: string): void {
  if (list.length > limit) throw new PolicyError(field, `has ${list.length} ${what}; at most ${limit} are allowed`);
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
  atMost(v, POLICY_LIMITS.rules, 'carbon', 'rules');
  const bands = v.map((rule, i): Band => {
    const at = `carbon[${i}]`;
    if (!isRecord(rule)) throw new PolicyError(at, `must be a mapping with measuredEmission and allowedMaxReplicaCount, got ${show(rule)}`);
    checkKeys(rule, CARBON_KEYS, at);
    return {
      ...emission(rule.measuredEmission, `${at}.measuredEmission`),
      allowed: allowedMax(rule.allowedMaxReplicaCount, `${at}.allowedMaxReplicaCount`),
    } as Band;
  });
  return sortedBands(bands, 'carbon', 'measuredEmission');
}

function azureBands(v: unknown): Band[] {
  if (!Array.isArray(v) || v.length === 0) {
    throw new PolicyError('maxReplicasByCarbonIntensity', `must be a non-empty list of {carbonIntensityThreshold, maxReplicas}, got ${show(v)}`);
  }
  atMost(v, POLICY_LIMITS.rules, 'maxReplicasByCarbonIntensity', 'rules');
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
  if (typeof v !== 'string' || v.trim() === '')
    throw new PolicyError('ecoModeOff.timeZone', `must be an IANA time zone such as "Europe/Amsterdam", got ${show(v)}`);
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
  if (typeof line === 'string' && line.length > POLICY_LIMITS.cronLine) {
    throw new PolicyError(field, `is ${line.length} characters long; a cron line may have at most ${POLICY_LIMITS.cronLine}`);
  }
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
    atMost(v.recurringSchedule, POLICY_LIMITS.schedules, 'ecoModeOff.recurringSchedule', 'lines');
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
  return {
    pastMs: windowPart(v.past, 'relativeWindow.past', DEFAULT_WINDOW.pastMs),
    aheadMs: windowPart(v.ahead, 'relativeWindow.ahead', DEFAULT_WINDOW.aheadMs),
  };
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

/** UTF-8 length without encoding: the limit is checked before anything else reads the text. */
function utf8Bytes(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // Two extra bytes below the surrogates and above them; a surrogate pair is two units, four bytes.
    if (c >= 0x80) bytes += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return bytes;
}

/** Block indicators at the start of a line's content (`- - x`, `? key`): each opens a level. */
function leadingIndicators(line: string, from: number): number {
  let count = 0;
  let i = from;
  while (i < line.length && (line[i] === '-' || line[i] === '?' || line[i] === ':') && (i + 1 === line.length || line[i + 1] === ' ' || line[i + 1] === '\t')) {
    count++;
    i += 2;
    while (line[i] === ' ' || line[i] === '\t') i++;
  }
  return count;
}

/**
 * How deeply the text nests, estimated in one pass without parsing: indentation levels
 * plus block indicators plus open brackets (counted even inside quotes and comments,
 * which only ever overestimates). The YAML parser recurses per level and overflows the
 * stack about a thousand levels down; at worst that aborts the process rather than
 * throwing, so the estimate must come first. Compact sequences (`key:` then `- item` at the same indent)
 * are counted once per two levels; the limit leaves room for that.
 */
export function estimateDepth(text: string): number {
  const indents: number[] = [];
  let flow = 0;
  let deepest = 0;
  // YAML breaks lines at CR as well as LF; a text with CR alone must not look like one line.
  for (const line of text.split(/\r\n?|\n/)) {
    let indent = 0;
    while (line[indent] === ' ' || line[indent] === '\t') indent++;
    if (indent === line.length) continue;
    if (flow === 0) {
      while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop();
      indents.push(indent);
    }
    const block = indents.length + leadingIndicators(line, indent);
    deepest = Math.max(deepest, block + flow);
    for (let i = indent; i < line.length; i++) {
      const ch = line[i];
      if (ch === '[' || ch === '{') deepest = Math.max(deepest, block + ++flow);
      else if ((ch === ']' || ch === '}') && flow > 0) flow--;
    }
  }
  return deepest;
}

const HUGE_TEXT = 256 * 1024;

/** The checks that come before the YAML parser sees the text. */
function checkTextLimits(text: string): void {
  const limit = `the limit is ${POLICY_LIMITS.textBytes} bytes (${POLICY_LIMITS.textBytes / 1024} KiB)`;
  // Beyond the API server's own 256 KiB for all annotations, the length says enough.
  if (text.length > HUGE_TEXT) throw new PolicyError('', `the policy text is over ${HUGE_TEXT / 1024} KiB; ${limit}`);
  const bytes = utf8Bytes(text);
  if (bytes > POLICY_LIMITS.textBytes) throw new PolicyError('', `the policy text is ${bytes} bytes; ${limit}`);
  if (estimateDepth(text) > POLICY_LIMITS.depth) {
    throw new PolicyError('', `the policy nests more than ${POLICY_LIMITS.depth} levels of mappings, lists or brackets`);
  }
}

/** Parse a policy written as YAML or JSON (JSON is YAML), as found in an annotation. */
export function parsePolicyText(text: string): Policy {
  checkTextLimits(text);
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: POLICY_LIMITS.aliases });
  } catch (err) {
    const message = (err as Error).message.split('\n')[0]!;
    if (/alias count/i.test(message)) {
      throw new PolicyError('', `its YAML aliases expand too far (at most ${POLICY_LIMITS.aliases} aliased nodes)`);
    }
    throw new PolicyError('', `not valid YAML or JSON: ${clip(message)}`);
  }
  return validatePolicy(doc);
}

const CACHE_ENTRIES = 1000;
/** Retained bytes of the cache, estimated per entry (see `retainedBytes`). */
export const POLICY_CACHE_BYTES = 8 * 1024 * 1024;
/** Heap held by one compiled cron line (cron-parser keeps every field's expanded values), measured. */
const SCHEDULE_BYTES = 4096;
const BAND_BYTES = 96;
const ENTRY_BYTES = 512;

interface CacheEntry {
  readonly value: Policy | PolicyError;
  readonly bytes: number;
}

const textCache = new Map<string, CacheEntry>();
let cacheBytes = 0;

/** The key text (two bytes a character at worst) plus what the parsed policy or the error holds. */
function retainedBytes(text: string, value: Policy | PolicyError): number {
  const held = value instanceof PolicyError ? 2 * value.message.length : value.bands.length * BAND_BYTES + value.ecoModeOff.schedules.length * SCHEDULE_BYTES;
  return 2 * text.length + held + ENTRY_BYTES;
}

function remember(text: string, value: Policy | PolicyError): void {
  const bytes = retainedBytes(text, value);
  while (textCache.size > 0 && (textCache.size >= CACHE_ENTRIES || cacheBytes + bytes > POLICY_CACHE_BYTES)) {
    const [oldest, entry] = textCache.entries().next().value!;
    textCache.delete(oldest);
    cacheBytes -= entry.bytes;
  }
  textCache.set(text, { value, bytes });
  cacheBytes += bytes;
}

/** What the policy cache holds now: for tests and the soak benchmark. */
export function policyCacheStats(): { entries: number; bytes: number } {
  return { entries: textCache.size, bytes: cacheBytes };
}

/**
 * parsePolicyText with a cache bounded in entries and in bytes: annotation texts repeat
 * across requests and objects, and parsing YAML plus compiling cron lines is the costliest
 * step admission could take. Errors are cached too, so a broken annotation is not re-parsed
 * per request; a text over the size limit is refused before the lookup and never stored.
 */
export function parsePolicyTextCached(text: string): Policy {
  if (text.length > POLICY_LIMITS.textBytes) checkTextLimits(text);
  let hit = textCache.get(text)?.value;
  if (hit === undefined) {
    try {
      hit = parsePolicyText(text);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      hit = err;
    }
    remember(text, hit);
  }
  if (hit instanceof PolicyError) throw hit;
  return hit;
}
