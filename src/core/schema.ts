import { brief, clip } from './brief.js';
import { FieldError } from './field-error.js';

/**
 * A small schema walker: a document is declared once as a tree of nodes, and the tree
 * yields the document's TypeScript type (`DocOf`), its parsed form (`OutOf`), a validator
 * whose messages name the field and the rule (`FieldError`), a JSON Schema (for a CRD's
 * `openAPIV3Schema`) and the rows of a field table for the docs.
 *
 * Why not a schema library: the messages users see are part of the contract and several
 * rules (percentiles, percentages, cron lines) need messages of their own; a validator
 * that parses into the decision's form (sorted bands, compiled cron lines) would need a
 * transform on every node anyway; and the CRD needs Kubernetes' structural extensions.
 */

export type JsonSchema = { readonly [key: string]: unknown };

// The error the walk in progress throws: a document's own subclass of FieldError (see
// `parseAs`), made once where the rule is broken. Walks are synchronous, so one slot holds it.
let errorClass: typeof FieldError = FieldError;

/** Throw the current walk's error for `field` breaking `rule`. */
export function fail(field: string, rule: string): never {
  throw new errorClass(field, rule);
}

/** Parse `v` as the document `node` declares, found at `at` (empty: the whole document); a broken rule throws `Err`. */
export function parseAs<O>(node: Node<unknown, O>, v: unknown, Err: typeof FieldError, at = ''): O {
  const outer = errorClass;
  errorClass = Err;
  try {
    return node.parse(v, at);
  } finally {
    errorClass = outer;
  }
}

export interface Node<D, O> {
  /** Validates `v` found at field path `at` and returns its parsed form; throws FieldError. */
  readonly parse: (v: unknown, at: string) => O;
  /** The JSON Schema of the node, without the description (the field carries that). */
  readonly schema: JsonSchema;
  /** What the docs say the value is, e.g. `integer >= 1`. */
  readonly type: string;
  /** The child fields, for the docs table; only objects (and lists of objects) have them. */
  readonly fields?: Fields;
  /** Phantom: the document type this node accepts. Never set. */
  readonly doc?: D;
}

export type DocOf<N> = N extends Node<infer D, unknown> ? D : never;
export type OutOf<N> = N extends Node<unknown, infer O> ? O : never;

export interface Field<D, O> {
  readonly node: Node<D, O>;
  readonly required: boolean;
  readonly description: string;
  /** What the docs say applies when the field is absent. */
  readonly byDefault?: string;
  /** The parsed value when the field is absent (undefined or null); unused when required. */
  readonly absent?: O;
}

// biome-ignore lint/suspicious/noExplicitAny: a field of any node; the object node infers the real types.
export type Fields = { readonly [key: string]: Field<any, any> };

/**
 * A field that must be there. An absent value still goes to the node, which names it in
 * its own rule (`must be a number >= 0, got nothing`).
 */
export function required<D, O>(node: Node<D, O>, description: string): Field<D, O> & { required: true } {
  return { node, required: true, description };
}

/** A field that may be left out (or null): it then parses as `absent`. */
export function optional<D, O, A extends O | null>(
  node: Node<D, O>,
  absent: A,
  description: string,
  byDefault?: string,
): Field<D, O | A> & { required: false } {
  return { node: node as Node<D, O | A>, required: false, description, absent, ...(byDefault === undefined ? {} : { byDefault }) };
}

type Prettify<T> = { [K in keyof T]: T[K] } & {};
type RequiredKeys<F extends Fields> = { [K in keyof F]: F[K] extends { required: true } ? K : never }[keyof F];
type OptionalKeys<F extends Fields> = Exclude<keyof F, RequiredKeys<F>>;

/** The document an object node accepts: optional fields may be left out or null. */
export type DocOfFields<F extends Fields> = Prettify<
  { -readonly [K in RequiredKeys<F>]: F[K] extends Field<infer D, unknown> ? D : never } & {
    -readonly [K in OptionalKeys<F>]?: F[K] extends Field<infer D, unknown> ? D | null : never;
  }
>;
export type Parsed<F extends Fields> = { readonly [K in keyof F]: F[K] extends Field<unknown, infer O> ? O : never };

/** `got X` in every rule: the value, short, whatever its size. */
export const show = (v: unknown): string => (v === undefined ? 'nothing' : brief(v));

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const fieldPath = (at: string, key: string): string => (at ? `${at}.${key}` : key);

export interface ObjectOptions {
  /** The rule when the value is no mapping (after `must be a mapping`, or a whole sentence at the root). */
  readonly notMapping: (got: string) => string;
  /** Checks across fields before any field is parsed (e.g. one of two forms). */
  readonly check?: (obj: Record<string, unknown>, at: string) => void;
  /** Extra JSON Schema keywords on the object (e.g. `x-kubernetes-validations`). */
  readonly schema?: JsonSchema;
  /** Keys it does not declare are left alone: another program's object, of which only some fields are read. */
  readonly open?: boolean;
}

/** A mapping with known fields, parsed in declaration order; an unknown key is an error. */
export function object<F extends Fields, R = Parsed<F>>(
  fields: F,
  options: ObjectOptions,
  build?: (parsed: Parsed<F>, at: string) => R,
): Node<DocOfFields<F>, R> {
  const keys = Object.keys(fields);
  const known = new Set(keys);
  const expected = `unknown field (expected one of ${keys.join(', ')})`;
  const parse = (v: unknown, at: string): R => {
    if (!isPlainObject(v)) fail(at, options.notMapping(show(v)));
    if (!options.open) {
      for (const key in v) {
        if (!known.has(key)) fail(fieldPath(at, clip(key, 60)), expected);
      }
    }
    options.check?.(v, at);
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const field = fields[key]!;
      const value = v[key];
      out[key] = !field.required && (value === undefined || value === null) ? field.absent : field.node.parse(value, fieldPath(at, key));
    }
    return build ? build(out as Parsed<F>, at) : (out as R);
  };
  const properties: Record<string, JsonSchema> = {};
  for (const key of keys) properties[key] = { description: fields[key]!.description, ...fields[key]!.node.schema };
  const req = keys.filter((k) => fields[k]!.required);
  return {
    parse,
    type: 'mapping',
    fields,
    schema: { type: 'object', ...(req.length > 0 ? { required: req } : {}), ...options.schema, properties },
  };
}

export interface ListOptions {
  readonly min?: number;
  readonly max: number;
  /** What the items are called in the too-many rule (`has 51 rules`) and in the docs. */
  readonly items: string;
  /** The rule when the value is no list or an empty one where one is needed. */
  readonly notList: (got: string) => string;
}

export function list<D, O>(item: Node<D, O>, options: ListOptions): Node<D[], O[]> {
  const min = options.min ?? 0;
  const parse = (v: unknown, at: string): O[] => {
    if (!Array.isArray(v) || v.length < min) fail(at, options.notList(show(v)));
    if (v.length > options.max) fail(at, `has ${v.length} ${options.items}; at most ${options.max} are allowed`);
    return v.map((x, i) => item.parse(x, `${at}[${i}]`));
  };
  return {
    parse,
    type: `list of ${min > 0 ? `${min} to ` : 'at most '}${options.max} ${options.items}`,
    ...(item.fields ? { fields: item.fields } : {}),
    schema: { type: 'array', ...(min > 0 ? { minItems: min } : {}), maxItems: options.max, items: item.schema },
  };
}

/** A finite number >= min. */
export function number(min: number): Node<number, number> {
  return {
    parse(v, at) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min) fail(at, `must be a number >= ${min}, got ${show(v)}`);
      return v;
    },
    type: `number >= ${min}`,
    schema: { type: 'number', minimum: min },
  };
}

/** An integer >= min. */
export function integer(min: number): Node<number, number> {
  return {
    parse(v, at) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(at, `must be an integer >= ${min}, got ${show(v)}`);
      return v;
    },
    type: `integer >= ${min}`,
    schema: { type: 'integer', minimum: min },
  };
}

/** One of a few strings; the first is what the docs call the default. */
export function oneOf<const V extends string>(values: readonly V[]): Node<V, V> {
  const quoted = values.map((x) => `"${x}"`);
  const rule = `must be ${quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}` : quoted[0]}`;
  return {
    parse(v, at) {
      if (!values.includes(v as V)) fail(at, `${rule}, got ${show(v)}`);
      return v as V;
    },
    type: values.map((x) => `\`${x}\``).join(' \\| '),
    schema: { type: 'string', enum: values },
  };
}

/** A node with one more rule after its own, given the parsed value (e.g. no two equal thresholds). */
export function refine<D, O, R>(node: Node<D, O>, then: (parsed: O, at: string) => R): Node<D, R> {
  const inner = node.parse;
  return { ...node, parse: (v, at) => then(inner(v, at), at) } as Node<D, R>;
}

/** A node whose rule is its own: the declaration gives the parser, the schema and the docs type. */
export function custom<D, O>(type: string, schema: JsonSchema, parse: (v: unknown, at: string) => O): Node<D, O> {
  return { parse, type, schema };
}

/** One row of a document's field table: the path (`carbon[].measuredEmission`) and what the field takes. */
export interface FieldRow {
  readonly path: string;
  readonly type: string;
  readonly required: boolean;
  readonly byDefault: string | null;
  readonly description: string;
}

/** Every field under `node`, depth first in declaration order: the docs' field table. */
export function fieldRows(node: Node<unknown, unknown>, prefix = ''): FieldRow[] {
  const rows: FieldRow[] = [];
  for (const [key, field] of Object.entries(node.fields ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const inner: Node<unknown, unknown> = field.node;
    rows.push({ path, type: inner.type, required: field.required, byDefault: field.byDefault ?? null, description: field.description });
    const listed = inner.schema.type === 'array';
    rows.push(...fieldRows(inner, listed ? `${path}[]` : path));
  }
  return rows;
}
