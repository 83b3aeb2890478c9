/**
 * The keys that occur more than once in one object of a JSON text, as `path.key` (`.key` at
 * the top). JSON.parse keeps the last of them silently, and so do most log pipelines: a log
 * line must never carry one.
 */
export function duplicateKeys(text: string): string[] {
  const found: string[] = [];
  const frames: { keys: Set<string> | null; path: string; expectKey: boolean; last: string }[] = [];
  const token = /"(?:[^"\\]|\\.)*"|[{}[\],:]/g;
  for (let m = token.exec(text); m !== null; m = token.exec(text)) {
    const tok = m[0];
    const top = frames.at(-1);
    if (tok === '{' || tok === '[') {
      const path = top ? `${top.path}.${top.keys ? top.last : '[]'}` : '';
      frames.push({ keys: tok === '{' ? new Set() : null, path, expectKey: tok === '{', last: '' });
    } else if (tok === '}' || tok === ']') frames.pop();
    else if (tok === ',') {
      if (top?.keys) top.expectKey = true;
    } else if (tok.startsWith('"') && top?.keys && top.expectKey) {
      const key = JSON.parse(tok) as string;
      if (top.keys.has(key)) found.push(`${top.path}.${key}`);
      top.keys.add(key);
      top.last = key;
      top.expectKey = false;
    }
  }
  return found;
}
