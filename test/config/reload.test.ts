import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { watchConfig } from '../../src/config/reload.js';
import type { RuntimeConfig } from '../../src/config/config.js';
import { captureLogger } from '../helpers/log.js';
import { until } from '../helpers/until.js';

const text = (emission: number) => `policies:\n  standard:\n    carbon: [{measuredEmission: ${emission}, allowedMaxReplicaCount: 2}]\n`;
const msgs = (lines: string[]) => lines.map((l) => (JSON.parse(l) as { msg: string }).msg);

/** A config file holding text(300), watched every 20 ms; what is applied and logged is kept. */
async function watched(t: Test): Promise<{ path: string; lines: string[]; applied: RuntimeConfig[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-reload-unit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'config.yaml');
  await writeFile(path, text(300));
  const { logger, lines } = captureLogger();
  const applied: RuntimeConfig[] = [];
  t.teardown(watchConfig(path, text(300), logger, (c) => applied.push(c), 20));
  return { path, lines, applied };
}

t.test('an emptied config file (a writer between truncate and write) keeps the running config; the next write applies', async (t) => {
  const { path, lines, applied } = await watched(t);

  await truncate(path, 0);
  await until(() => msgs(lines).includes('config file is empty; keeping the previous configuration'), 'the empty file to be seen');
  t.equal(applied.length, 0, 'nothing applied from an empty file');

  await writeFile(path, text(400));
  await until(() => applied.length > 0, 'the written file to be applied');
  t.equal(applied.length, 1);
  t.equal(applied[0]!.policies.get('standard')?.bands[0]?.threshold, 400, 'the new text is the one applied');
  t.ok(msgs(lines).includes('configuration reloaded'));
});

t.test('emptied and then written back to the running text: nothing to apply', async (t) => {
  const { path, lines, applied } = await watched(t);
  await writeFile(path, '  \n');
  await until(() => msgs(lines).includes('config file is empty; keeping the previous configuration'), 'the empty file to be seen');
  await writeFile(path, text(300));
  // A later change is applied; had the running text been re-applied, it would come first.
  await writeFile(path, text(500));
  await until(() => applied.length > 0, 'the later change to be applied');
  t.equal(applied.length, 1, 'the same text as the running config is not re-applied');
  t.equal(applied[0]!.policies.get('standard')?.bands[0]?.threshold, 500);
});
