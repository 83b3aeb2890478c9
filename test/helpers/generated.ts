import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { configDocument } from '../../src/config/config.js';
import { intensityBlock } from '../../src/config/intensity.js';
import { POLICY_DESCRIPTION, policyDocument } from '../../src/core/policy-document.js';
import { fieldRows, type Node } from '../../src/core/schema.js';

/**
 * The files written from a declaration (`npm run gen`), and what each should hold. The
 * tests compare the checked-in copies with these, so a declaration and its CRD schema or
 * docs tables cannot drift apart.
 */

// Compiled to .bench-build/test/helpers by `npm run gen`, run from test/helpers by the tests.
const here = fileURLToPath(new URL('.', import.meta.url));
const ROOT = here.includes('.bench-build') ? fileURLToPath(new URL('../../../', import.meta.url)) : fileURLToPath(new URL('../../', import.meta.url));

export const CRD_PATCH = 'webhook-config/components/environmental-impact-crd/environmental-impact.patch.yaml';
export const README = 'README.md';
export const PROVIDERS_DOC = 'docs/providers.md';

/** A field table in a docs file, between markers named for it. */
interface Table {
  readonly file: string;
  readonly name: string;
  readonly source: string;
  readonly node: Node<unknown, unknown>;
}

const POLICY_TABLE: Table = { file: README, name: 'policy-fields', source: 'src/core/policy-document.ts', node: policyDocument };
export const TABLES: readonly Table[] = [
  POLICY_TABLE,
  { file: README, name: 'config-fields', source: 'src/config/config.ts', node: configDocument },
  { file: PROVIDERS_DOC, name: 'intensity-fields', source: 'src/config/intensity.ts', node: intensityBlock },
];

const markers = (t: Table): [begin: string, end: string] => [`<!-- ${t.name}: generated from ${t.source} by npm run gen -->`, `<!-- ${t.name}: end -->`];

const CRD_HEADER = `# Generated from src/core/policy-document.ts by \`npm run gen\`: edit the declaration, not this file.
# JSON patch (RFC 6902) for the v1alpha1 version of the KEDA ScaledObject and ScaledJob CRDs.
# The webhook still checks what a schema cannot express (cron syntax, IANA zones, duplicate
# thresholds, measuredEmission's number-or-percentile).
`;

/** The CRD patch that adds `spec.environmentalImpact`, as YAML. */
export function crdPatch(): string {
  const ops = [
    {
      op: 'add',
      path: '/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/environmentalImpact',
      value: { description: POLICY_DESCRIPTION, ...policyDocument.schema },
    },
  ];
  return CRD_HEADER + stringify(ops, { lineWidth: 0 });
}

const cell = (text: string): string => text.replace(/\|/g, '\\|');

/** The docs table of a declaration's fields, markers included (by default the README's policy table). */
export function fieldTable(node: Node<unknown, unknown> = POLICY_TABLE.node, table: Table = POLICY_TABLE): string {
  const [begin, end] = markers(table);
  const rows = fieldRows(node).map((r) => `| \`${r.path}\` | ${r.type} | ${r.required ? 'required' : (r.byDefault ?? 'optional')} | ${cell(r.description)} |`);
  return [begin, '| field | value | when left out | meaning |', '|---|---|---|---|', ...rows, end].join('\n');
}

/** `text` with the generated block of `table` replaced; throws when the markers are missing. */
export function withBlock(text: string, block: string, table: Table = POLICY_TABLE): string {
  const [begin, end] = markers(table);
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${table.file} has no block between "${begin}" and "${end}"`);
  return text.slice(0, from) + block + text.slice(to + end.length);
}

/** Each generated file: its path under the repository root and the text it should hold now. */
export async function generatedFiles(): Promise<{ path: string; expected: string; actual: string }[]> {
  const crd = await readFile(ROOT + CRD_PATCH, 'utf8');
  const files = [{ path: CRD_PATCH, expected: crdPatch(), actual: crd }];
  for (const path of new Set(TABLES.map((t) => t.file))) {
    const actual = await readFile(ROOT + path, 'utf8');
    let expected = actual;
    for (const table of TABLES.filter((t) => t.file === path)) expected = withBlock(expected, fieldTable(table.node, table), table);
    files.push({ path, expected, actual });
  }
  return files;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const file of await generatedFiles()) {
    if (file.expected === file.actual) continue;
    await writeFile(ROOT + file.path, file.expected);
    process.stdout.write(`wrote ${file.path}\n`);
  }
}
