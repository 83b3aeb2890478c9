/**
 * The status annotation (`keda-carbon.io/status`, PRODUCT.md section 3): one line of JSON
 * that we write and read back. This is its one codec: admission, the plan, the controller's
 * cache and its Events all read and write it here.
 */

/** The status annotation we write. */
export interface CarbonStatus {
  cap: number;
  declared: number;
  intensity: number | null;
  /** marginal, average or unknown: what kind of intensity `intensity` is. */
  signal?: string;
  source: string;
  dataTime: string | null;
  rule: string | null;
  ecoMode: 'on' | 'off';
  /**
   * In observe mode `cap` is the cap the policy would set and the spec is the user's.
   * Lines written by earlier versions carry `mode` only in observe mode: absent reads as enforce.
   */
  mode?: 'enforce' | 'observe';
  /** While a step-down runs (`cap` is then a step): the cap it is heading for... */
  stepTarget?: number;
  /** ...and when its next step is due (RFC 3339). Both absent when no step-down runs. */
  nextStepAt?: string;
  evaluatedAt: string;
}

/** The line as written: keys in the order PRODUCT.md section 3 shows them. */
export function encodeStatus(s: CarbonStatus): string {
  return JSON.stringify({
    cap: s.cap,
    declared: s.declared,
    intensity: s.intensity,
    signal: s.signal,
    source: s.source,
    dataTime: s.dataTime,
    rule: s.rule,
    ecoMode: s.ecoMode,
    mode: s.mode,
    stepTarget: s.stepTarget,
    nextStepAt: s.nextStepAt,
    evaluatedAt: s.evaluatedAt,
  });
}

// The same line is read several times per review (declared max, plan, observe plan).
let lastRaw: string | undefined;
let lastStatus: Readonly<CarbonStatus> | null = null;

/**
 * The status a line records, or null when it is no status of ours: not JSON, or without a
 * numeric `cap` (anyone can write the annotation; only the cap and the mode decide
 * anything). The other fields are read as written and may be absent in the controller's
 * slim copy (`slimStatus`).
 */
export function decodeStatus(raw: unknown): Readonly<CarbonStatus> | null {
  if (typeof raw !== 'string') return null;
  if (raw === lastRaw) return lastStatus;
  let status: Readonly<CarbonStatus> | null = null;
  try {
    const s = JSON.parse(raw) as Partial<CarbonStatus> | null;
    if (s !== null && typeof s === 'object' && typeof s.cap === 'number') status = Object.freeze(s as CarbonStatus);
  } catch {
    status = null;
  }
  lastRaw = raw;
  lastStatus = status;
  return status;
}

/**
 * Of the status the controller's cache keeps only `cap` (is the stored max still the cap we
 * wrote?), `mode` (is an observe-mode status current?) and, during a step-down, `nextStepAt`
 * (when the next step is due), which saves most of the line's bytes on every cached object.
 * `enforce` and no mode at all (a line from an earlier version) mean the same, so both keep
 * only the cap.
 */
export function slimStatus(raw: unknown): string | undefined {
  const s = decodeStatus(raw);
  if (s === null) return undefined;
  const step = typeof s.nextStepAt === 'string' ? `,"nextStepAt":${JSON.stringify(s.nextStepAt)}` : '';
  return s.mode === 'observe' ? `{"cap":${s.cap},"mode":"observe"${step}}` : `{"cap":${s.cap}${step}}`;
}

/** When the next step of a step-down is due (epoch ms), as a status records it; null when none runs. */
export function nextStepOf(s: Readonly<CarbonStatus> | null): number | null {
  const at = typeof s?.nextStepAt === 'string' ? Date.parse(s.nextStepAt) : Number.NaN;
  return Number.isNaN(at) ? null : at;
}

/** Whether two lines record the same decision: every field but `evaluatedAt` equal. */
export function sameStatus(a: CarbonStatus, b: Readonly<CarbonStatus>): boolean {
  const keys = Object.keys(a) as (keyof CarbonStatus)[];
  return keys.length === Object.keys(b).length && keys.every((k) => k === 'evaluatedAt' || a[k] === b[k]);
}
