import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

// Tests mirror src/: src/a/b.ts is tested by test/a/b.test.ts, so whoever changes a module
// finds its test at once. A module without one carries a written reason in
// mirror-reasons.json (a type module, a class whose every use is asserted elsewhere, a
// wiring file tested through its only caller), and that list only names files that exist
// and still lack a test of their own.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const REASONS = JSON.parse(readFileSync(join(ROOT, 'test/architecture/mirror-reasons.json'), 'utf8')) as Record<string, string>;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  );
}

/** src/a/b.ts -> test/a/b.test.ts */
function mirrorOf(src: string): string {
  return src.replace(/^src\//, 'test/').replace(/\.ts$/, '.test.ts');
}

const sources = sourceFiles(join(ROOT, 'src')).map((f) => relative(ROOT, f));

t.test('every src file has a test at the mirrored path, or a written reason', async (t) => {
  t.ok(sources.length > 50, `${sources.length} src files`);
  const missing = sources.filter((s) => !existsSync(join(ROOT, mirrorOf(s))) && !REASONS[s]);
  t.same(missing, [], 'add the test (test/<same path>.test.ts) or a reason in test/architecture/mirror-reasons.json');
});

t.test('the reasons list is kept honest', async (t) => {
  const gone = Object.keys(REASONS).filter((s) => !sources.includes(s));
  t.same(gone, [], 'reasons for files that no longer exist');
  const tested = Object.keys(REASONS).filter((s) => existsSync(join(ROOT, mirrorOf(s))));
  t.same(tested, [], 'reasons for files that now have a test of their own: drop them');
  const named = Object.values(REASONS).flatMap((why) => why.match(/test\/[\w/.-]+\.(?:test\.)?ts/g) ?? []);
  t.same(
    named.filter((p) => !existsSync(join(ROOT, p))),
    [],
    'every test a reason points to exists',
  );
  const thin = Object.entries(REASONS).filter(([, why]) => why.trim().length < 20);
  t.same(thin, [], 'a reason is a sentence, not a word');
});

t.test('the mirrored path', async (t) => {
  t.equal(mirrorOf('src/core/plan.ts'), 'test/core/plan.test.ts');
  t.equal(mirrorOf('src/log.ts'), 'test/log.test.ts');
});
