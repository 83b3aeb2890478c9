import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { until } from '../helpers/until.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { applyResponsePatch, loadReview, withAnnotations } from '../helpers/reviews.js';

const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' });

function capFrom(port: number, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(review);
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', ca, headers: { 'content-type': 'application/json' } }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve(applyResponsePatch(review.request.object, JSON.parse(data).response).spec.maxReplicaCount));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function waitForLog(serve: ServeProcess, msg: string, after: number): Promise<Record<string, unknown>> {
  const hit = () => serve.logs.slice(after).find((l) => l.msg === msg);
  await until(() => hit() !== undefined, `serve to log "${msg}"`);
  return hit()!;
}

t.test('the config file is hot-reloaded; a broken one keeps the previous configuration', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-reload-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const forecast = join(dir, 'forecast.json');
  const day = new Date();
  day.setUTCHours(0, 0, 0, 0);
  await writeFile(forecast, JSON.stringify([{ timestamp: day.toISOString(), duration: 48 * 60, value: 420 }]));
  const config = join(dir, 'config.yaml');
  const write = (allowed: string) =>
    writeFile(
      config,
      `intensity:\n  provider: file\n  path: ${forecast}\npolicies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: ${allowed}}]\n`,
    );
  await write('"50%"');
  const serve = await startServe(['--cert-dir', join(dir, 'tls'), '--config', config]);
  t.teardown(() => serve.stop('SIGKILL'));
  const ca = await readFile(join(dir, 'tls', 'ca.crt'), 'utf8');
  await waitForLog(serve, 'carbon data refreshed', 0);
  t.equal(await capFrom(serve.port, ca), 5, '50% of 10 at 420 g');

  let seen = serve.logs.length;
  await write('2');
  await waitForLog(serve, 'configuration reloaded', seen);
  t.equal(await capFrom(serve.port, ca), 2, 'the new policy applies without a restart');

  seen = serve.logs.length;
  await writeFile(config, 'policies:\n  standard:\n    carbon: [{measuredEmission: -1, allowedMaxReplicaCount: 2}]\n');
  const failed = await waitForLog(serve, 'configuration reload failed; keeping the previous configuration', seen);
  t.match(failed.err, /policies\.standard\.carbon\[0\]\.measuredEmission: must be a number >= 0/, 'the log names the key');
  t.equal(await capFrom(serve.port, ca), 2, 'the previous configuration still applies');
  t.equal(await serve.stop(), 0);
});
