/** Labels of one object; a selector is a predicate over them. */
export type Labels = Readonly<Record<string, string>>;
export type LabelSelector = (labels: Labels) => boolean;

const KEY = /^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/;

/** Split on the commas between terms, not the ones inside `in (a,b)`. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(current.trim());
      current = '';
    } else {
      current += ch;
    }
  }
  out.push(current.trim());
  return out.filter((s) => s !== '');
}

function key(term: string, k: string): string {
  if (!KEY.test(k)) throw new Error(`label selector term ${JSON.stringify(term)}: ${JSON.stringify(k)} is not a label key`);
  return k;
}

/**
 * A Kubernetes label selector in its string form: `k=v`, `k==v`, `k!=v`, `k`, `!k`,
 * `k in (a,b)` and `k notin (a,b)`, joined by commas (all must hold). As in Kubernetes,
 * `!=` and `notin` also match objects that lack the label.
 */
export function parseLabelSelector(text: string): LabelSelector {
  const parts = terms(text);
  if (parts.length === 0) throw new Error(`empty label selector ${JSON.stringify(text)}`);
  const tests = parts.map((term): LabelSelector => {
    const set = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(term);
    if (set) {
      const [, k, op, list] = set as unknown as [string, string, string, string];
      const name = key(term, k);
      const values = new Set(
        list
          .split(',')
          .map((v) => v.trim())
          .filter((v) => v !== ''),
      );
      return op === 'in' ? (l) => name in l && values.has(l[name]!) : (l) => !(name in l) || !values.has(l[name]!);
    }
    const eq = /^([^!=]+?)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (eq) {
      const [, k, op, value] = eq as unknown as [string, string, string, string];
      const name = key(term, k);
      return op === '!=' ? (l) => l[name] !== value : (l) => l[name] === value;
    }
    const neg = term.startsWith('!');
    const name = neg ? term.slice(1).trim() : term;
    if (!KEY.test(name))
      throw new Error(`label selector term ${JSON.stringify(term)} is not key, !key, key=value, key!=value, key in (...) or key notin (...)`);
    return neg ? (l) => !(name in l) : (l) => name in l;
  });
  return (labels) => tests.every((f) => f(labels));
}
