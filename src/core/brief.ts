/**
 * Text that may come from user input (a name, a message quoting a value), cut to at most
 * `max` characters with the original length said: whatever is echoed into a response, a
 * warning or a log line stays this short, so a 1 MiB name cannot make a 1 MiB log line.
 */
export function clip(text: string, max = 200): string {
  if (text.length <= max) return text;
  const tail = `... (${text.length} chars)`;
  return `${text.slice(0, Math.max(0, max - tail.length))}${tail}`;
}

const MAX_ITEMS = 4;
const MAX_DEPTH = 3;
const MAX_STRING = 60;

function briefString(s: string): string {
  return JSON.stringify(s.length > MAX_STRING ? `${s.slice(0, MAX_STRING)}...` : s);
}

function briefAt(v: unknown, depth: number): string {
  if (typeof v === 'string') return briefString(v);
  if (typeof v !== 'object' || v === null) return String(v);
  const list = Array.isArray(v);
  if (depth >= MAX_DEPTH) return list ? '[...]' : '{...}';
  const keys = list ? [] : Object.keys(v);
  const count = list ? v.length : keys.length;
  const parts: string[] = [];
  for (let i = 0; i < Math.min(count, MAX_ITEMS); i++) {
    parts.push(list ? briefAt(v[i], depth + 1) : `${briefString(keys[i]!)}:${briefAt((v as Record<string, unknown>)[keys[i]!], depth + 1)}`);
  }
  if (count > MAX_ITEMS) parts.push('...');
  return list ? `[${parts.join(',')}]` : `{${parts.join(',')}}`;
}

/**
 * A value from user input, shown in an error message as compact JSON. Whatever the
 * value's size or depth this never throws and stays short: JSON.stringify overflows the
 * stack on deeply nested input, and a message goes back to kubectl and into the logs.
 */
export function brief(v: unknown, max = 120): string {
  const text = briefAt(v, 0);
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
