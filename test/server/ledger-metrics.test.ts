import t from 'tap';
import type { LedgerRow } from '../../src/ports.js';
import { createMetrics } from '../../src/server/metrics.js';

const row = (mode: string, grams?: LedgerRow['grams']): LedgerRow => ({
  namespace: 'shop',
  policy: 'standard',
  mode,
  objects: 1,
  declared: 10,
  cap: 3,
  capSeconds: 30,
  capIntensitySeconds: 12_000,
  declaredSeconds: 100,
  declaredIntensitySeconds: 40_000,
  withheldSeconds: 70,
  ...(grams ? { grams } : {}),
});

t.test('one scrape reads the ledger once; grams carry the signal; a row without grams exports none', async (t) => {
  const metrics = createMetrics();
  let reads = 0;
  metrics.ledger.attach(() => {
    reads++;
    return [row('enforce', [{ signal: 'average', cap: 1.5, declared: 5, withheld: 3.5, emitted: 1 }]), row('observe')];
  });
  const text = await metrics.registry.metrics();
  t.equal(reads, 1, 'every ledger series of the scrape from one reading');
  t.match(text, 'keda_carbon_ledger_cap_co2eq_grams_total{namespace="shop",policy="standard",mode="enforce",signal="average"} 1.5');
  t.match(text, 'keda_carbon_ledger_withheld_co2eq_grams_total{namespace="shop",policy="standard",mode="enforce",signal="average"} 3.5');
  t.match(text, 'keda_carbon_ledger_emitted_co2eq_grams_total{namespace="shop",policy="standard",mode="enforce",signal="average"} 1');
  t.notMatch(text, /co2eq_grams_total\{[^}]*mode="observe"/, 'no grams without watts per replica');
  t.match(text, 'keda_carbon_ledger_cap_replicas{namespace="shop",policy="standard",mode="observe"} 3');
  await metrics.registry.metrics();
  t.equal(reads, 2, 'the next scrape reads it again');
});

t.test('a rounding error below zero is exported as zero: a counter cannot be negative', async (t) => {
  const metrics = createMetrics();
  metrics.ledger.attach(() => [row('enforce', [{ signal: 'marginal', cap: 5, declared: 5, withheld: -1e-15 }])]);
  const text = await metrics.registry.metrics();
  t.match(text, 'keda_carbon_ledger_withheld_co2eq_grams_total{namespace="shop",policy="standard",mode="enforce",signal="marginal"} 0');
  t.notMatch(text, /emitted_co2eq_grams_total\{/, 'no emitted grams without HPA reading');
});
