import t from 'tap';
import { WorkQueue } from '../../src/cluster/queue.js';
import { SubjectIndex } from '../../src/cluster/subjects.js';
import { validatePolicy } from '../../src/core/policy.js';

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

t.test('the work queue hands a key out once however often it is added, and again if added while worked on', async (t) => {
  const handled: string[] = [];
  const gates = new Map<string, ReturnType<typeof gate>>();
  const q = new WorkQueue(async (key) => {
    handled.push(key);
    const g = gate();
    gates.set(key, g);
    await g.p;
  }, 2);
  q.add('a');
  q.add('b');
  q.add('c');
  q.add('c');
  t.same(handled, ['a', 'b'], 'two at once');
  t.equal(q.length, 1, 'c waits once');
  q.add('a'); // while a runs: once more afterwards
  q.add('a');
  gates.get('a')!.open();
  await new Promise((r) => setImmediate(r));
  t.same(handled, ['a', 'b', 'c'], 'c next');
  gates.get('b')!.open();
  await new Promise((r) => setImmediate(r));
  t.same(handled, ['a', 'b', 'c', 'a'], 'then a again, once');
  gates.get('c')!.open();
  gates.get('a')!.open();
  await q.idle();
  q.setConcurrency(1);
  let failures = 0;
  const failing = new WorkQueue(async () => {
    failures++;
    throw new Error('boom');
  }, 1);
  failing.add('x');
  await failing.idle();
  t.equal(failures, 1, 'a failing handler does not stop the queue');
  const stopped = new WorkQueue(async () => undefined, 1);
  await stopped.stop();
  stopped.add('y');
  t.equal(stopped.length, 0, 'a stopped queue takes nothing');
  stopped.restart();
  stopped.add('y');
  await stopped.idle();
});

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
