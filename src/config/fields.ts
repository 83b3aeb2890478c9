import { DURATION_PATTERN, durationMs } from '../core/duration.js';
import { custom, fail, type Node, show } from '../core/schema.js';

/**
 * The leaves of the configuration file whose rules are its own (see config.ts and
 * intensity.ts, which declare the file with them). Their messages are the configuration's:
 * `touch.qps: must be a number greater than 0, got 0`.
 */

/** A duration (`30s`, `5m`, `1h30m`, or a bare number of seconds) of at least `min` ms, read as ms. */
export function duration(min: { ms: number; text: string } | null = null): Node<string | number, number> {
  const floor = min === null ? '' : min.ms === 1 ? ' > 0' : ` >= ${min.text}`;
  return custom(
    `duration${floor}`,
    {
      anyOf: [
        { type: 'number', minimum: 0 },
        { type: 'string', pattern: DURATION_PATTERN },
      ],
    },
    (v, at) => {
      const ms = durationMs(v);
      if (ms === null) fail(at, `must be a duration such as "30s", "5m" or "2h", got ${show(v)}`);
      if (min !== null && ms < min.ms) fail(at, min.ms === 1 ? 'must be greater than 0' : `must be at least ${min.text}`);
      return ms;
    },
  );
}

/** A number greater than 0; `whole` asks for an integer. */
export function positive(whole: boolean): Node<number, number> {
  const what = `${whole ? 'whole ' : ''}number greater than 0`;
  return custom(whole ? 'integer >= 1' : 'number > 0', { type: whole ? 'integer' : 'number', minimum: 0, exclusiveMinimum: true }, (v, at) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (whole && !Number.isInteger(v))) fail(at, `must be a ${what}, got ${show(v)}`);
    return v;
  });
}

export const flag: Node<boolean, boolean> = custom('`true` \\| `false`', { type: 'boolean' }, (v, at) => {
  if (typeof v !== 'boolean') fail(at, `must be true or false, got ${show(v)}`);
  return v;
});

/** A string with something in it (a name, a path, a variable, a query). */
export const text: Node<string, string> = custom('string', { type: 'string', minLength: 1 }, (v, at) => {
  if (typeof v !== 'string' || v.trim() === '') fail(at, `must be a non-empty string, got ${show(v)}`);
  return v;
});

/** One of a list of names, said as a list: for lists too long for `oneOf`'s "a, b or c". */
export function named<const V extends string>(values: readonly V[]): Node<V, V> {
  return custom(values.map((x) => `\`${x}\``).join(' \\| '), { type: 'string', enum: values }, (v, at) => {
    if (!values.includes(v as V)) fail(at, `must be one of ${values.join(', ')}, got ${show(v)}`);
    return v as V;
  });
}
