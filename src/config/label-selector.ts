/** Labels of one object; a selector is a predicate over them. */
export type Labels = Readonly<Record<string, string>>;
export type LabelSelector = (labels: Labels) => boolean;

/*
 * The grammar is Kubernetes' own (k8s.io/apimachinery labels.Parse), so that a selector the
 * API server would refuse is refused here too, and one it takes means the same thing:
 *
 *   selector    ::= "" | requirement ("," requirement)*
 *   requirement ::= ["!"] KEY | KEY ("=" | "==" | "!=") [VALUE] | KEY (">" | "<") INTEGER
 *                 | KEY ("in" | "notin") "(" [VALUE] ("," [VALUE])* ")"
 *
 * An empty value is a value: `x in ()` and `x=` select objects whose label x is "".
 */

type Kind = 'word' | 'in' | 'notin' | '!' | '!=' | '=' | '==' | '>' | '<' | '(' | ')' | ',' | 'end';
interface Token {
  kind: Kind;
  text: string;
}

const SPECIAL = new Set(['!', '=', '>', '<', '(', ')', ',']);
const SYMBOLS = new Set(['!', '!=', '=', '==', '>', '<', '(', ')', ',']);
const BLANK = new Set([' ', '\t', '\r', '\n']);

/** Symbols are read longest first (`!=` before `!`); any other run of characters is a word. */
function lex(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && BLANK.has(text[i]!)) i++;
    if (i >= text.length) return [...out, { kind: 'end', text: '' }];
    let j = i;
    if (SPECIAL.has(text[i]!)) {
      while (j < text.length && SYMBOLS.has(text.slice(i, j + 1))) j++;
    } else {
      while (j < text.length && !SPECIAL.has(text[j]!) && !BLANK.has(text[j]!)) j++;
    }
    const word = text.slice(i, j);
    out.push({ kind: SYMBOLS.has(word) || word === 'in' || word === 'notin' ? (word as Kind) : 'word', text: word });
    i = j;
  }
}

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };

/** Why `key` is not a qualified name (`[prefix/]name`), or undefined when it is one. */
function keyProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return 'has more than one "/"';
  const name = parts.at(-1)!;
  const prefix = parts.length === 2 ? parts[0]! : undefined;
  if (prefix !== undefined && prefix === '') return 'has an empty prefix before "/"';
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
    return 'has a prefix that is not a DNS subdomain (lower-case letters, digits, "-" and ".", at most 253 characters)';
  if (name === '') return 'has an empty name';
  if (name.length > 63) return 'has a name longer than 63 characters';
  if (!NAME.test(name)) return 'has a name that is not letters, digits, "-", "_" and ".", beginning and ending with a letter or digit';
  return undefined;
}

function valueProblem(value: string): string | undefined {
  if (value.length > 63) return 'is longer than 63 characters';
  if (value !== '' && !NAME.test(value)) return 'is not letters, digits, "-", "_" and ".", beginning and ending with a letter or digit';
  return undefined;
}

function integer(text: string): bigint | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const n = BigInt(text);
  return n >= INT64.min && n <= INT64.max ? n : undefined;
}

type Operator = 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | '>' | '<';
interface Requirement {
  key: string;
  op: Operator;
  values: string[];
}

const OPERATORS: Partial<Record<Kind, Operator>> = { '=': '=', '==': '=', '!=': '!=', in: 'in', notin: 'notin', '>': '>', '<': '<' };

class Parser {
  private readonly tokens: Token[];
  private at = 0;

  constructor(private readonly source: string) {
    this.tokens = lex(source);
  }

  /** Where a value may stand, `in` and `notin` are plain words. */
  private peek(asValue = true): Token {
    const tok = this.tokens[this.at]!;
    return asValue && (tok.kind === 'in' || tok.kind === 'notin') ? { kind: 'word', text: tok.text } : tok;
  }

  private take(asValue = true): Token {
    const tok = this.peek(asValue);
    this.at++;
    return tok;
  }

  fail(problem: string): never {
    throw new Error(`label selector ${JSON.stringify(this.source)}: ${problem}`);
  }

  unexpected(tok: Token, expected: string): never {
    return this.fail(`found ${tok.kind === 'end' ? 'the end' : JSON.stringify(tok.text)} where ${expected} was expected`);
  }

  parse(): Requirement[] {
    const out: Requirement[] = [];
    if (this.peek().kind === 'end') return out;
    for (;;) {
      const first = this.peek();
      if (first.kind !== 'word' && first.kind !== '!') this.unexpected(first, 'a label key or "!"');
      out.push(this.requirement());
      const next = this.take();
      if (next.kind === 'end') return out;
      if (next.kind !== ',') this.unexpected(next, '"," or the end');
    }
  }

  private requirement(): Requirement {
    const negated = this.peek().kind === '!';
    if (negated) this.take();
    const keyTok = this.take();
    if (keyTok.kind !== 'word') this.unexpected(keyTok, 'a label key');
    const key = keyTok.text;
    const problem = keyProblem(key);
    if (problem) this.fail(`the key ${JSON.stringify(key)} ${problem}`);
    const after = this.peek().kind;
    if (negated || after === 'end' || after === ',') return { key, op: negated ? '!' : 'exists', values: [] };
    const opTok = this.take(false);
    const op = OPERATORS[opTok.kind];
    if (op === undefined) return this.unexpected(opTok, 'an operator (=, ==, !=, in, notin, >, <)');
    const values = op === 'in' || op === 'notin' ? this.valueList() : [this.exactValue()];
    for (const v of values) {
      const bad = valueProblem(v);
      if (bad) this.fail(`the value ${JSON.stringify(v)} of ${JSON.stringify(key)} ${bad}`);
    }
    if ((op === '>' || op === '<') && integer(values[0]!) === undefined)
      this.fail(`${JSON.stringify(key)} ${op} needs an integer, got ${JSON.stringify(values[0])}`);
    return { key, op, values };
  }

  private exactValue(): string {
    const tok = this.peek();
    if (tok.kind === 'end' || tok.kind === ',') return '';
    this.take();
    if (tok.kind !== 'word') this.unexpected(tok, 'a value');
    return tok.text;
  }

  /** `(a,b)`; an empty place in the list (`()`, `(a,)`, `(,a)`) is the empty value. */
  private valueList(): string[] {
    const open = this.take();
    if (open.kind !== '(') this.unexpected(open, '"("');
    const values: string[] = [];
    for (;;) {
      const tok = this.peek();
      if (tok.kind === 'word') {
        values.push(tok.text);
        this.take();
      } else {
        values.push('');
      }
      const sep = this.take();
      if (sep.kind === ')') return values;
      if (sep.kind !== ',') this.unexpected(sep, tok.kind === 'word' ? '"," or ")"' : 'a value, "," or ")"');
    }
  }
}

function matcher(r: Requirement): LabelSelector {
  const { key, op } = r;
  const values = new Set(r.values);
  const has = (l: Labels) => Object.hasOwn(l, key);
  switch (op) {
    case 'exists':
      return has;
    case '!':
      return (l) => !has(l);
    case '=':
    case 'in':
      return (l) => has(l) && values.has(l[key]!);
    case '!=':
    case 'notin':
      return (l) => !has(l) || !values.has(l[key]!);
    default: {
      const bound = integer(r.values[0]!)!;
      return (l) => {
        const n = has(l) ? integer(l[key]!) : undefined;
        return n !== undefined && (op === '>' ? n > bound : n < bound);
      };
    }
  }
}

/**
 * A Kubernetes label selector in its string form: `k=v`, `k==v`, `k!=v`, `k`, `!k`,
 * `k in (a,b)`, `k notin (a,b)`, `k>1` and `k<1`, joined by commas (all must hold). As in
 * Kubernetes, `!=` and `notin` also match objects that lack the label, and the empty
 * selector matches everything. Throws, naming the selector and the fault, on anything
 * Kubernetes would refuse.
 */
export function parseLabelSelector(text: string): LabelSelector {
  const tests = new Parser(text).parse().map(matcher);
  return (labels) => tests.every((f) => f(labels));
}
