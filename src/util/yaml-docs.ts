import { parseAllDocuments } from 'yaml';
import { yamlProblem } from '../core/yaml-error.js';
import { isPlainObject } from './object.js';

/** One object of a YAML stream and where it stood: `document 2` or `document 1 item 3`. */
export interface YamlItem {
  value: unknown;
  place: string;
}

/**
 * Every document of a YAML (or JSON) stream, with lists unrolled: `kubectl get -o yaml`
 * writes a `kind: List` (the API's own lists are `ScaledObjectList` and the like), and a
 * user may paste either. Empty documents (a trailing `---`) are skipped. A syntax error
 * throws, naming the origin and the line.
 */
export function readYamlItems(text: string, origin: string): YamlItem[] {
  const out: YamlItem[] = [];
  let index = 0;
  for (const doc of parseAllDocuments(text)) {
    index++;
    const error = doc.errors[0];
    if (error) throw new Error(`${origin}: ${yamlProblem(error)}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (isPlainObject(value) && typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
      for (const [i, item] of value.items.entries()) out.push({ value: item, place: `document ${index} item ${i + 1}` });
    } else {
      out.push({ value, place: `document ${index}` });
    }
  }
  return out;
}

/** The values of readYamlItems, for callers that do not name places. */
export function readYamlDocuments(text: string, origin: string): unknown[] {
  return readYamlItems(text, origin).map((item) => item.value);
}
