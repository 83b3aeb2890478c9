import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import t from 'tap';

// package.json's engines.node is a promise to the people who run `npm ci`: every locked
// package must accept every Node version it allows, or npm warns EBADENGINE (and the package
// may use what that Node lacks). semver is npm's own range logic, locked as a dependency of
// the Kubernetes client.

interface Semver {
  subset(sub: string, dom: string): boolean;
  intersects(a: string, b: string): boolean;
  satisfies(version: string, range: string): boolean;
}
const semver = createRequire(import.meta.url)('semver') as Semver;

const read = async (path: string) => JSON.parse(await readFile(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8'));

t.test('every locked package accepts every Node version package.json allows, and that is Node 20 and 22', async (t) => {
  const pkg = (await read('package.json')) as { engines: { node: string } };
  const lock = (await read('package-lock.json')) as { packages: Record<string, { version?: string; engines?: { node?: string } | string[] }> };
  const ours = pkg.engines.node;
  const rootEngines = lock.packages['']?.engines;
  t.equal(Array.isArray(rootEngines) ? undefined : rootEngines?.node, ours, 'the lockfile has the same engines');
  for (const major of ['20', '22']) t.ok(semver.intersects(ours, major), `Node ${major} is supported (${ours})`);
  t.ok(semver.satisfies(process.version, ours), `the Node running the tests, ${process.version}, is one of them`);
  const excluding: string[] = [];
  let checked = 0;
  for (const [path, entry] of Object.entries(lock.packages)) {
    // engines as an array is the old npm form without a node range
    const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
    if (!path || range === undefined) continue;
    checked++;
    if (!semver.subset(ours, range)) excluding.push(`${path.replace(/^.*node_modules\//, '')}@${entry.version}: ${range}`);
  }
  t.ok(checked > 100, `${checked} locked packages state engines.node`);
  t.same(excluding, [], `packages that reject part of ${ours}`);
});
