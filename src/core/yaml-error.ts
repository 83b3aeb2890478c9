/** What the yaml package's errors carry besides the message: where the fault starts. */
interface Positioned {
  message?: unknown;
  linePos?: readonly { line: number; col: number }[];
}

/**
 * A YAML parser error as one line, `line 3, column 5: not valid YAML: Map keys must be unique`.
 * The parser's message ends in ` at line 3, column 5:` followed by a code frame of the
 * offending lines; cut at the first line, that frame would leave a dangling colon, and the
 * frame itself would spread one error over several log lines.
 */
export function yamlProblem(err: unknown, what = 'YAML'): string {
  const e = (err ?? {}) as Positioned;
  const first = (typeof e.message === 'string' ? e.message : String(err)).split('\n')[0]!.trim();
  const reason = first.replace(/\s*at line \d+, column \d+:?$/, '').replace(/:$/, '');
  const pos = e.linePos?.[0];
  return `${pos ? `line ${pos.line}, column ${pos.col}: ` : ''}not valid ${what}: ${reason}`;
}
