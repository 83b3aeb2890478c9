/**
 * What a request costs a Node process that sleeps between requests, on this machine, with
 * none of our code: the floor under `serve`'s CPU per write. A plain HTTP server (no TLS, no
 * framework) in a child process parses each body (a captured 6 KB UPDATE review) and answers
 * with a fixed 1.3 KB JSON answer; this process sends the body over keep-alive at a fixed
 * rate and reads the child's CPU time. Beside it: the CPU of a 100 Hz timer's wake-up, and of
 * the same JSON parse and stringify run back to back and once per 10 ms.
 *
 *   npm run bench -- wakeup
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const BODY = fileURLToPath(new URL('../../test/fixtures/admission/v1.36/scaledobject-update.kubectl-annotate.json', import.meta.url));
const ANSWER = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u', allowed: true, patch: 'x'.repeat(1300) } });
const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
const round = (n: number) => Math.round(n * 1000) / 1000;

function serveInChild(): void {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER) });
      res.end(ANSWER);
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on('message', () => process.send!({ cpuMs: cpuMs(process.cpuUsage()) }));
}

/** The child's CPU per request at `rate` requests/s for `seconds`, after a warm-up. */
async function perRequest(rate: number, seconds: number): Promise<{ rate: number; requests: number; cpuMsPerRequest: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['server'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const next = <T>() => new Promise<T>((r) => child.once('message', (m) => r(m as T)));
  const { port } = await next<{ port: number }>();
  const body = readFileSync(BODY);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const send = () =>
    new Promise<void>((done, fail) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', done);
      });
      req.on('error', fail);
      req.end(body);
    });
  for (let i = 0; i < 200; i++) await send();
  child.send('cpu');
  const before = await next<{ cpuMs: number }>();
  const sent: Array<Promise<void>> = [];
  const total = rate * seconds;
  const started = performance.now();
  await new Promise<void>((finish) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000));
      while (sent.length < due) sent.push(send());
      if (sent.length >= total) {
        clearInterval(timer);
        finish();
      }
    }, 2);
  });
  await Promise.all(sent);
  child.send('cpu');
  const after = await next<{ cpuMs: number }>();
  child.kill();
  agent.destroy();
  return { rate, requests: total, cpuMsPerRequest: round((after.cpuMs - before.cpuMs) / total) };
}

/** CPU per call of `fn` run `n` times once per 10 ms (each after a sleep), and back to back. */
async function coldAndWarm(fn: () => unknown, n: number): Promise<{ once10msMs: number; backToBackMs: number }> {
  for (let i = 0; i < n; i++) fn();
  let start = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const backToBackMs = cpuMs(process.cpuUsage(start)) / n;
  start = process.cpuUsage();
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(() => r(fn()), 10));
  return { once10msMs: round(cpuMs(process.cpuUsage(start)) / n), backToBackMs: round(backToBackMs) };
}

export async function runWakeupBench(): Promise<Record<string, unknown>> {
  const text = readFileSync(BODY, 'utf8');
  return {
    plainHttpServer: [await perRequest(100, 10), await perRequest(1000, 5)],
    timerWakeup: await coldAndWarm(() => undefined, 500),
    jsonParseAndStringify: await coldAndWarm(() => JSON.stringify(JSON.parse(text)).length, 500),
    bodyBytes: text.length,
  };
}

if (process.argv[2] === 'server') serveInChild();
