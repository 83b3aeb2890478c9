import t from 'tap';
import { brief, clip } from '../../src/core/brief.js';

t.test('clip keeps short text and says how long long text was', async (t) => {
  t.equal(clip('short'), 'short');
  const cut = clip('x'.repeat(1_000), 50);
  t.equal(cut.length, 50);
  t.match(cut, /^x+\.\.\. \(1000 chars\)$/);
});

t.test('brief shows a value as short JSON, whatever its size or depth', async (t) => {
  t.equal(brief('a'), '"a"');
  t.equal(brief(3), '3');
  t.equal(brief(null), 'null');
  t.equal(brief({ a: 1, b: [1, 2] }), '{"a":1,"b":[1,2]}');
  t.equal(brief([1, 2, 3, 4, 5, 6]), '[1,2,3,4,...]', 'at most four items');
  t.equal(brief({ a: { b: { c: { d: 1 } } } }), '{"a":{"b":{"c":{...}}}}', 'three levels deep');
  t.equal(brief('y'.repeat(100)), `"${'y'.repeat(60)}..."`, 'long strings cut');
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  t.equal(brief(deep), '[[[[...]]]]', 'no stack overflow on deep input');
  t.ok(brief({ k: 'z'.repeat(500), l: 'z'.repeat(500), m: 'z'.repeat(500) }, 40).length <= 40, 'the whole stays within max');
});
