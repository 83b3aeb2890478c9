import { parseAllDocuments } from 'yaml';
import { isPlainObject } from './object.js';

/**
 * Every document of a YAML (or JSON) stream, with lists unrolled: `kubectl get -o yaml`
 * writes a `kind: List` (the API's own lists are `ScaledObjectList` and the like), and a
 * user may paste either. Empty documents (a trailing `---`) are skipped. A syntax error
 * throws, naming the origin and the line.
 */
export function readYamlDocuments(text: string, origin: string): unknown[] {
  const out: unknown[] = [];
  for (const doc of parseAllDocuments(text)) {
    const error = doc.errors[0];
    if (error) {
      const line = error.linePos?.[0]?.line;
      const reason = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      throw new Error(`${origin}${line === undefined ? '' : `: line ${line}`}: not valid YAML: ${reason}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (isPlainObject(value) && typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) out.push(...value.items);
    else out.push(value);
  }
  return out;
}
