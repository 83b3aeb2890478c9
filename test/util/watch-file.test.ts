import t, { type Test } from 'tap';
import { mkdir, mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchFile } from '../../src/util/watch-file.js';
import { publish } from '../helpers/volume.js';
import { until } from '../helpers/until.js';
import { FakeClock } from '../helpers/clock.js';

const FAST = { intervalMs: 20, debounceMs: 10 };

/**
 * A fake clock drives the polls and the debounce; `poll()` lets one poll interval pass and
 * resolves once the watcher has looked at the files (stat is real I/O, hence until()).
 */
function driven() {
  const clock = new FakeClock(0);
  let checks = 0;
  const options = { ...FAST, clock, onChecked: () => checks++ };
  const poll = async () => {
    const before = checks;
    await clock.advance(FAST.intervalMs);
    await until(() => checks > before, 'a poll of the files');
  };
  return { clock, options, poll, checks: () => checks };
}

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-watch-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a file replaced by rename is reported; the version present at start is not', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'config.yaml');
  await writeFile(file, 'a: 1\n');
  let calls = 0;
  const { options, poll } = driven();
  const stop = watchFile(file, () => calls++, options);
  t.teardown(stop);
  await poll();
  t.equal(calls, 0, 'the starting version is the baseline');
  await writeFile(`${file}.tmp`, 'a: 2\n');
  await rename(`${file}.tmp`, file);
  await poll();
  await poll();
  t.equal(calls, 1, 'one change, one call (and not again on the next poll)');
});

t.test('other files in the directory never fire, whatever happens to them', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'forecast.json');
  await writeFile(file, '[]');
  let calls = 0;
  const { options, poll } = driven();
  const stop = watchFile(file, () => calls++, options);
  t.teardown(stop);
  const sibling = join(dir, 'other.json');
  await writeFile(sibling, '1');
  await writeFile(sibling, '22');
  await rename(sibling, join(dir, 'moved.json'));
  await writeFile(join(dir, 'forecast.json.swp'), 'editor swap file');
  await unlink(join(dir, 'moved.json'));
  // A poll after all of it, and any debounce window passed: a watcher of the directory would have fired.
  await poll();
  t.equal(calls, 0, 'touching sibling files fires nothing');
  await writeFile(file, '[1]');
  await poll();
  t.equal(calls, 1, 'the watched file is reported by the next poll');
  t.equal(calls, 1, 'only the watched file fires');
});

t.test('a mounted volume update (a swapped ..data symlink) is reported', async (t) => {
  const dir = await tempDir(t);
  await publish(dir, { 'tls.crt': 'cert 1', 'tls.key': 'key 1', 'ca.crt': 'ca 1' }, 1);
  let calls = 0;
  const stop = watchFile([join(dir, 'tls.crt'), join(dir, 'tls.key')], () => calls++, FAST);
  t.teardown(stop);
  await publish(dir, { 'tls.crt': 'cert 2', 'tls.key': 'key 2', 'ca.crt': 'ca 2' }, 2);
  await until(() => calls > 0, 'the swap to be reported');
  t.pass('the swap is reported');
});

t.test('a file that appears, and one that goes away, are changes', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'late.yaml');
  let calls = 0;
  const stop = watchFile(file, () => calls++, FAST);
  t.teardown(stop);
  await writeFile(file, 'x');
  await until(() => calls > 0, 'the new file to be reported');
  const seen = calls;
  await unlink(file);
  await until(() => calls > seen, 'the removal to be reported');
  t.pass('both reported');
});

t.test('polling alone finds a change when the directory cannot be watched', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'missing-dir', 'f');
  const errors: Error[] = [];
  let calls = 0;
  const stop = watchFile(file, () => calls++, { ...FAST, onWatchError: (e) => errors.push(e) });
  t.teardown(stop);
  t.equal(errors.length, 1, 'the watch error is reported');
  await mkdir(join(dir, 'missing-dir'));
  await writeFile(file, 'now here');
  await until(() => calls > 0, 'the poll to see the file');
  t.pass('polled');
});

t.test('stop ends watching', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'f');
  await writeFile(file, '1');
  let calls = 0;
  const { clock, options, checks } = driven();
  const stop = watchFile(file, () => calls++, options);
  t.equal(clock.timers.length, 1, 'a poll is scheduled while watching');
  stop();
  t.equal(clock.timers.length, 0, 'stop cancels the poll (and any debounce)');
  await writeFile(file, '22');
  await clock.advance(FAST.intervalMs * 10);
  t.equal(checks(), 0, 'the files are not looked at after stop');
  t.equal(calls, 0, 'no call after stop');
});
