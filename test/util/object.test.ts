import t from 'tap';
import { isPlainObject } from '../../src/util/object.js';

t.test('isPlainObject', async (t) => {
  t.same([{}, { a: 1 }, Object.create(null)].map(isPlainObject), [true, true, true]);
  t.same([null, undefined, [], 'x', 1, true].map(isPlainObject), [false, false, false, false, false, false]);
});
