import t from 'tap';
import { readYamlDocuments, readYamlItems } from '../../src/util/yaml-docs.js';

t.test('documents in order, lists unrolled, empty documents skipped', async (t) => {
  const text = 'kind: A\n---\n---\nkind: List\nitems:\n- {kind: B}\n- {kind: C}\n---\nkind: ScaledObjectList\nitems: [{kind: D}]\n---\n[1, 2]\n---\n';
  t.same(readYamlDocuments(text, 'x.yaml'), [{ kind: 'A' }, { kind: 'B' }, { kind: 'C' }, { kind: 'D' }, [1, 2]]);
  t.same(readYamlDocuments('', 'empty.yaml'), []);
  t.same(
    readYamlDocuments('{"kind": "List", "items": "not a list"}', 'j.json'),
    [{ kind: 'List', items: 'not a list' }],
    'a List without an items array is a document',
  );
});

t.test('a syntax error names the origin and the line', async (t) => {
  t.throws(() => readYamlDocuments('kind: A\n---\nb: [\n', 'bad.yaml'), { message: /^bad\.yaml: line \d+, column \d+: not valid YAML: [^\n]*[^:\n]$/ });
  // Lines count from the top of the stream, not of the document.
  t.throws(() => readYamlDocuments('kind: A\n---\na: 1\nb: 2\na: 3\n', 'dup.yaml'), {
    message: 'dup.yaml: line 5, column 1: not valid YAML: Map keys must be unique',
  });
});

t.test('readYamlItems names the document and list item each object came from', async (t) => {
  const items = readYamlItems('a: 1\n---\nkind: List\nitems: [{b: 2}, {c: 3}]\n---\n---\nd: 4\n', 'in.yaml');
  t.same(items, [
    { value: { a: 1 }, place: 'document 1' },
    { value: { b: 2 }, place: 'document 2 item 1' },
    { value: { c: 3 }, place: 'document 2 item 2' },
    { value: { d: 4 }, place: 'document 4' },
  ]);
});
