import t from 'tap';
import { SubjectIndex } from '../../src/cluster/subjects.js';
import { validatePolicy } from '../../src/core/policy.js';

t.test('subjects are counted per distinct subject; identical ones share one entry', async (t) => {
  const policy = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }] });
  const other = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }] });
  const s = (p = policy, cap = 3) => ({ policy: p, declared: 10, minReplicas: 0, ecoModeOffAnnotation: false, cap });
  const index = new SubjectIndex();
  index.set('a', s());
  index.set('b', s());
  const v = index.version;
  index.set('b', s());
  t.equal(index.size, 1, 'two objects, one subject');
  t.equal(index.version, v, 'no change, no new version');
  index.set('c', s(other));
  t.equal(index.size, 2, 'another Policy object is another subject');
  index.set('a', s(policy, 10));
  t.equal(index.size, 3);
  index.delete('b');
  t.equal(index.size, 2, 'the shared subject goes with its last object');
  t.equal(index.subjects().length, 2);
  index.set('c', undefined);
  t.same(
    index.subjects().map((x) => x.cap),
    [10],
  );
  index.clear();
  t.equal(index.size, 0);
});

t.test('each distinct subject lists the keys that share it, so new data enqueues only those', async (t) => {
  const policy = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }] });
  const s = (cap: number) => ({ policy, declared: 10, minReplicas: 0, ecoModeOffAnnotation: false, cap });
  const index = new SubjectIndex();
  index.set('a', s(3));
  index.set('b', s(3));
  index.set('c', s(10));
  const groups = () => [...index.groups()].map((g) => [g.subject.cap, [...g.keys].sort()]);
  t.same(groups(), [
    [3, ['a', 'b']],
    [10, ['c']],
  ]);
  index.set('b', s(10));
  t.same(groups(), [
    [3, ['a']],
    [10, ['b', 'c']],
  ]);
  t.equal(index.subjectOf('b')?.cap, 10);
  t.equal(index.idOf(s(10)), index.idOf(index.subjectOf('c')!), 'equal subjects share an id');
  index.delete('b');
  t.equal(index.subjectOf('b'), undefined);
});
