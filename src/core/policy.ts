import { type Policy, POLICY_LIMITS, PolicyError } from './policy-document.js';
import { checkTextLimits, parsePolicyText } from './policy-text.js';

export type { AllowedMax, Band, OnMissingData, RecurringSchedule } from './policy-rules.js';
export {
  DEFAULT_WINDOW,
  type Policy,
  type PolicyDocument,
  POLICY_LIMITS,
  PolicyError,
  type RelativeWindow,
  validatePolicy,
} from './policy-document.js';
export { estimateDepth, parsePolicyText } from './policy-text.js';

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
