import t from 'tap';
import { type Labels, parseLabelSelector } from '../../src/config/label-selector.js';

/*
 * The cases are those of Kubernetes' own selector parser tests (apimachinery
 * pkg/labels/selector_test.go: TestSelectorParse, TestSetSelectorParser, TestLexer,
 * TestRequirementConstructor, TestSelectorMatches), so this parser accepts and refuses what
 * labels.Parse does, plus the selectors this project documents.
 */

// Each valid selector with labels it must match and labels it must not.
const VALID: [selector: string, matches: Labels[], misses: Labels[]][] = [
  ['', [{}, { x: 'a' }], []],
  ['x=a,y=b,z=c', [{ x: 'a', y: 'b', z: 'c' }], [{ x: 'a', y: 'b' }]],
  ['x!=a,y=b', [{ y: 'b' }, { x: 'c', y: 'b' }], [{ x: 'a', y: 'b' }]],
  ['x=', [{ x: '' }], [{}, { x: 'a' }]],
  ['x= ', [{ x: '' }], [{ x: 'a' }]],
  ['x=,z= ', [{ x: '', z: '' }], [{ x: '' }]],
  ['x= ,z= ', [{ x: '', z: '' }], [{ z: '' }]],
  ['!x', [{}, { y: 'x' }], [{ x: '' }, { x: 'z' }]],
  ['x', [{ x: '' }, { x: 'z' }], [{}, { y: 'z' }]],
  ['x>1', [{ x: '2' }, { x: '+5' }], [{ x: '1' }, { x: '0' }, { x: 'v2' }, {}]],
  ['x>1,z<5', [{ x: '2', z: '4' }], [{ x: '2', z: '5' }]],
  ['x<7', [{ x: '6' }, { x: '-3' }], [{ x: '7' }, { x: 'seven' }]],
  ['x=a,a=x', [{ x: 'a', a: 'x' }], [{ x: 'a' }]],
  ['\rx', [{ x: 'y' }], [{}]],
  ['a ', [{ a: '' }], [{}]],
  ['this-is-a-dns.domain.com/key-with-dash', [{ 'this-is-a-dns.domain.com/key-with-dash': 'v' }], [{}]],
  ['this-is-another-dns.domain.com/key-with-dash in (so,what)', [{ 'this-is-another-dns.domain.com/key-with-dash': 'so' }], [{}]],
  ['0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)', [{}, { '0.1.2.domain/99': 'x' }], [{ '0.1.2.domain/99': 'tick.tack.clock' }]],
  ['foo  in\t (abc)', [{ foo: 'abc' }], [{ foo: 'abd' }, {}]],
  ['x notin\n (abc)', [{ x: 'abd' }, {}], [{ x: 'abc' }]],
  ['x  notin\t\t\t(abc,def)', [{ x: 'ab' }], [{ x: 'def' }]],
  ['x in (abc,def)', [{ x: 'abc' }, { x: 'def' }], [{ x: 'ab' }, {}]],
  ['x in (abc,)', [{ x: 'abc' }, { x: '' }], [{ x: 'def' }]],
  ['x in ()', [{ x: '' }], [{}, { x: 'a' }]],
  [
    'x notin (abc,,def),bar,z in (),w',
    [{ bar: '', z: '', w: '1' }],
    [
      { x: '', bar: '', z: '', w: '' },
      { bar: '', z: 'a', w: '' },
    ],
  ],
  ['x,y in (a)', [{ x: '', y: 'a' }], [{ y: 'a' }]],
  ['x=a,y!=b,z in (h,i,j)', [{ x: 'a', z: 'h' }], [{ x: 'a', y: 'b', z: 'h' }]],
  ['x notin ( )', [{}, { x: 'a' }], [{ x: '' }]],
  ['x notin (, a)', [{ x: 'b' }], [{ x: '' }, { x: 'a' }]],
  ['a in (x,y,notin, z,in)', [{ a: 'in' }, { a: 'notin' }, { a: 'z' }], [{ a: 'n' }]],
  ['1foo in (bar)', [{ '1foo': 'bar' }], [{}]],
  ['1234 in (bar)', [{ 1234: 'bar' }], [{}]],
  ['in in (in)', [{ in: 'in' }], [{ in: 'notin' }]],
  ['a==b', [{ a: 'b' }], [{ a: 'c' }]],
  ['foo=bar,baz=blah', [{ foo: 'bar', baz: 'blah' }], [{ foo: 'bar', foobar: 'bar', baz: 'bar' }]],
  ['team=a, env!=prod,keda-carbon.io/policy,!legacy', [{ team: 'a', env: 'dev', 'keda-carbon.io/policy': 'x' }], [{ team: 'a', legacy: '' }]],
  [
    'kubernetes.io/metadata.name notin (kube-system,kube-node-lease,keda-carbon)',
    [{ 'kubernetes.io/metadata.name': 'shop' }, {}],
    [{ 'kubernetes.io/metadata.name': 'kube-system' }],
  ],
  // A key named like an Object.prototype member is still only a label.
  ['constructor', [{ constructor: 'x' }], [{}]],
];

// Each selector Kubernetes refuses, with what the message must say.
const INVALID: [selector: string, says: RegExp][] = [
  ['x=a||y=b', /the value "a\|\|y" of "x" is not letters/],
  ['x==a==b', /found "==" where "," or the end was expected/],
  ['a=b=c', /found "=" where "," or the end was expected/],
  ['!x=a', /found "=" where "," or the end was expected/],
  ['x<a', /"x" < needs an integer, got "a"/],
  ['foo>bar', /needs an integer/],
  ['x>99999999999999999999', /needs an integer/],
  ['x,,y', /found "," where a label key or "!" was expected/],
  [',x,y', /found "," where a label key or "!" was expected/],
  [',', /found "," where a label key or "!" was expected/],
  [' , ', /found "," where a label key or "!" was expected/],
  ['a in (xyz),', /found the end where a label key or "!" was expected/],
  ['x nott in (y)', /found "nott" where an operator/],
  ['a b', /found "b" where an operator/],
  ['a b=c', /found "b" where an operator/],
  ['a in (xyz)b notin ()', /found "b" where "," or the end was expected/],
  ['a in (xyz abc)', /found "abc" where "," or "\)" was expected/],
  ['a notin(', /found the end where a value, "," or "\)" was expected/],
  ['a in (=)', /found "=" where a value, "," or "\)" was expected/],
  ['a in x', /found "x" where "\(" was expected/],
  ['a (', /found "\(" where an operator/],
  ['(', /found "\(" where a label key or "!" was expected/],
  ['!', /found the end where a label key was expected/],
  ['x !', /found "!" where an operator/],
  ['x=(', /found "\(" where a value was expected/],
  [`${'a'.repeat(254)}`, /has a name longer than 63 characters/],
  [`${'a'.repeat(64)}`, /has a name longer than 63 characters/],
  ['a/b/c', /has more than one "\/"/],
  ['/a', /has an empty prefix/],
  ['a/', /has an empty name/],
  ['Example.com/a', /has a prefix that is not a DNS subdomain/],
  ['-a', /the key "-a" has a name that is not letters/],
  ['a=-b', /the value "-b" of "a" is not letters/],
  [`a=${'b'.repeat(64)}`, /is longer than 63 characters/],
  ['a in (b,c d)', /found "d" where "," or "\)" was expected/],
];

t.test('valid selectors parse and match as in Kubernetes', async (t) => {
  for (const [selector, matches, misses] of VALID) {
    const sel = parseLabelSelector(selector);
    for (const labels of matches) t.equal(sel(labels), true, `${JSON.stringify(selector)} matches ${JSON.stringify(labels)}`);
    for (const labels of misses) t.equal(sel(labels), false, `${JSON.stringify(selector)} does not match ${JSON.stringify(labels)}`);
  }
});

t.test('invalid selectors are refused, naming the selector and the fault', async (t) => {
  for (const [selector, says] of INVALID) {
    let message = '';
    try {
      parseLabelSelector(selector);
    } catch (err) {
      message = (err as Error).message;
    }
    t.match(message, says, `${JSON.stringify(selector)} is refused`);
    t.ok(message.startsWith(`label selector ${JSON.stringify(selector)}: `), `the message names ${JSON.stringify(selector)}: ${message}`);
  }
});
