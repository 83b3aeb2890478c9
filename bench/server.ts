/**
 * One benchmark target per process, so the load generator never shares a core's event
 * loop with the server it measures. Each reports its port on stderr: stdout is `ours`'s log.
 * - `ours`: the real webhook app with the sample carbon data, metrics and the log lines of `serve`.
 * - `bare`: fastify over the same TLS that parses the same body and returns a fixed allowed
 *   review: the floor our admission path is compared with.
 * - `sized`: like bare, but it returns our own answer to that body (computed once at start),
 *   so the cost of a larger answer is told apart from the cost of computing it.
 * - `ours-nolog`, `ours-nometrics`, `ours-plain` (neither): `ours` with a part left out, to
 *   attribute its CPU per request (BENCH_ADMISSION_VARIANTS=1).
 */
import fastify from 'fastify';
import type { AddressInfo } from 'node:net';
import { handleAdmission, type AdmissionDeps } from '../src/admission/handler.js';
import { createSampleSource } from '../src/carbon/providers/sample.js';
import { CarbonStore } from '../src/carbon/store.js';
import { DEFAULT_INTENSITY } from '../src/config/intensity.js';
import { loadConfigFile } from '../src/config/config.js';
import { buildApp } from '../src/server/app.js';
import { createMetrics } from '../src/server/metrics.js';
import { createLogger } from '../src/log.js';

const [mode, cert, key, body] = [process.argv[2], process.env.BENCH_CERT!, process.env.BENCH_KEY!, process.env.BENCH_BODY!];

async function admissionDeps(): Promise<AdmissionDeps> {
  const config = await loadConfigFile(undefined);
  const source = createSampleSource(DEFAULT_INTENSITY, { env: {} });
  const store = new CarbonStore({ source: source.name, maxDataAgeMs: 24 * 3_600_000 });
  store.update(await source.fetch(AbortSignal.timeout(1000)), Date.now());
  return { config: () => config, carbon: store, now: Date.now };
}

async function main(): Promise<void> {
  if (mode?.startsWith('ours')) {
    const admission = await admissionDeps();
    const app = buildApp({
      admission,
      readiness: () => ({ serving: true, carbon: { fresh: true, source: admission.carbon.snapshot().source, fetchedAt: null } }),
      metrics: mode === 'ours-nometrics' || mode === 'ours-plain' ? undefined : createMetrics(),
      // As serve logs: JSON lines on stdout, which the benchmark sends to /dev/null.
      logger: mode === 'ours-nolog' || mode === 'ours-plain' ? undefined : createLogger({ pretty: false }),
      https: { cert, key },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    process.stderr.write(`port ${(app.server.address() as AddressInfo).port}\n`);
    return;
  }
  const answer = mode === 'sized' ? (await handleAdmission(JSON.parse(body), await admissionDeps())).review : null;
  const app = fastify({ https: { cert, key, minVersion: 'TLSv1.2' }, bodyLimit: 7 * 1024 * 1024, keepAliveTimeout: 95_000 });
  app.post('/mutate', async (request) => {
    const uid = (request.body as { request: { uid: string } }).request.uid;
    if (answer) return { ...answer, response: { ...answer.response, uid } };
    return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.stderr.write(`port ${(app.server.address() as AddressInfo).port}\n`);
}

// exit (not die) on SIGTERM, so `--cpu-prof` writes the profile
process.on('SIGTERM', () => process.exit(0));
void main();
