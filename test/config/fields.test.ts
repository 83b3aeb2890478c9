import t from 'tap';
import { ConfigError } from '../../src/config/errors.js';
import { duration, flag, named, positive, text } from '../../src/config/fields.js';
import { parseAs } from '../../src/core/schema.js';

const read = (node: Parameters<typeof parseAs>[0], v: unknown) => parseAs(node, v, ConfigError, 'k');

t.test('a duration with a floor: the grammar first, then the floor', async (t) => {
  const minute = duration({ ms: 60_000, text: '1m' });
  t.equal(read(minute, '90'), 90_000, 'a quoted bare number is seconds');
  t.throws(() => read(minute, '30s'), { name: 'ConfigError', key: 'k', message: 'k: must be at least 1m' });
  t.throws(() => read(minute, 'soon'), { message: 'k: must be a duration such as "30s", "5m" or "2h", got "soon"' });
  t.throws(() => read(duration({ ms: 1, text: '0' }), 0), { message: 'k: must be greater than 0' });
  t.equal(minute.type, 'duration >= 1m');
  t.equal(duration({ ms: 1, text: '0' }).type, 'duration > 0');
});

t.test('numbers, flags, strings and names say what they want and what they got', async (t) => {
  t.equal(read(positive(false), 0.5), 0.5);
  t.throws(() => read(positive(false), 0), { message: 'k: must be a number greater than 0, got 0' });
  t.throws(() => read(positive(true), 1.5), { message: 'k: must be a whole number greater than 0, got 1.5' });
  t.throws(() => read(positive(true), '3'), { message: 'k: must be a whole number greater than 0, got "3"' });
  t.equal(read(flag, false), false);
  t.throws(() => read(flag, 'yes'), { message: 'k: must be true or false, got "yes"' });
  t.throws(() => read(text, ' '), { message: 'k: must be a non-empty string, got " "' });
  t.equal(read(named(['a', 'b']), 'b'), 'b');
  t.throws(() => read(named(['a', 'b']), 'c'), { message: 'k: must be one of a, b, got "c"' });
});
