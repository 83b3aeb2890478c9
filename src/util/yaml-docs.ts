import { parseAllDocuments } from 'yaml';
import { isPlainObject } from './object.js';

/** One value from a YAML stream, with where it came from for messages. */
export interface YamlItem {
  value: unknown;
  /** 1-based document number in the stream. */
  document: number;
  /** 1-based position inside a `List`, when the value came from one. */
  item?: number;
  /** `namespace/name` when the value has a name, else `file: document N[ item M]`. */
  label: string;
}

/** A document that is not YAML (or JSON); the message names the file and the document. */
export class YamlDocumentError extends Error {
  constructor(
    readonly file: string,
    readonly document: number,
    reason: string,
  ) {
    super(`${file}: document ${document}: not valid YAML: ${reason}`);
    this.name = 'YamlDocumentError';
  }
}

function labelOf(value: unknown, fallback: string): string {
  const meta = isPlainObject(value) && isPlainObject(value.metadata) ? value.metadata : {};
  if (typeof meta.name !== 'string' || meta.name === '') return fallback;
  return `${typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default'}/${meta.name}`;
}

/** `kubectl get -o yaml` wraps objects in a `List` (or `ScaledObjectList`, ...). */
function isList(value: unknown): value is { items: unknown[] } {
  return isPlainObject(value) && typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items);
}

/**
 * Every value in a YAML (or JSON) stream, in order: documents split on `---`, empty
 * documents skipped, and `List`s unrolled into their items. A document that does not
 * parse is a YamlDocumentError, so nothing is half-read.
 */
export function readYamlDocuments(text: string, file: string): YamlItem[] {
  const out: YamlItem[] = [];
  let document = 0;
  for (const doc of parseAllDocuments(text)) {
    document++;
    if (doc.errors.length > 0) throw new YamlDocumentError(file, document, doc.errors[0]!.message.split('\n')[0]!);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (isList(value)) {
      value.items.forEach((v, i) => out.push({ value: v, document, item: i + 1, label: labelOf(v, `${file}: document ${document} item ${i + 1}`) }));
    } else {
      out.push({ value, document, label: labelOf(value, `${file}: document ${document}`) });
    }
  }
  return out;
}
