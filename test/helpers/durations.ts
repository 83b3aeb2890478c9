/**
 * Durations as the README promises them (`30s`, `5m`, `2h`, `1h30m`; a bare number is
 * seconds, quoted or not), and near misses. The validator and the CRD's pattern are both
 * tested against this one table, so they cannot disagree.
 */
export const GOOD_DURATIONS: [input: unknown, ms: number][] = [
  ['90s', 90_000],
  ['1h30m', 5_400_000],
  ['250ms', 250],
  ['1d', 86_400_000],
  ['1.5s', 1_500],
  ['24h', 86_400_000],
  [' 5m ', 300_000],
  [30, 30_000],
  [0.5, 500],
  ['90', 90_000],
  [' 90 ', 90_000],
  ['2.5', 2_500],
  ['3600', 3_600_000],
  ['0', 0],
];

export const BAD_DURATIONS: unknown[] = [
  '',
  ' ',
  '5x',
  'm5',
  '-5',
  '+5',
  '5 s',
  '1h 30m',
  '.5s',
  '5.s',
  '1e3',
  'Infinity',
  'NaN',
  '0x10',
  -1,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  null,
  true,
  {},
  [],
];
