import { readFile } from 'node:fs/promises';
import t from 'tap';
import { fsReason } from '../../src/util/fs-reason.js';

t.test('file-system errors in words, without the errno code or the path', async (t) => {
  const missing = await readFile('/nonexistent/keda-carbon/forecast.json').catch((e: unknown) => e);
  t.equal(fsReason(missing), 'no such file');
  const folder = await readFile(import.meta.dirname).catch((e: unknown) => e);
  t.equal(fsReason(folder), 'is a directory');
  t.equal(fsReason(Object.assign(new Error('EACCES: permission denied, open /x'), { code: 'EACCES' })), 'permission denied');
  t.equal(fsReason(Object.assign(new Error('x'), { code: 'ENOTDIR' })), 'a part of the path is not a directory');
});

t.test('anything else keeps its own message', async (t) => {
  t.equal(fsReason(Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' })), 'EMFILE: too many open files');
  t.equal(fsReason(new Error('plain')), 'plain');
});
