import { checkTextLimits, type Policy, POLICY_LIMITS, PolicyError, parsePolicyText } from '../core/policy.js';

/** Retained bytes of the process's cache, estimated per entry (see `retainedBytes`). */
export const POLICY_CACHE_BYTES = 8 * 1024 * 1024;
export const POLICY_CACHE_ENTRIES = 1000;
/** Heap held by one compiled cron line (cron-parser keeps every field's expanded values), measured. */
const SCHEDULE_BYTES = 4096;
const BAND_BYTES = 96;
const ENTRY_BYTES = 512;

interface Entry {
  readonly value: Policy | PolicyError;
  readonly bytes: number;
}

/** The key text (two bytes a character at worst) plus what the parsed policy or the error holds. */
function retainedBytes(text: string, value: Policy | PolicyError): number {
  const held = value instanceof PolicyError ? 2 * value.message.length : value.bands.length * BAND_BYTES + value.ecoModeOff.schedules.length * SCHEDULE_BYTES;
  return 2 * text.length + held + ENTRY_BYTES;
}

/**
 * Policies written as text (the annotation), parsed once and kept, bounded in entries and
 * in bytes: annotation texts repeat across requests and objects, and parsing YAML plus
 * compiling cron lines is the costliest step admission could take. One parsed policy per
 * text also keeps the answer memo and the controller's subject index, both keyed by policy
 * identity, from missing. Errors are kept too, so a broken annotation is not re-parsed per
 * request; a text over the size limit is refused before the lookup and never stored.
 */
export class PolicyTextCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly maxEntries = POLICY_CACHE_ENTRIES,
    private readonly maxBytes = POLICY_CACHE_BYTES,
  ) {}

  /** parsePolicyText, answered from the cache when the same text was read before. */
  readonly read = (text: string): Policy => {
    if (text.length > POLICY_LIMITS.textBytes) checkTextLimits(text);
    let hit = this.entries.get(text)?.value;
    if (hit === undefined) {
      try {
        hit = parsePolicyText(text);
      } catch (err) {
        if (!(err instanceof PolicyError)) throw err;
        hit = err;
      }
      this.remember(text, hit);
    }
    if (hit instanceof PolicyError) throw hit;
    return hit;
  };

  /** What the cache holds now: for tests and the soak benchmark. */
  stats(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  private remember(text: string, value: Policy | PolicyError): void {
    const bytes = retainedBytes(text, value);
    while (this.entries.size > 0 && (this.entries.size >= this.maxEntries || this.bytes + bytes > this.maxBytes)) {
      const [oldest, entry] = this.entries.entries().next().value!;
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
    }
    this.entries.set(text, { value, bytes });
    this.bytes += bytes;
  }
}

/** The process's one cache: admission and the controller read the same annotations. */
export const policyTexts = new PolicyTextCache();
