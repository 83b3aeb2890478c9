import { lacksOffset, rfc3339 } from '../core/policy-rules.js';
import { cronLines, POLICY_LIMITS } from '../core/policy-document.js';
import { custom, type DocOf, fail, fieldPath, integer, list, object, type OutOf, optional, required, show } from '../core/schema.js';

/**
 * The fields of the Azure carbon-aware operator's CarbonAwareKedaScaler
 * (carbonaware.kubernetes.azure.com/v1alpha1) that `convert` reads, declared once: this is
 * convert's validator and the type of what it converts. Mappings are open: a field convert
 * does not read (metadata, status, one the operator adds later) is left alone.
 */

export const AZURE_API_VERSION = 'carbonaware.kubernetes.azure.com/v1alpha1';
export const AZURE_KIND = 'CarbonAwareKedaScaler';

const TARGETS = { 'scaledobjects.keda.sh': 'ScaledObject', 'scaledjobs.keda.sh': 'ScaledJob' } as const;

/** Kubernetes object names (DNS-1123 subdomains): also what makes them safe unquoted in a shell line. */
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

const exactly = <const V extends string>(value: V) =>
  custom<V, V>(`\`${value}\``, { type: 'string', enum: [value] }, (v, at) => {
    if (v !== value) fail(at, `must be ${value}, got ${show(v)}`);
    return value;
  });

/** A Kubernetes object name; `missing` is the rule when there is none at all. */
const k8sName = (missing?: string) =>
  custom<string, string>('Kubernetes object name', { type: 'string', pattern: K8S_NAME.source }, (v, at) => {
    if (v === undefined && missing) fail(at, `is required (${missing})`);
    if (typeof v !== 'string' || !K8S_NAME.test(v)) fail(at, `must be a Kubernetes object name (lower-case letters, digits, "-" and "."), got ${show(v)}`);
    return v;
  });

const kedaTarget = custom<keyof typeof TARGETS, 'ScaledObject' | 'ScaledJob'>(
  '`scaledobjects.keda.sh` \\| `scaledjobs.keda.sh`',
  { type: 'string', enum: Object.keys(TARGETS) },
  (v, at) => {
    const kind = typeof v === 'string' && Object.hasOwn(TARGETS, v) ? TARGETS[v as keyof typeof TARGETS] : undefined;
    if (!kind) fail(at, `must be scaledobjects.keda.sh or scaledjobs.keda.sh, got ${show(v)}`);
    return kind;
  },
);

/**
 * A time of a custom schedule. The operator's API calls its times UTC; one without an
 * offset (which its Go parser refuses) is read as UTC and keeps what was `written`, for a note.
 */
const time = (example: string) =>
  custom<string, { at: number; text: string; field: string; written: string | null }>('RFC 3339 time', { type: 'string', format: 'date-time' }, (v, field) => {
    const written = typeof v === 'string' ? v : '';
    const at = rfc3339(written);
    if (at !== null) return { at, text: written, field, written: null };
    const utc = lacksOffset(written) ? `${written.trim().replace(' ', 'T')}Z` : '';
    const atUtc = rfc3339(utc);
    if (atUtc === null) fail(field, `must be an RFC 3339 time such as "${example}", got ${show(v)}`);
    return { at: atUtc, text: utc, field, written };
  });

/** The rule when a required mapping is missing, or is something else. */
const mapping = (missing: string | null, what: string) => (got: string) =>
  got === 'nothing' && missing ? `is required (${missing})` : `must be a mapping${what}, got ${got}`;

const band = object(
  { carbonIntensityThreshold: required(integer(0), 'gCO2eq/kWh: the upper bound of this band.'), maxReplicas: required(integer(0), 'The cap in this band.') },
  { notMapping: mapping(null, ' with carbonIntensityThreshold and maxReplicas'), open: true },
);

const window = object(
  { startTime: required(time('2023-03-14T22:00:00Z'), 'When eco mode goes off.'), endTime: required(time('2023-03-14T23:59:59Z'), 'When it comes back.') },
  { notMapping: mapping(null, ' with startTime and endTime'), open: true },
  (w, at) => {
    if (w.endTime.at <= w.startTime.at) fail(fieldPath(at, 'endTime'), `must be after startTime ${w.startTime.text}, got ${w.endTime.text}`);
    return w;
  },
);

const carbonIntensityDuration = object(
  {
    carbonIntensityThreshold: optional(integer(0), 0, 'gCO2eq/kWh at or above which the duration counts.', '0'),
    overrideEcoAfterDurationInMins: optional(integer(0), 0, 'Minutes above the threshold after which eco mode is off.', '0'),
  },
  { notMapping: mapping(null, ''), open: true },
  (d, at) => {
    // An empty block reads as zeros in the operator (Go zero values): no override.
    if (d.carbonIntensityThreshold === 0 && d.overrideEcoAfterDurationInMins === 0) return null;
    if (d.overrideEcoAfterDurationInMins < 1) fail(fieldPath(at, 'overrideEcoAfterDurationInMins'), 'must be an integer >= 1, got 0');
    return d;
  },
);

const ecoModeOff = object(
  {
    recurringSchedule: cronLines('Cron lines (UTC) during which eco mode is off.'),
    carbonIntensityDuration: optional(carbonIntensityDuration, null, 'After intensity stayed >= the threshold this long, eco mode is off.'),
    customSchedule: optional(
      list(window, { max: POLICY_LIMITS.schedules, items: 'windows', notList: (got) => `must be a list of {startTime, endTime}, got ${got}` }),
      [],
      'One-off windows during which eco mode is off.',
    ),
    maxReplicas: optional(integer(0), null, 'The cap while eco mode is off.'),
  },
  { notMapping: mapping(null, ''), open: true },
);

const configMapRef = object(
  {
    namespace: optional(custom<string, string | null>('string', { type: 'string' }, stringOrNull), null, 'Namespace of the forecast ConfigMap.'),
    name: optional(custom<string, string | null>('string', { type: 'string' }, stringOrNull), null, 'Name of the forecast ConfigMap.'),
    key: optional(custom<string, string | null>('string', { type: 'string' }, stringOrNull), null, 'Key of the forecast in it.'),
  },
  { notMapping: mapping(null, ' with namespace, name and key'), open: true },
);

function stringOrNull(v: unknown, at: string): string | null {
  if (typeof v !== 'string') fail(at, `must be a string, got ${show(v)}`);
  return v === '' ? null : v;
}

const dataSource = object(
  {
    mockCarbonForecast: optional(
      custom<boolean, boolean>('`true` \\| `false`', { type: 'boolean' }, (v, at) => {
        if (typeof v !== 'boolean') fail(at, `must be true or false, got ${show(v)}`);
        return v;
      }),
      false,
      'The operator uses its mock forecast when true.',
    ),
    localConfigMap: optional(configMapRef, null, 'The ConfigMap the operator reads the forecast from.'),
  },
  { notMapping: mapping(null, ''), open: true },
);

const spec = object(
  {
    kedaTarget: required(kedaTarget, 'What kind of KEDA object the scaler caps.'),
    kedaTargetRef: required(
      object(
        { name: required(k8sName(), 'The KEDA object.'), namespace: required(k8sName('the namespace of the KEDA object'), 'Its namespace.') },
        { notMapping: mapping('the name and namespace of the KEDA object', ' with name and namespace'), open: true },
      ),
      'The KEDA object the scaler caps.',
    ),
    maxReplicasByCarbonIntensity: required(
      list(band, {
        min: 1,
        max: POLICY_LIMITS.rules,
        items: 'rules',
        notList: (got) => `must be a non-empty list of {carbonIntensityThreshold, maxReplicas}, got ${got}`,
      }),
      'The bands, kept as they are.',
    ),
    ecoModeOff: optional(ecoModeOff, null, 'When the declared max applies regardless of carbon.'),
    carbonIntensityForecastDataSource: optional(dataSource, null, 'Where the operator reads the forecast.'),
  },
  { notMapping: mapping('the scaler spec', ''), open: true },
);

/** A CarbonAwareKedaScaler, the fields convert reads. */
export const azureScaler = object(
  {
    kind: required(exactly(AZURE_KIND), 'The kind.'),
    apiVersion: required(exactly(AZURE_API_VERSION), 'The operator API version.'),
    spec: required(spec, 'The scaler.'),
  },
  { notMapping: (got) => `must be a mapping (a Kubernetes object), got ${got}`, open: true },
);

/** A CarbonAwareKedaScaler as written. */
export type AzureScalerDocument = DocOf<typeof azureScaler>;
/** A CarbonAwareKedaScaler as convert reads it. */
export type AzureScaler = OutOf<typeof azureScaler>;
export type ScalerSpec = AzureScaler['spec'];
