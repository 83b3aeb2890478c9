import t from 'tap';
import { nextCapChange, type CapSubject } from '../../src/core/moments.js';
import { validatePolicy } from '../../src/core/policy.js';
import { HOUR, MINUTE, hourly } from '../helpers/carbon.js';

const H0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const NOW = H0 + 10 * MINUTE;
const policy = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }] });
const subject = (over: Partial<CapSubject> = {}): CapSubject => ({ policy, declared: 10, minReplicas: 0, ecoModeOffAnnotation: false, cap: 10, ...over });

t.test('the first forecast boundary that changes a cap', async (t) => {
  const carbon = hourly(H0, [100, 200, 400, 100], NOW, 6 * HOUR);
  t.equal(nextCapChange([subject()], carbon, NOW, 24 * HOUR), H0 + 2 * HOUR, 'the 200 hour keeps the cap; the 400 hour changes it');
  t.equal(nextCapChange([subject()], carbon, NOW, HOUR), null, 'nothing within the horizon');
  t.equal(nextCapChange([subject({ cap: 3 })], carbon, NOW, 24 * HOUR), NOW, 'a cap already out of date is due now');
  t.equal(nextCapChange([subject({ ecoModeOffAnnotation: true })], carbon, NOW, 24 * HOUR), null, 'eco mode off by annotation never changes');
  t.equal(nextCapChange([], carbon, NOW, 24 * HOUR), null);
});

t.test('the end of the forecast: missing data applies onMissingData', async (t) => {
  const fixed = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }], onMissingData: 2 });
  const carbon = hourly(H0, [100, 100], NOW, 6 * HOUR);
  t.equal(nextCapChange([subject({ policy: fixed })], carbon, NOW, 24 * HOUR), H0 + 2 * HOUR);
});

t.test('data turning stale is a change', async (t) => {
  const fixed = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }], onMissingData: 2 });
  const carbon = hourly(H0, [100, 100, 100, 100, 100], NOW, HOUR);
  t.equal(nextCapChange([subject({ policy: fixed })], carbon, NOW, 24 * HOUR), NOW + HOUR + 1, 'one millisecond past maxDataAge');
});

t.test('a recurring schedule minute', async (t) => {
  const scheduled = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }], ecoModeOff: { recurringSchedule: ['45 10 * * *'] } });
  const carbon = hourly(H0, [400, 400, 400], NOW, 6 * HOUR);
  const s = subject({ policy: scheduled, cap: 3 });
  t.equal(nextCapChange([s], carbon, NOW, HOUR), H0 + 45 * MINUTE, 'eco mode goes off at 10:45');
  t.equal(nextCapChange([subject({ policy: scheduled, cap: 10 })], carbon, H0 + 45 * MINUTE + 5000, HOUR), H0 + 46 * MINUTE, 'and back on at 10:46');
});

t.test('the duration override: the window slides past a boundary', async (t) => {
  const override = validatePolicy({
    carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }],
    ecoModeOff: { carbonIntensityDuration: { carbonIntensityThreshold: 300, overrideEcoAfterDurationInMins: 90 } },
  });
  // 400 from 10:00 onwards: capped, until it has stayed >= 300 for 90 minutes (11:30)
  const carbon = hourly(H0 - HOUR, [100, 400, 400, 400], NOW, 6 * HOUR);
  t.equal(nextCapChange([subject({ policy: override, cap: 3 })], carbon, NOW, 6 * HOUR), H0 + 90 * MINUTE);
});

t.test('several subjects: the earliest change of any of them', async (t) => {
  const low = validatePolicy({ carbon: [{ measuredEmission: 150, allowedMaxReplicaCount: 5 }] });
  const carbon = hourly(H0, [100, 200, 400], NOW, 6 * HOUR);
  t.equal(nextCapChange([subject(), subject({ policy: low })], carbon, NOW, 24 * HOUR), H0 + HOUR);
});
