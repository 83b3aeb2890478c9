import { FieldError } from '../core/field-error.js';
import { PolicyError, type PolicyDocument, validatePolicy } from '../core/policy.js';
import { parseAs } from '../core/schema.js';
import { readYamlItems, type YamlItem } from '../util/yaml-docs.js';
import { isPlainObject } from '../util/object.js';
import { AZURE_API_VERSION, AZURE_KIND, azureScaler, type ScalerSpec } from './azure-scaler.js';

export { AZURE_API_VERSION, AZURE_KIND } from './azure-scaler.js';

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

/**
 * One CarbonAwareKedaScaler to the equivalent keda-carbon policy for its target. The bands
 * keep the operator's own form and numbers (`maxReplicasByCarbonIntensity`, whose upper-bound
 * semantics keda-carbon implements as they are); recurring schedules (UTC in both), custom
 * schedules (as one-off windows) and the duration override carry over. The produced document
 * passes `validatePolicy` or this throws.
 */
export function convertScaler(value: unknown, label: string, now = Date.now()): Conversion {
  const spec = scalerSpec(value, label);
  const target = targetOf(spec);
  const bands = bandsOf(spec);
  const policy: ConvertedPolicy = { maxReplicasByCarbonIntensity: bands };
  const notes: string[] = [];
  const zero = bands.filter((b) => b.maxReplicas === 0);
  if (zero.length > 0) {
    notes.push(
      `maxReplicas 0 (at carbonIntensityThreshold ${zero.map((b) => b.carbonIntensityThreshold).join(', ')}) becomes max(1, minReplicaCount): KEDA rejects maxReplicaCount 0, so keda-carbon never caps below 1.`,
    );
  }
  const eco = spec.ecoModeOff;
  if (eco !== null) {
    const ecoOut = ecoModeOffOf(eco);
    const custom = customScheduleOf(eco.customSchedule, now);
    if (custom.windows.length > 0) ecoOut.windows = custom.windows;
    if (ecoOut.recurringSchedule || ecoOut.carbonIntensityDuration || ecoOut.windows) policy.ecoModeOff = ecoOut;
    notes.push(...custom.notes);
    notes.push(...ecoMaxNotes(eco.maxReplicas, bands, target.kind));
  }
  notes.push(...dataSourceNotes(spec.carbonIntensityForecastDataSource));
  try {
    validatePolicy(policy);
  } catch (err) {
    if (err instanceof PolicyError) throw new ConvertError(label, err.field ? `spec.${err.field}` : 'spec', err.rule);
    throw err;
  }
  return { scaler: label, target, policy, notes };
}

/** The scaler's spec, read as `azureScaler` declares it; a broken rule names the object and the field. */
function scalerSpec(value: unknown, label: string): ScalerSpec {
  try {
    return parseAs(azureScaler, value, FieldError).spec;
  } catch (err) {
    if (err instanceof FieldError) throw new ConvertError(label, err.field, err.rule);
    throw err;
  }
}

function targetOf(spec: ScalerSpec): Conversion['target'] {
  return { kind: spec.kedaTarget, namespace: spec.kedaTargetRef.namespace, name: spec.kedaTargetRef.name };
}

function bandsOf(spec: ScalerSpec): ConvertedPolicy['maxReplicasByCarbonIntensity'] {
  return spec.maxReplicasByCarbonIntensity.map((b) => ({ carbonIntensityThreshold: b.carbonIntensityThreshold, maxReplicas: b.maxReplicas }));
}

type EcoModeOff = NonNullable<ScalerSpec['ecoModeOff']>;

/** The parts of `ecoModeOff` that carry over: recurring schedules and the duration override. */
function ecoModeOffOf(eco: EcoModeOff): NonNullable<ConvertedPolicy['ecoModeOff']> {
  const ecoOut: NonNullable<ConvertedPolicy['ecoModeOff']> = {};
  if (eco.recurringSchedule.length > 0) ecoOut.recurringSchedule = eco.recurringSchedule;
  if (eco.carbonIntensityDuration) ecoOut.carbonIntensityDuration = eco.carbonIntensityDuration;
  return ecoOut;
}

/** `ecoModeOff.maxReplicas` has no equivalent: say what happens instead. */
function ecoMaxNotes(ecoMax: number | null, bands: ConvertedPolicy['maxReplicasByCarbonIntensity'], kind: string): string[] {
  if (ecoMax === null) return [];
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
 * A time without an offset (read as UTC by the declaration, as the operator's API documents)
 * is noted. A window already over is left out, with a note.
 */
function customScheduleOf(v: EcoModeOff['customSchedule'], now: number): { windows: Window[]; notes: string[] } {
  const windows: Window[] = [];
  const notes: string[] = [];
  for (const w of v) {
    for (const time of [w.startTime, w.endTime]) {
      if (time.written !== null) {
        notes.push(`${time.field.slice('spec.'.length)} ${time.written} has no offset; read as UTC, as the operator's API documents its times: ${time.text}.`);
      }
    }
    if (w.endTime.at <= now) notes.push(`ecoModeOff.customSchedule window ${w.startTime.text} to ${w.endTime.text} is over, so it is left out.`);
    else windows.push({ start: w.startTime.text, end: w.endTime.text });
  }
  return { windows, notes };
}

function dataSourceNotes(v: ScalerSpec['carbonIntensityForecastDataSource']): string[] {
  if (v === null) return [];
  const global = 'the data source is global in keda-carbon (the intensity block of its configuration), not per target';
  const out: string[] = [];
  const cm = v.localConfigMap;
  const configMap =
    cm && (cm.name || cm.namespace || cm.key)
      ? `intensity: {provider: exporter-configmap, configMap: {namespace: ${cm.namespace ?? 'kube-system'}, name: ${cm.name ?? 'carbon-intensity'}, key: ${cm.key ?? 'data'}}}`
      : null;
  // The operator uses the mock data whenever mockCarbonForecast is true, the ConfigMap otherwise.
  if (v.mockCarbonForecast) {
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
