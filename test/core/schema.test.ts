import t from 'tap';
import { FieldError } from '../../src/core/field-error.js';
import { custom, fieldRows, integer, list, number, object, oneOf, optional, refine, required } from '../../src/core/schema.js';

const point = object(
  { x: required(number(0), 'across'), y: optional(integer(1), 1, 'up', '1') },
  { notMapping: (got) => `must be a point, got ${got}` },
  (p) => ({ sum: p.x + p.y }),
);
const shape = object(
  {
    points: required(
      refine(list(point, { min: 1, max: 3, items: 'points', notList: (got) => `must be a list of points, got ${got}` }), (ps, at) => {
        if (ps.length === 2) throw new FieldError(at, 'two points make no shape');
        return ps;
      }),
      'corners',
    ),
    kind: optional(oneOf(['open', 'closed', 'filled']), 'open', 'how it is drawn', 'open'),
    tag: optional(
      custom<string, string>('a tag', { type: 'string' }, (v, at) => {
        if (typeof v !== 'string') throw new FieldError(at, 'must be a tag');
        return v.toUpperCase();
      }),
      null,
      'a label',
    ),
  },
  { notMapping: (got) => `a shape must be a mapping, got ${got}` },
);

t.test('parses into the built form, absent fields take their value', async (t) => {
  t.same(shape.parse({ points: [{ x: 1 }], tag: 'a' }, ''), { points: [{ sum: 2 }], kind: 'open', tag: 'A' });
  t.same(
    shape.parse(
      {
        points: [
          { x: 1, y: null },
          { x: 0, y: 3 },
          { x: 2, y: 2 },
        ],
        kind: 'filled',
        tag: null,
      },
      '',
    ),
    {
      points: [{ sum: 2 }, { sum: 3 }, { sum: 4 }],
      kind: 'filled',
      tag: null,
    },
  );
});

t.test('every error names the field and the rule', async (t) => {
  const cases: [unknown, string | RegExp][] = [
    [[], 'a shape must be a mapping, got []'],
    [{ points: [{ x: 1 }], colour: 'red' }, 'colour: unknown field (expected one of points, kind, tag)'],
    [{ points: [{ x: 1, z: 2 }] }, 'points[0].z: unknown field (expected one of x, y)'],
    [{}, 'points: must be a list of points, got nothing'],
    [{ points: [] }, 'points: must be a list of points, got []'],
    [{ points: [{ x: 1 }, { x: 1 }, { x: 1 }, { x: 1 }] }, 'points: has 4 points; at most 3 are allowed'],
    [{ points: [{ x: 1 }, { x: 2 }] }, 'points: two points make no shape'],
    [{ points: ['p'] }, 'points[0]: must be a point, got "p"'],
    [{ points: [{ x: -1 }] }, 'points[0].x: must be a number >= 0, got -1'],
    [{ points: [{ x: 1, y: 1.5 }] }, 'points[0].y: must be an integer >= 1, got 1.5'],
    [{ points: [{ x: 1 }], kind: 'dotted' }, 'kind: must be "open", "closed" or "filled", got "dotted"'],
    [{ points: [{ x: 1 }], tag: 3 }, 'tag: must be a tag'],
    [{ points: [{ x: 1 }], [`${'k'.repeat(100)}`]: 1 }, /^k{45}\.\.\. \(100 chars\): unknown field/],
  ];
  for (const [doc, message] of cases) t.throws(() => shape.parse(doc, ''), { name: 'FieldError', message });
});

t.test('the JSON Schema and the field rows come from the same declaration', async (t) => {
  t.same(shape.schema, {
    type: 'object',
    required: ['points'],
    properties: {
      points: {
        description: 'corners',
        type: 'array',
        minItems: 1,
        maxItems: 3,
        items: {
          type: 'object',
          required: ['x'],
          properties: { x: { description: 'across', type: 'number', minimum: 0 }, y: { description: 'up', type: 'integer', minimum: 1 } },
        },
      },
      kind: { description: 'how it is drawn', type: 'string', enum: ['open', 'closed', 'filled'] },
      tag: { description: 'a label', type: 'string' },
    },
  });
  t.same(
    fieldRows(shape).map((r) => [r.path, r.type, r.required, r.byDefault]),
    [
      ['points', 'list of 1 to 3 points', true, null],
      ['points[].x', 'number >= 0', true, null],
      ['points[].y', 'integer >= 1', false, '1'],
      ['kind', '`open` \\| `closed` \\| `filled`', false, 'open'],
      ['tag', 'a tag', false, null],
    ],
  );
});
