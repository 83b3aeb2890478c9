import t from 'tap';
import type { KedaObject } from '../../src/core/object.js';
import { validatePolicy, type Policy } from '../../src/core/policy.js';
import { resolvePolicy, type PolicyConfig } from '../../src/core/resolve.js';

// The order of PRODUCT.md section 2: the object's own document (spec, then annotation), the
// policy it names, its namespace's label, the configuration's default; first match wins.

const standard = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }] });
const strict = validatePolicy({ carbon: [{ measuredEmission: 150, allowedMaxReplicaCount: 1 }] });
const config = (over: Partial<PolicyConfig> = {}): PolicyConfig => ({
  policies: new Map<string, Policy>([
    ['standard', standard],
    ['strict', strict],
  ]),
  defaultPolicy: null,
  ...over,
});
const object = (annotations: Record<string, string> = {}, spec: Record<string, unknown> = {}): KedaObject =>
  ({ metadata: { name: 'web', namespace: 'shop', annotations }, spec: { maxReplicaCount: 10, ...spec } }) as KedaObject;
const INLINE = { carbon: [{ measuredEmission: 500, allowedMaxReplicaCount: 2 }] };

t.test('first match wins, from the object outwards', async (t) => {
  const all = object(
    { 'keda-carbon.io/environmental-impact': 'carbon: [{measuredEmission: 400, allowedMaxReplicaCount: 4}]', 'keda-carbon.io/policy': 'strict' },
    { environmentalImpact: INLINE },
  );
  t.match(
    resolvePolicy(all, config({ defaultPolicy: 'standard' }), 'standard'),
    { kind: 'policy', origin: 'spec.environmentalImpact' },
    'the spec field first',
  );
  const annotated = object({
    'keda-carbon.io/environmental-impact': 'carbon: [{measuredEmission: 400, allowedMaxReplicaCount: 4}]',
    'keda-carbon.io/policy': 'strict',
  });
  const byText = resolvePolicy(annotated, config(), 'standard');
  t.equal(byText.kind === 'policy' && byText.policy.bands[0]?.threshold, 400, 'then the document in the annotation');
  const named = resolvePolicy(object({ 'keda-carbon.io/policy': 'strict' }), config({ defaultPolicy: 'standard' }), 'standard');
  t.same(named, { kind: 'policy', policy: strict, origin: 'policy "strict" (annotation keda-carbon.io/policy)' }, 'then the name on the object');
  const label = resolvePolicy(object(), config({ defaultPolicy: 'standard' }), 'strict');
  t.same(label, { kind: 'policy', policy: strict, origin: 'policy "strict" (namespace label keda-carbon.io/policy)' }, "then the namespace's label");
  t.same(
    resolvePolicy(object(), config({ defaultPolicy: 'standard' }), null),
    { kind: 'policy', policy: standard, origin: 'policy "standard" (defaultPolicy)' },
    'then the default',
  );
  t.same(resolvePolicy(object(), config(), null), { kind: 'none', origin: 'no policy' }, 'else nothing');
});

t.test('disabled opts out of everything below where it is written', async (t) => {
  t.same(resolvePolicy(object({ 'keda-carbon.io/policy': 'disabled' }), config({ defaultPolicy: 'standard' }), 'strict'), {
    kind: 'none',
    origin: 'annotation keda-carbon.io/policy: disabled',
  });
  t.same(resolvePolicy(object(), config({ defaultPolicy: 'standard' }), 'disabled'), {
    kind: 'none',
    origin: 'namespace label keda-carbon.io/policy: disabled',
  });
  t.match(
    resolvePolicy(object({ 'keda-carbon.io/policy': 'disabled' }, { environmentalImpact: INLINE }), config(), null),
    { kind: 'policy' },
    'an own document still wins',
  );
});

t.test("a broken own document is the object's fault; an unknown name is the operator's", async (t) => {
  const broken = resolvePolicy(object({}, { environmentalImpact: { carbon: 'lots' } }), config(), null);
  t.match(broken, { kind: 'invalid', own: true, origin: 'spec.environmentalImpact', message: /^invalid carbon policy in spec\.environmentalImpact: / });
  const badText = resolvePolicy(object({ 'keda-carbon.io/environmental-impact': 'carbon: [' }), config(), null);
  t.match(badText, { kind: 'invalid', own: true, origin: 'annotation keda-carbon.io/environmental-impact' });
  const unknown = resolvePolicy(object({ 'keda-carbon.io/policy': 'gold' }), config(), null);
  t.same(unknown, {
    kind: 'invalid',
    own: false,
    origin: 'annotation keda-carbon.io/policy',
    message: 'annotation keda-carbon.io/policy names policy "gold", which the keda-carbon configuration does not define',
  });
  const long = resolvePolicy(object({ 'keda-carbon.io/policy': 'x'.repeat(500) }), config(), null);
  t.ok(long.kind === 'invalid' && long.message.length < 250, 'a long name is clipped');
  t.throws(
    () =>
      resolvePolicy(object({ 'keda-carbon.io/environmental-impact': 'x' }), config(), null, () => {
        throw new TypeError('a bug, not a bad document');
      }),
    TypeError,
    'only policy errors become invalid resolutions',
  );
});

t.test("the text reader is the caller's (a cache in long-running callers)", async (t) => {
  const seen: string[] = [];
  const r = resolvePolicy(object({ 'keda-carbon.io/environmental-impact': 'any text' }), config(), null, (text) => (seen.push(text), standard));
  t.same(seen, ['any text']);
  t.same(r, { kind: 'policy', policy: standard, origin: 'annotation keda-carbon.io/environmental-impact' });
});

t.test('mode: observe in the configuration puts every policy in observe mode, one twin per policy', async (t) => {
  const cfg = config({ mode: 'observe', defaultPolicy: 'standard' });
  const a = resolvePolicy(object(), cfg, null);
  const b = resolvePolicy(object(), cfg, null);
  t.match(a, { kind: 'policy', origin: 'policy "standard" (defaultPolicy), observe mode by the configuration' });
  if (a.kind !== 'policy' || b.kind !== 'policy') throw new Error('expected policies');
  t.equal(a.policy.mode, 'observe');
  t.equal(a.policy.bands, standard.bands, 'the same rules');
  t.equal(a.policy, b.policy, 'the same twin each time, so caches keyed by policy keep hitting');
  t.equal(standard.mode, 'enforce', 'the configured policy itself is untouched');
  t.same(resolvePolicy(object(), config({ mode: 'observe' }), null), { kind: 'none', origin: 'no policy' }, 'no policy stays no policy');
});
