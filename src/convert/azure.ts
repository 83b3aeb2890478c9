import { FieldError } from '../core/field-error.js';
import { PolicyError, type PolicyDocument, validatePolicy } from '../core/policy.js';
import { lacksOffset, rfc3339 } from '../core/policy-rules.js';
import { readYamlItems, type YamlItem } from '../util/yaml-docs.js';
import { isPlainObject } from '../util/object.js';

export const AZURE_API_VERSION = 'carbonaware.kubernetes.azure.com/v1alpha1';
export const AZURE_KIND = 'CarbonAwareKedaScaler';

/** An input object we cannot convert; the message names the object and the field. */
export class ConvertError extends FieldError {
  constructor(object: string, field: string, rule: string) {
    super(field, rule, object);
  }
}

/**
 * The policy document we produce: the Azure form, which keeps the operator's band
 * semantics. Its type is the declared document's, so convert cannot write a field the
 * webhook does not know.
 */
export type ConvertedPolicy = PolicyDocument & {
  maxReplicasByCarbonIntensity: NonNullable<PolicyDocument['maxReplicasByCarbonIntensity']>;
  ecoModeOff?: NonNullable<PolicyDocument['ecoModeOff']>;
};

export interface Conversion {
  /** `namespace/name` of the CarbonAwareKedaScaler. */
  readonly scaler: string;
  readonly target: { readonly kind: 'ScaledObject' | 'ScaledJob'; readonly namespace: string; readonly name: string };
  readonly policy: ConvertedPolicy;
  /** What has no equivalent, or works differently, said plainly. */
  readonly notes: readonly string[];
}

type Obj = Record<string, unknown>;
const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

/** Kubernetes object names (DNS-1123 subdomains): also what makes them safe unquoted in a shell line. */
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

const TARGETS: Record<string, 'ScaledObject' | 'ScaledJob'> = {
  'scaledobjects.keda.sh': 'ScaledObject',
  'scaledjobs.keda.sh': 'ScaledJob',
};

/**
 * Every object in a YAML stream (multi-document, and `List`s unrolled), each with a label
 * for messages: its `namespace/name` when it has one, else its document (and item) index.
 */
export function readObjects(text: string, file: string): { label: string; value: unknown }[] {
  let items: YamlItem[];
  try {
    items = readYamlItems(text, file);
  } catch (err) {
    throw new ConvertError(file, '', (err as Error).message.slice(file.length + 2));
  }
  return items.map(({ value, place }) => ({ label: labelOf(value, `${file}: ${place}`), value }));
}

function labelOf(v: unknown, fallback: string): string {
  const meta = isPlainObject(v) && isPlainObject(v.metadata) ? v.metadata : {};
  if (typeof meta.name !== 'string' || meta.name === '') return fallback;
  return `${typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default'}/${meta.name}`;
}

export const isAzureScaler = (v: unknown): boolean => isPlainObject(v) && v.kind === AZURE_KIND;

function required<T>(v: T | undefined | null, object: string, field: string, what: string): T {
  if (v === undefined || v === null) throw new ConvertError(object, field, `is required (${what})`);
  return v;
}

function int(v: unknown, object: string, field: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new ConvertError(object, field, `must be an integer >= ${min}, got ${show(v)}`);
  return v;
}

function k8sName(v: unknown, object: string, field: string): string {
  if (typeof v !== 'string' || !K8S_NAME.test(v))
    throw new ConvertError(object, field, `must be a Kubernetes object name (lower-case letters, digits, "-" and "."), got ${show(v)}`);
  return v;
}

/**
 * One CarbonAwareKedaScaler to the equivalent keda-carbon policy for its target. The bands
 * keep the operator's own form and numbers (`maxReplicasByCarbonIntensity`, whose upper-bound
 * semantics keda-carbon implements as they are); recurring schedules (UTC in both), custom
 * schedules (as one-off windows) and the duration override carry over. The produced document passes `validatePolicy` or this throws.
 */
export function convertScaler(value: unknown, label: string, now = Date.now()): Conversion {
  const spec = scalerSpec(value, label);
  const target = targetOf(spec, label);
  const bands = bandsOf(spec, label);
  const policy: ConvertedPolicy = { maxReplicasByCarbonIntensity: bands };
  const notes: string[] = [];
  const zero = bands.filter((b) => b.maxReplicas === 0);
  if (zero.length > 0) {
    notes.push(
      `maxReplicas 0 (at carbonIntensityThreshold ${zero.map((b) => b.carbonIntensityThreshold).join(', ')}) becomes max(1, minReplicaCount): KEDA rejects maxReplicaCount 0, so keda-carbon never caps below 1.`,
    );
  }
  const eco = spec.ecoModeOff;
  if (eco !== undefined && eco !== null) {
    if (!isPlainObject(eco)) throw new ConvertError(label, 'spec.ecoModeOff', `must be a mapping, got ${show(eco)}`);
    const ecoOut = ecoModeOffOf(eco, label);
    const custom = customScheduleOf(eco.customSchedule, label, now);
    if (custom.windows.length > 0) ecoOut.windows = custom.windows;
    if (ecoOut.recurringSchedule || ecoOut.carbonIntensityDuration || ecoOut.windows) policy.ecoModeOff = ecoOut;
    notes.push(...custom.notes);
    notes.push(...ecoMaxNotes(eco.maxReplicas, bands, label, target.kind));
  }
  notes.push(...dataSourceNotes(spec.carbonIntensityForecastDataSource, label));
  try {
    validatePolicy(policy);
  } catch (err) {
    if (err instanceof PolicyError) throw new ConvertError(label, err.field ? `spec.${err.field}` : 'spec', err.rule);
    throw err;
  }
  return { scaler: label, target, policy, notes };
}

/** The scaler's spec, once kind and apiVersion say it is one. */
function scalerSpec(value: unknown, label: string): Obj {
  if (!isPlainObject(value)) throw new ConvertError(label, '', `must be a mapping (a Kubernetes object), got ${show(value)}`);
  if (value.kind !== AZURE_KIND) throw new ConvertError(label, 'kind', `must be ${AZURE_KIND}, got ${show(value.kind)}`);
  if (value.apiVersion !== AZURE_API_VERSION) throw new ConvertError(label, 'apiVersion', `must be ${AZURE_API_VERSION}, got ${show(value.apiVersion)}`);
  const spec = required(value.spec, label, 'spec', 'the scaler spec');
  if (!isPlainObject(spec)) throw new ConvertError(label, 'spec', `must be a mapping, got ${show(spec)}`);
  return spec;
}

function targetOf(spec: Obj, label: string): Conversion['target'] {
  const kedaTarget = spec.kedaTarget;
  const kind = typeof kedaTarget === 'string' ? TARGETS[kedaTarget] : undefined;
  if (!kind) throw new ConvertError(label, 'spec.kedaTarget', `must be scaledobjects.keda.sh or scaledjobs.keda.sh, got ${show(kedaTarget)}`);
  const ref = required(spec.kedaTargetRef, label, 'spec.kedaTargetRef', 'the name and namespace of the KEDA object');
  if (!isPlainObject(ref)) throw new ConvertError(label, 'spec.kedaTargetRef', `must be a mapping with name and namespace, got ${show(ref)}`);
  const name = k8sName(ref.name, label, 'spec.kedaTargetRef.name');
  const namespace = k8sName(
    required(ref.namespace, label, 'spec.kedaTargetRef.namespace', 'the namespace of the KEDA object'),
    label,
    'spec.kedaTargetRef.namespace',
  );
  return { kind, namespace, name };
}

function bandsOf(spec: Obj, label: string): ConvertedPolicy['maxReplicasByCarbonIntensity'] {
  const bandsRaw = spec.maxReplicasByCarbonIntensity;
  if (!Array.isArray(bandsRaw) || bandsRaw.length === 0) {
    throw new ConvertError(
      label,
      'spec.maxReplicasByCarbonIntensity',
      `must be a non-empty list of {carbonIntensityThreshold, maxReplicas}, got ${show(bandsRaw)}`,
    );
  }
  return bandsRaw.map((b, i) => {
    const at = `spec.maxReplicasByCarbonIntensity[${i}]`;
    if (!isPlainObject(b)) throw new ConvertError(label, at, `must be a mapping with carbonIntensityThreshold and maxReplicas, got ${show(b)}`);
    return {
      carbonIntensityThreshold: int(b.carbonIntensityThreshold, label, `${at}.carbonIntensityThreshold`, 0),
      maxReplicas: int(b.maxReplicas, label, `${at}.maxReplicas`, 0),
    };
  });
}

/** The parts of `ecoModeOff` that carry over: recurring schedules and the duration override. */
function ecoModeOffOf(eco: Obj, label: string): NonNullable<ConvertedPolicy['ecoModeOff']> {
  const ecoOut: NonNullable<ConvertedPolicy['ecoModeOff']> = {};
  if (eco.recurringSchedule !== undefined && eco.recurringSchedule !== null) {
    if (!Array.isArray(eco.recurringSchedule))
      throw new ConvertError(label, 'spec.ecoModeOff.recurringSchedule', `must be a list of cron expressions, got ${show(eco.recurringSchedule)}`);
    if (eco.recurringSchedule.length > 0) ecoOut.recurringSchedule = eco.recurringSchedule as string[];
  }
  const dur = eco.carbonIntensityDuration;
  if (dur === undefined || dur === null) return ecoOut;
  if (!isPlainObject(dur)) throw new ConvertError(label, 'spec.ecoModeOff.carbonIntensityDuration', `must be a mapping, got ${show(dur)}`);
  const threshold = dur.carbonIntensityThreshold ?? 0;
  const minutes = dur.overrideEcoAfterDurationInMins ?? 0;
  // An empty block reads as zeros in the operator (Go zero values): no override.
  if (!(threshold === 0 && minutes === 0)) {
    ecoOut.carbonIntensityDuration = {
      carbonIntensityThreshold: int(threshold, label, 'spec.ecoModeOff.carbonIntensityDuration.carbonIntensityThreshold', 0),
      overrideEcoAfterDurationInMins: int(minutes, label, 'spec.ecoModeOff.carbonIntensityDuration.overrideEcoAfterDurationInMins', 1),
    };
  }
  return ecoOut;
}

/** `ecoModeOff.maxReplicas` has no equivalent: say what happens instead. */
function ecoMaxNotes(v: unknown, bands: ConvertedPolicy['maxReplicasByCarbonIntensity'], label: string, kind: string): string[] {
  if (v === undefined || v === null) return [];
  const ecoMax = int(v, label, 'spec.ecoModeOff.maxReplicas', 0);
  if (ecoMax === 0) {
    // Advising spec.maxReplicaCount 0 would be advice KEDA refuses; and every band is above 0.
    return [
      `ecoModeOff.maxReplicas 0 has no equivalent: with eco mode off keda-carbon runs the ${kind} at its own declared max (spec.maxReplicaCount), and KEDA rejects maxReplicaCount 0. Leave spec.maxReplicaCount as it is (at least 1): with eco mode off the ${kind} runs at it, not at 0.`,
    ];
  }
  const notes = [
    `ecoModeOff.maxReplicas ${ecoMax} has no equivalent: with eco mode off keda-carbon runs the ${kind} at its own declared max (spec.maxReplicaCount, KEDA default 100). If that is not ${ecoMax}, set spec.maxReplicaCount to ${ecoMax}.`,
  ];
  const above = bands.filter((b) => b.maxReplicas > ecoMax);
  if (above.length > 0) {
    notes.push(
      `maxReplicas ${above.map((b) => b.maxReplicas).join(', ')} is above ecoModeOff.maxReplicas ${ecoMax}: keda-carbon never raises the declared max (cap = min(declared, maxReplicas)), so that band runs at spec.maxReplicaCount.`,
    );
  }
  return notes;
}

type Window = NonNullable<NonNullable<ConvertedPolicy['ecoModeOff']>['windows']>[number];

/**
 * `customSchedule` to `ecoModeOff.windows`, times kept as written. The operator reads both
 * with Go's time.RFC3339, which requires an offset (its API calls the times UTC), and is off
 * while start < now < end; a window is [start, end), the same but for the instant of start.
 * A time without an offset, which the operator's parser refuses, is read as UTC as its API
 * documents, and noted. A window already over is left out, with a note.
 */
function customScheduleOf(v: unknown, label: string, now: number): { windows: Window[]; notes: string[] } {
  const windows: Window[] = [];
  const notes: string[] = [];
  if (v === undefined || v === null) return { windows, notes };
  if (!Array.isArray(v)) throw new ConvertError(label, 'spec.ecoModeOff.customSchedule', `must be a list of {startTime, endTime}, got ${show(v)}`);
  v.forEach((w, i) => {
    const at = `spec.ecoModeOff.customSchedule[${i}]`;
    if (!isPlainObject(w)) throw new ConvertError(label, at, `must be a mapping with startTime and endTime, got ${show(w)}`);
    const start = operatorTime(w.startTime, label, `${at}.startTime`, '2023-03-14T22:00:00Z', notes);
    const end = operatorTime(w.endTime, label, `${at}.endTime`, '2023-03-14T23:59:59Z', notes);
    if (end.at <= start.at) throw new ConvertError(label, `${at}.endTime`, `must be after startTime ${start.text}, got ${end.text}`);
    if (end.at <= now) notes.push(`ecoModeOff.customSchedule window ${start.text} to ${end.text} is over, so it is left out.`);
    else windows.push({ start: start.text, end: end.text });
  });
  return { windows, notes };
}

function operatorTime(v: unknown, label: string, field: string, example: string, notes: string[]): { at: number; text: string } {
  const written = typeof v === 'string' ? v : '';
  const at = rfc3339(written);
  if (at !== null) return { at, text: written };
  const utc = lacksOffset(written) ? `${written.trim().replace(' ', 'T')}Z` : '';
  const atUtc = rfc3339(utc);
  if (atUtc === null) throw new ConvertError(label, field, `must be an RFC 3339 time such as "${example}", got ${show(v)}`);
  notes.push(`${field.slice('spec.'.length)} ${written} has no offset; read as UTC, as the operator's API documents its times: ${utc}.`);
  return { at: atUtc, text: utc };
}

function dataSourceNotes(v: unknown, label: string): string[] {
  if (v === undefined || v === null) return [];
  if (!isPlainObject(v)) throw new ConvertError(label, 'spec.carbonIntensityForecastDataSource', `must be a mapping, got ${show(v)}`);
  const global = 'the data source is global in keda-carbon (the intensity block of its configuration), not per target';
  const out: string[] = [];
  const cm = v.localConfigMap;
  const configMap =
    isPlainObject(cm) && (cm.name || cm.namespace || cm.key)
      ? `intensity: {provider: exporter-configmap, configMap: {namespace: ${typeof cm.namespace === 'string' ? cm.namespace : 'kube-system'}, name: ${typeof cm.name === 'string' ? cm.name : 'carbon-intensity'}, key: ${typeof cm.key === 'string' ? cm.key : 'data'}}}`
      : null;
  // The operator uses the mock data whenever mockCarbonForecast is true, the ConfigMap otherwise.
  if (v.mockCarbonForecast === true) {
    out.push(
      `carbonIntensityForecastDataSource.mockCarbonForecast: ${global}; the closest is "intensity: {provider: sample}", a bundled 24-hour curve for trying it out.`,
    );
    if (configMap)
      out.push(`carbonIntensityForecastDataSource.localConfigMap is unused while mockCarbonForecast is true; for real data configure "${configMap}".`);
  } else if (configMap) {
    out.push(`carbonIntensityForecastDataSource.localConfigMap: ${global}: "${configMap}".`);
  }
  return out;
}

/**
 * Convert every CarbonAwareKedaScaler in a YAML stream. Other objects are skipped and
 * counted; two scalers aimed at the same target get a note, since the last one wins.
 */
export function convertText(text: string, file: string, now = Date.now()): { conversions: Conversion[]; skipped: string[] } {
  const conversions: Conversion[] = [];
  const skipped: string[] = [];
  const seen = new Map<string, string>();
  for (const { label, value } of readObjects(text, file)) {
    if (!isAzureScaler(value)) {
      skipped.push(`${label} (${isPlainObject(value) && typeof value.kind === 'string' ? value.kind : 'no kind'})`);
      continue;
    }
    const c = convertScaler(value, label, now);
    const key = `${c.target.kind}/${c.target.namespace}/${c.target.name}`;
    const earlier = seen.get(key);
    seen.set(key, c.scaler);
    conversions.push(
      earlier ? { ...c, notes: [...c.notes, `${AZURE_KIND} ${earlier} also targets this ${c.target.kind}; this later one replaces its annotation.`] } : c,
    );
  }
  if (conversions.length === 0) {
    throw new ConvertError(file, '', `no ${AZURE_KIND} (${AZURE_API_VERSION}) found${skipped.length > 0 ? `; found ${skipped.join(', ')}` : ''}`);
  }
  return { conversions, skipped };
}
