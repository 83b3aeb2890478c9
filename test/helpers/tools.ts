/**
 * The helm and kubectl the deployment tests run: the ones .ci/tools.sh installs into
 * .tools/bin, never whatever happens to be on PATH (a system kubectl may be too old for the
 * chart's tests, and helm is not packaged at all).
 */
import type { Test } from 'tap';
import { accessSync, constants } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Tool = 'helm' | 'kubectl';

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../.tools/bin');

/** Where .ci/tools.sh puts `name`, present or not. */
export function toolPath(name: Tool): string {
  return join(BIN, name);
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The paths of `names`. When one is missing the test file ends here: under CI (CI=true) as a
 * failure, since a skipped render test would let a broken chart through; on a developer
 * machine as a skip that names the command installing them.
 */
export function requireTools<N extends Tool>(t: Test, names: N[], env: NodeJS.ProcessEnv = process.env): Record<N, string> {
  const missing = names.filter((n) => !executable(toolPath(n)));
  if (missing.length === 0) return Object.fromEntries(names.map((n) => [n, toolPath(n)])) as Record<N, string>;
  const why = `${missing.join(' and ')} not installed in .tools/bin (run bash .ci/tools.sh)`;
  if (env.CI === 'true') {
    t.fail(why);
    process.exit(1);
  }
  t.plan(0, why);
  process.exit(0);
}
