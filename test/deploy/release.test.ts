/**
 * npm run release (.ci/release.sh) without the image (the image is built from the release by
 * .ci/node.sh and installed on a real node by test/node/): the packaged chart, the plain
 * manifest and the checksums agree with package.json, and a release whose parts disagree is
 * refused.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { requireTools, toolPath } from '../helpers/tools.js';

const ROOT = resolve(import.meta.dirname, '../..');
const tools = requireTools(t, ['helm']);
const version = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).version as string;

function run(cmd: string, args: string[], cwd = ROOT): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(cmd, args, { cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const status = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      done({ status, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const out = await mkdtemp(join(tmpdir(), 'keda-carbon-release-'));
t.teardown(() => rm(out, { recursive: true, force: true }));

t.test('the chart, the manifest and the checksums carry package.json version', async (t) => {
  const r = await run('bash', ['.ci/release.sh', '--no-image', '--out', out]);
  t.equal(r.status, 0, `release.sh ${r.stderr}`);
  const image = `ghcr.io/keda-carbon/keda-carbon:${version}`;
  t.match(r.stdout, `image: ${image}`, 'names the image the manifest runs');

  const chart = await run(tools.helm, ['show', 'chart', join(out, `keda-carbon-${version}.tgz`)]);
  t.match(chart.stdout, new RegExp(`^version: ${version.replaceAll('.', '\\.')}$`, 'm'), 'the packaged chart has the version');
  t.match(chart.stdout, new RegExp(`^appVersion: "?${version.replaceAll('.', '\\.')}"?$`, 'm'), 'and the appVersion');

  const docs = parseAllDocuments(await readFile(join(out, 'keda-carbon.yaml'), 'utf8')).map((d) => d.toJS() as any);
  t.same([docs[0].kind, docs[0].metadata.name], ['Namespace', 'keda-carbon'], 'the Namespace comes first');
  const images = JSON.stringify(docs).match(/"image":"[^"]+"/g) ?? [];
  t.ok(images.length > 0, 'the manifest runs an image');
  t.same([...new Set(images)], [`"image":"${image}"`], 'every container runs the release image');
  const hooks = docs.filter((d) => d.metadata?.annotations?.['helm.sh/hook']).map((d) => `${d.kind}/${d.metadata.name}`);
  t.same(hooks, [], 'no Helm hook in a manifest meant for kubectl apply');
  const elsewhere = docs.filter((d) => d.metadata?.namespace && d.metadata.namespace !== 'keda-carbon').map((d) => `${d.kind}/${d.metadata.name}`);
  t.same(elsewhere, [], 'every namespaced object in keda-carbon');

  const sums = (await readFile(join(out, 'SHA256SUMS'), 'utf8')).trim().split('\n');
  t.equal(sums.length, 2, 'a checksum for the chart and the manifest');
  for (const line of sums) {
    const [sum, file = ''] = line.split(/\s+/);
    t.equal(
      createHash('sha256')
        .update(await readFile(join(out, file)))
        .digest('hex'),
      sum,
      `${file} matches its checksum`,
    );
  }
});

t.test('a chart whose version differs from package.json is refused', async (t) => {
  const tree = await mkdtemp(join(tmpdir(), 'keda-carbon-release-tree-'));
  t.teardown(() => rm(tree, { recursive: true, force: true }));
  for (const p of ['.ci', 'webhook-config/chart', 'package.json']) await cp(join(ROOT, p), join(tree, p), { recursive: true });
  await symlink(resolve(toolPath('helm'), '../..'), join(tree, '.tools'));
  const chartYaml = join(tree, 'webhook-config/chart/Chart.yaml');
  await writeFile(chartYaml, (await readFile(chartYaml, 'utf8')).replace(/^version: .*$/m, 'version: 9.9.9'));
  const r = await run('bash', ['.ci/release.sh', '--no-image', '--out', join(tree, 'out')], tree);
  t.equal(r.status, 1, 'exit 1');
  t.match(r.stderr, `Chart.yaml version is 9.9.9, package.json says ${version}`, 'says which versions disagree');
});
