import t from 'tap';
import { parseConfigText } from '../../src/config/config.js';
import { parseDuration } from '../../src/config/duration.js';

// What the README promises: `30s`, `5m`, `2h`, `1h30m`; a bare number is seconds.
const VALID: [input: unknown, ms: number][] = [
  ['90s', 90_000],
  ['1h30m', 5_400_000],
  ['250ms', 250],
  ['1d', 86_400_000],
  ['1.5s', 1_500],
  [30, 30_000],
  [0.5, 500],
  ['90', 90_000],
  [' 90 ', 90_000],
  ['2.5', 2_500],
  ['0', 0],
];

const INVALID: unknown[] = ['', ' ', '5x', 'm5', '-5', '+5', '5 s', '1e3', 'Infinity', -1, Number.NaN, Number.POSITIVE_INFINITY, null, true, {}, []];

t.test('durations the README promises are read', async (t) => {
  for (const [input, ms] of VALID) t.equal(parseDuration(input, 'k'), ms, JSON.stringify(input));
});

t.test('anything else is refused, naming the key and the value', async (t) => {
  for (const bad of INVALID)
    t.throws(() => parseDuration(bad, 'a.b'), { name: 'ConfigError', message: /^a\.b: must be a duration such as "30s", "5m" or "2h", got / }, String(bad));
});

t.test('a quoted number in a config file is seconds, like an unquoted one', async (t) => {
  const quoted = parseConfigText('touch:\n  interval: "90"\n', 'cfg.yaml');
  const bare = parseConfigText('touch:\n  interval: 90\n', 'cfg.yaml');
  t.equal(quoted.touch.intervalMs, 90_000);
  t.equal(bare.touch.intervalMs, 90_000);
});
