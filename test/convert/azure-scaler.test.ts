import t from 'tap';
import { AZURE_API_VERSION, AZURE_KIND, azureScaler, type AzureScalerDocument } from '../../src/convert/azure-scaler.js';
import { FieldError } from '../../src/core/field-error.js';
import { parseAs } from '../../src/core/schema.js';

const scaler = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown => ({
  apiVersion: AZURE_API_VERSION,
  kind: AZURE_KIND,
  metadata: { name: 's', namespace: 'default' },
  ...extra,
  spec: {
    kedaTarget: 'scaledjobs.keda.sh',
    kedaTargetRef: { name: 'job', namespace: 'batch' },
    maxReplicasByCarbonIntensity: [{ carbonIntensityThreshold: 400, maxReplicas: 3 }],
    ...spec,
  },
});
const read = (v: unknown) => parseAs(azureScaler, v, FieldError);

t.test('the type is the scaler as written, the parsed form what convert maps', async (t) => {
  const doc: AzureScalerDocument = {
    apiVersion: AZURE_API_VERSION,
    kind: AZURE_KIND,
    spec: {
      kedaTarget: 'scaledobjects.keda.sh',
      kedaTargetRef: { name: 'web', namespace: 'shop' },
      maxReplicasByCarbonIntensity: [{ carbonIntensityThreshold: 500, maxReplicas: 2 }],
      ecoModeOff: { customSchedule: [{ startTime: '2026-01-01T22:00:00Z', endTime: '2026-01-01T23:00:00Z' }] },
    },
  };
  const { spec } = read(doc);
  t.equal(spec.kedaTarget, 'ScaledObject', 'the resource becomes the kind it names');
  const [w] = spec.ecoModeOff!.customSchedule;
  t.same(w!.startTime, {
    at: Date.parse('2026-01-01T22:00:00Z'),
    text: '2026-01-01T22:00:00Z',
    field: 'spec.ecoModeOff.customSchedule[0].startTime',
    written: null,
  });
  const local = read(scaler({ ecoModeOff: { customSchedule: [{ startTime: '2026-01-01T22:00:00', endTime: '2026-01-01T23:00:00Z' }] } }));
  t.match(
    local.spec.ecoModeOff!.customSchedule[0]!.startTime,
    { text: '2026-01-01T22:00:00Z', written: '2026-01-01T22:00:00' },
    'no offset: read as UTC, what was written kept for the note',
  );
  t.same(spec.ecoModeOff?.recurringSchedule, [], 'absent lists read as empty');
  t.equal(spec.carbonIntensityForecastDataSource, null);
});

t.test("fields convert does not read are the operator's business", async (t) => {
  const { spec } = read(scaler({ futureField: 1, ecoModeOff: { somethingNew: true } }, { status: { phase: 'x' } }));
  t.equal(spec.kedaTargetRef.namespace, 'batch');
});

t.test('an empty duration block is the operator zero value: no override', async (t) => {
  t.equal(read(scaler({ ecoModeOff: { carbonIntensityDuration: {} } })).spec.ecoModeOff?.carbonIntensityDuration, null);
  t.same(
    read(scaler({ ecoModeOff: { carbonIntensityDuration: { carbonIntensityThreshold: 500, overrideEcoAfterDurationInMins: 30 } } })).spec.ecoModeOff
      ?.carbonIntensityDuration,
    {
      carbonIntensityThreshold: 500,
      overrideEcoAfterDurationInMins: 30,
    },
  );
});

t.test('each broken rule names its field', async (t) => {
  const cases: [unknown, string][] = [
    ['text', 'must be a mapping (a Kubernetes object), got "text"'],
    [scaler({}, { kind: 'ScaledObject' }), `kind: must be ${AZURE_KIND}, got "ScaledObject"`],
    [{ apiVersion: AZURE_API_VERSION, kind: AZURE_KIND }, 'spec: is required (the scaler spec)'],
    [scaler({ kedaTargetRef: { name: 'job' } }), 'spec.kedaTargetRef.namespace: is required (the namespace of the KEDA object)'],
    [scaler({ kedaTargetRef: 'job' }), 'spec.kedaTargetRef: must be a mapping with name and namespace, got "job"'],
    [
      scaler({ maxReplicasByCarbonIntensity: [{ carbonIntensityThreshold: 1.5, maxReplicas: 1 }] }),
      'spec.maxReplicasByCarbonIntensity[0].carbonIntensityThreshold: must be an integer >= 0, got 1.5',
    ],
    [
      scaler({ ecoModeOff: { carbonIntensityDuration: { carbonIntensityThreshold: 500 } } }),
      'spec.ecoModeOff.carbonIntensityDuration.overrideEcoAfterDurationInMins: must be an integer >= 1, got 0',
    ],
    [
      scaler({ ecoModeOff: { customSchedule: [{ startTime: '2026-01-01T22:00:00Z' }] } }),
      'spec.ecoModeOff.customSchedule[0].endTime: must be an RFC 3339 time such as "2023-03-14T23:59:59Z", got nothing',
    ],
    [
      scaler({ carbonIntensityForecastDataSource: { mockCarbonForecast: 'yes' } }),
      'spec.carbonIntensityForecastDataSource.mockCarbonForecast: must be true or false, got "yes"',
    ],
    [
      scaler({ carbonIntensityForecastDataSource: { localConfigMap: { name: 7 } } }),
      'spec.carbonIntensityForecastDataSource.localConfigMap.name: must be a string, got 7',
    ],
  ];
  for (const [v, message] of cases) t.throws(() => read(v), { message }, message);
});
