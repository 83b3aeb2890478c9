import t from 'tap';
import { readYamlDocuments, YamlDocumentError } from '../../src/util/yaml-docs.js';

t.test('documents in order, empty ones skipped, Lists unrolled, each with a label', async (t) => {
  const text = `---
kind: ScaledObject
metadata: {name: web, namespace: shop}
---
# only a comment: an empty document
---
apiVersion: v1
kind: List
items:
- {kind: ScaledJob, metadata: {name: batch}}
- {kind: ScaledObject}
---
kind: ScaledObjectList
items: [{kind: ScaledObject, metadata: {name: api, namespace: ''}}]
---
carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 2}]
`;
  const items = readYamlDocuments(text, 'in.yaml');
  t.same(
    items.map(({ document, item, label }) => ({ document, item, label })),
    [
      { document: 1, item: undefined, label: 'shop/web' },
      { document: 3, item: 1, label: 'default/batch' },
      { document: 3, item: 2, label: 'in.yaml: document 3 item 2' },
      { document: 4, item: 1, label: 'default/api' },
      { document: 5, item: undefined, label: 'in.yaml: document 5' },
    ],
  );
  t.same(items[1]!.value, { kind: 'ScaledJob', metadata: { name: 'batch' } }, 'the values are plain JavaScript');
  t.same(items[4]!.value, { carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 2 }] });
});

t.test('JSON is YAML; a List without items is an ordinary object', async (t) => {
  t.same(readYamlDocuments('{"kind": "List", "metadata": {"name": "x"}}', 'f.json').map((i) => i.value), [{ kind: 'List', metadata: { name: 'x' } }]);
  t.same(readYamlDocuments('', 'empty.yaml'), [], 'an empty stream has no items');
  t.same(readYamlDocuments('42\n---\n[1, 2]\n', 's.yaml').map((i) => i.value), [42, [1, 2]], 'scalars and arrays pass through');
});

t.test('a document that does not parse names the file and the document', async (t) => {
  const err = t.throws(() => readYamlDocuments('a: 1\n---\nb: [1, 2\n', 'broken.yaml')) as YamlDocumentError;
  t.type(err, YamlDocumentError);
  t.equal(err.document, 2);
  t.match(err.message, /^broken\.yaml: document 2: not valid YAML: \S/);
});
