import t from 'tap';
import { parseConfigText } from '../../src/config/config.js';
import { parseDuration } from '../../src/config/duration.js';
import { BAD_DURATIONS, GOOD_DURATIONS } from '../helpers/durations.js';

t.test('durations the README promises are read', async (t) => {
  for (const [input, ms] of GOOD_DURATIONS) t.equal(parseDuration(input, 'k'), ms, JSON.stringify(input));
});

t.test('anything else is refused, naming the key and the value', async (t) => {
  for (const bad of BAD_DURATIONS)
    t.throws(() => parseDuration(bad, 'a.b'), { name: 'ConfigError', message: /^a\.b: must be a duration such as "30s", "5m" or "2h", got / }, String(bad));
});

t.test('a quoted number in a config file is seconds, like an unquoted one', async (t) => {
  const quoted = parseConfigText('touch:\n  interval: "90"\n', 'cfg.yaml');
  const bare = parseConfigText('touch:\n  interval: 90\n', 'cfg.yaml');
  t.equal(quoted.touch.intervalMs, 90_000);
  t.equal(bare.touch.intervalMs, 90_000);
});
