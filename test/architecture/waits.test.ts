import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

// A test that sleeps a fixed time and then looks passes or fails with the machine's speed:
// on a slow machine the awaited thing has not happened yet, and a check that something did
// NOT happen passes without testing anything. Tests wait on the event itself (a log line, a
// metric, a promise), poll a real condition through test/helpers/until.ts, or drive a fake
// clock (test/helpers/clock.ts). Those two helpers are the only places that may do either.

const TEST = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HELPERS = new Set(['helpers/until.ts', 'helpers/clock.ts']);

/**
 * Test files that still wait a fixed time, each with why; this list only shrinks. Pacing
 * (doing something at a steady rate while something else happens) is not waiting for an
 * event, but it is listed all the same so every timer in a test is accounted for.
 */
const ALLOWED = new Map<string, string>([
  ['e2e/controller-outages.test.ts', 'the outage schedule: faults start and end at set wall-clock moments of the scenario'],
  ['helpers/node-cluster.ts', 'pacing: one write a second during a rollout'],
  ['node/helm.test.ts', 'pacing: writes go on for 20 s after the renewal so every replica is seen reloading'],
  ['node/node.test.ts', 'pacing of writes during a rollout, and a poll of the node that has no event'],
]);

const PATTERNS: Array<[RegExp, string]> = [
  [/setTimeout\(\s*(?:r|res|resolve)\s*,/, 'a fixed sleep (a promise resolved by a timer)'],
  [/setTimeout\(\(\)\s*=>\s*(?:r|res|resolve)\(/, 'a timed resolve (a race against a fixed delay)'],
  [/for \([^)]*&&[^)]*\)\s*await\b/, 'a hand-rolled poll (use until())'],
  [/while \([^)]*Date\.now\(\) </, 'a hand-rolled poll against the wall clock (use until())'],
];

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every fixed wait in the test tree, as `file:line: what`. */
function fixedWaits(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of testFiles(TEST)) {
    const rel = relative(TEST, file);
    if (HELPERS.has(rel)) continue;
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const [re, what] of PATTERNS) {
          if (re.test(line)) found.set(rel, [...(found.get(rel) ?? []), `${rel}:${i + 1}: ${what}`]);
        }
      });
  }
  return found;
}

t.test('no test waits a fixed time for something to happen', async (t) => {
  const found = fixedWaits();
  const unexpected = [...found].filter(([file]) => !ALLOWED.has(file)).flatMap(([, lines]) => lines);
  t.same(unexpected, [], 'wait on the event, until() a real condition, or drive a fake clock');
  const stale = [...ALLOWED.keys()].filter((file) => !found.has(file));
  t.same(stale, [], 'allowed files that no longer sleep: take them off the list');
});

t.test('the check sees each kind of fixed wait', async (t) => {
  // The samples live in a fixture so that this file holds no wait of its own to flag.
  const text = readFileSync(join(TEST, 'fixtures', 'waits', 'samples.txt'), 'utf8')
    .replaceAll('TIMER', ['set', 'Timeout'].join(''))
    .replaceAll('TICK', 'tick');
  const [flagged, bounded] = text.split('\n---\n').map((part) => part.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#')));
  t.equal(flagged!.length, 4, 'one sample of each kind');
  for (const s of flagged!)
    t.ok(
      PATTERNS.some(([re]) => re.test(s)),
      s,
    );
  for (const s of bounded!)
    t.notOk(
      PATTERNS.some(([re]) => re.test(s)),
      `a timeout that bounds a wait is not a sleep: ${s}`,
    );
});
