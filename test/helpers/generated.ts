import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { POLICY_DESCRIPTION, policyDocument } from '../../src/core/policy-document.js';
import { fieldRows, type Node } from '../../src/core/schema.js';

/**
 * The files written from a declaration (`npm run gen`), and what each should hold. The
 * tests compare the checked-in copies with these, so a declaration and its CRD schema or
 * docs table cannot drift apart.
 */

// Compiled to .bench-build/test/helpers by `npm run gen`, run from test/helpers by the tests.
const here = fileURLToPath(new URL('.', import.meta.url));
const ROOT = here.includes('.bench-build') ? fileURLToPath(new URL('../../../', import.meta.url)) : fileURLToPath(new URL('../../', import.meta.url));

export const CRD_PATCH = 'webhook-config/components/environmental-impact-crd/environmental-impact.patch.yaml';
export const README = 'README.md';
const BEGIN = '<!-- policy-fields: generated from src/core/policy-document.ts by npm run gen -->';
const END = '<!-- policy-fields: end -->';

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

/** The README's table of policy fields, markers included. */
export function fieldTable(node: Node<unknown, unknown> = policyDocument): string {
  const rows = fieldRows(node).map((r) => `| \`${r.path}\` | ${r.type} | ${r.required ? 'required' : (r.byDefault ?? 'optional')} | ${cell(r.description)} |`);
  return [BEGIN, '| field | value | when left out | meaning |', '|---|---|---|---|', ...rows, END].join('\n');
}

/** `text` with its generated block replaced; throws when the markers are missing. */
export function withBlock(text: string, block: string): string {
  const from = text.indexOf(BEGIN);
  const to = text.indexOf(END);
  if (from < 0 || to < from) throw new Error(`${README} has no block between "${BEGIN}" and "${END}"`);
  return text.slice(0, from) + block + text.slice(to + END.length);
}

/** Each generated file: its path under the repository root and the text it should hold now. */
export async function generatedFiles(): Promise<{ path: string; expected: string; actual: string }[]> {
  const readme = await readFile(ROOT + README, 'utf8');
  const crd = await readFile(ROOT + CRD_PATCH, 'utf8');
  return [
    { path: CRD_PATCH, expected: crdPatch(), actual: crd },
    { path: README, expected: withBlock(readme, fieldTable()), actual: readme },
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const file of await generatedFiles()) {
    if (file.expected === file.actual) continue;
    await writeFile(ROOT + file.path, file.expected);
    process.stdout.write(`wrote ${file.path}\n`);
  }
}
