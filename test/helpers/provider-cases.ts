import type http from 'node:http';
import { SourceError } from '../../src/carbon/errors.js';
import { json, startServer } from './http.js';
import type { IntensitySource } from '../../src/carbon/source.js';

type Tap = import('tap').Test;

/**
 * The failure answers every HTTP provider must turn into a clear `SourceError`:
 * 401, 403, 429 with Retry-After, 500, a body that is not JSON, an empty body, JSON of
 * the wrong shape, and no answer at all. `passThrough` serves the requests that should
 * succeed (a login, say); everything else gets the failure under test.
 */
export async function failureCases(
  t: Tap,
  build: (baseUrl: string) => IntensitySource,
  passThrough: (url: URL, res: http.ServerResponse) => boolean = () => false,
): Promise<void> {
  const cases: {
    name: string;
    answer: (res: http.ServerResponse) => void;
    kind: SourceError['kind'];
    status?: number;
    retryAfterMs?: number;
    match: RegExp;
  }[] = [
    { name: '401', answer: (r) => json(r, 401, { message: 'Invalid auth-token' }), kind: 'http', status: 401, match: /401.*Invalid auth-token/ },
    { name: '403', answer: (r) => json(r, 403, { error: 'INVALID_SCOPE', message: 'no access' }), kind: 'http', status: 403, match: /403/ },
    {
      name: '429',
      answer: (r) => json(r, 429, { message: 'slow down' }, { 'retry-after': '120' }),
      kind: 'http',
      status: 429,
      retryAfterMs: 120_000,
      match: /429/,
    },
    { name: '500', answer: (r) => json(r, 500, 'upstream exploded'), kind: 'http', status: 500, match: /500.*upstream exploded/ },
    { name: 'garbage', answer: (r) => json(r, 200, '<html>not json'), kind: 'invalid', match: /not JSON/ },
    { name: 'empty body', answer: (r) => json(r, 200, ''), kind: 'invalid', match: /empty body/ },
    { name: 'wrong shape', answer: (r) => json(r, 200, { unexpected: true }), kind: 'invalid', match: /./ },
  ];
  for (const c of cases) {
    await t.test(`answers ${c.name}`, async (t) => {
      const srv = await startServer((_req, res, url) => {
        if (!passThrough(url, res)) c.answer(res);
      });
      t.teardown(srv.close);
      const err = await build(srv.url)
        .fetch(AbortSignal.timeout(5000))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      t.ok(err instanceof SourceError, 'a SourceError');
      const e = err as SourceError;
      t.equal(e.kind, c.kind, 'kind');
      if (c.status !== undefined) t.equal(e.status, c.status, 'status');
      if (c.retryAfterMs !== undefined) t.equal(e.retryAfterMs, c.retryAfterMs, 'Retry-After in ms');
      t.match(e.message, c.match, 'message says what happened');
    });
  }
  await t.test('no answer within the timeout', async (t) => {
    const srv = await startServer((_req, res, url) => {
      passThrough(url, res); // never answer the others
    });
    t.teardown(srv.close);
    const started = Date.now();
    const err = (await build(srv.url)
      .fetch(AbortSignal.timeout(150))
      .catch((e: unknown) => e)) as SourceError;
    t.ok(err instanceof SourceError);
    t.equal(err.kind, 'timeout');
    t.match(err.message, /within the timeout|timed out/);
    t.ok(Date.now() - started < 3000, 'gave up promptly');
  });
  await t.test('nothing listening', async (t) => {
    const srv = await startServer(() => undefined);
    const url = srv.url;
    await srv.close();
    const err = (await build(url)
      .fetch(AbortSignal.timeout(2000))
      .catch((e: unknown) => e)) as SourceError;
    t.equal(err.kind, 'unavailable');
    t.match(err.message, /cannot reach/);
  });
}
