import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { yamlProblem } from '../../src/core/yaml-error.js';

function errorOf(text: string): unknown {
  try {
    parse(text);
  } catch (err) {
    return err;
  }
  throw new Error(`${JSON.stringify(text)} parsed`);
}

// Real errors of the yaml package: the one line we make of each, with no code frame left.
const CASES: [text: string, line: string][] = [
  ['a: [', 'line 1, column 5: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]'],
  ['a: b\n  c: d\n', 'line 1, column 4: not valid YAML: Nested mappings are not allowed in compact mappings'],
  ['a: 1\na: 2\n', 'line 2, column 1: not valid YAML: Map keys must be unique'],
  ['{a', 'line 1, column 3: not valid YAML: Flow map must end with a }'],
  ['x: "abc\n', 'line 2, column 1: not valid YAML: Missing closing "quote'],
  ['- a\nb: c\n', 'line 2, column 1: not valid YAML: Unexpected scalar at node end'],
];

t.test('a parser error becomes one line with its line and column', async (t) => {
  for (const [text, line] of CASES) {
    const err = errorOf(text);
    t.match((err as Error).message, /at line \d+, column \d+:\n/, `${JSON.stringify(text)}: the parser's own message has the frame`);
    t.equal(yamlProblem(err), line, JSON.stringify(text));
  }
});

t.test('the errors of a document stream read the same', async (t) => {
  const [doc] = parseAllDocuments('a: [');
  t.equal(yamlProblem(doc!.errors[0]), CASES[0]![1]);
});

t.test('the name of the grammar, and errors without a position', async (t) => {
  t.equal(yamlProblem(errorOf('{a'), 'YAML or JSON'), 'line 1, column 3: not valid YAML or JSON: Flow map must end with a }');
  t.equal(
    yamlProblem(new Error('Excessive alias count indicates a resource exhaustion attack')),
    'not valid YAML: Excessive alias count indicates a resource exhaustion attack',
  );
  t.equal(yamlProblem('odd'), 'not valid YAML: odd');
});
