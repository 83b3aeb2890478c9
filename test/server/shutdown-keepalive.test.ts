/**
 * Shutdown with keep-alive connections held open, as the API server holds them: a real
 * `serve` process over TLS, and raw TLS sockets, so the test alone decides when a
 * connection is used and it is never closed from this side.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { connect as netConnect } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { loadReview, withAnnotations } from '../helpers/reviews.js';
import { gatedServer, stallUntilBody } from '../helpers/gated-server.js';
import { until } from '../helpers/until.js';

const review = JSON.stringify(withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' }));

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One TLS connection that keeps every byte the server sends and notes when the server ends it. */
class Conn {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  readonly closed: Promise<void>;
  constructor(readonly socket: TLSSocket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiters.splice(0).forEach((w) => w());
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static open(port: number, ca: string): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }

  head(path = '/mutate', length = Buffer.byteLength(review), expect = ''): string {
    return `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${expect}\r\n`;
  }

  /**
   * Send the head of a review and wait until the server has read it: asked to expect
   * 100-continue, Node answers `100 Continue` when it parses the headers, the moment the
   * request is in flight on the server's side.
   */
  async inFlight(): Promise<void> {
    this.socket.write(this.head('/mutate', Buffer.byteLength(review), 'Expect: 100-continue\r\n'));
    const interim = await this.answer();
    if (interim.status !== 100) throw new Error(`expected 100 Continue, got ${interim.status}`);
  }

  async answer(): Promise<Answer> {
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const lines = this.buf.subarray(0, end).toString().split('\r\n');
        const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
        const length = Number(headers['content-length'] ?? 0);
        if (this.buf.length >= end + 4 + length) {
          const body = this.buf.subarray(end + 4, end + 4 + length).toString();
          this.buf = this.buf.subarray(end + 4 + length);
          return { status: Number(lines[0]!.split(' ')[1]), headers, body };
        }
      }
      if (this.socket.destroyed) throw new Error('connection closed before a full answer');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        this.socket.once('close', r);
      });
    }
  }
}

async function serveWith(t: Test, drainSeconds: number): Promise<{ serve: ServeProcess; ca: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-keepalive-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const serve = await startServe(['--cert-dir', dir, '--drain-seconds', String(drainSeconds)]);
  t.teardown(() => serve.stop('SIGKILL'));
  return { serve, ca: await readFile(join(dir, 'ca.crt'), 'utf8') };
}

/** The exit code, once the process exits on its own (SIGCONT only wakes it). */
function exitCode(serve: ServeProcess): Promise<number | null> {
  return serve.stop('SIGCONT');
}

/** Resolves once serve has logged that shutdown began (the gate is closing by then). */
function shuttingDown(serve: ServeProcess): Promise<void> {
  return until(() => serve.logs.some((l) => String(l.msg).startsWith('shutting down')), 'the shutdown log line');
}

t.test('a request in flight on a keep-alive connection at SIGTERM: answered with Connection: close, then the connection ends', async (t) => {
  const { serve, ca } = await serveWith(t, 1);
  const conn = await Conn.open(serve.port, ca);
  conn.socket.write(conn.head() + review);
  const first = await conn.answer();
  t.equal(first.status, 200);
  t.not(first.headers.connection, 'close', 'before shutdown the connection is kept alive');

  await conn.inFlight();
  conn.socket.write(review.slice(0, 100));
  serve.child.kill('SIGTERM');
  await shuttingDown(serve);
  conn.socket.write(review.slice(100));
  const second = await conn.answer();
  t.equal(second.status, 200, 'the review in flight is answered');
  t.equal(JSON.parse(second.body).response.allowed, true);
  t.equal(second.headers.connection, 'close', 'the answer says the connection closes');
  await conn.closed;
  t.ok(conn.socket.destroyed, 'the server ended the connection (never this side)');
  t.equal(await exitCode(serve), 0, 'the process exits 0 with the client still holding on');
});

t.test('a keep-alive connection used during the drain: answered, told to close, then closed by the server', async (t) => {
  const { serve, ca } = await serveWith(t, 8);
  const conn = await Conn.open(serve.port, ca);
  conn.socket.write(conn.head() + review);
  t.equal((await conn.answer()).status, 200);

  serve.child.kill('SIGTERM');
  // readiness fails first: a fresh connection sees the drain has begun
  const probe = await Conn.open(serve.port, ca);
  probe.socket.write(`GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  const ready = await probe.answer();
  t.equal(ready.status, 503, 'readiness fails during the drain');
  t.equal(ready.headers.connection, 'close', 'answers during the drain carry Connection: close');
  await probe.closed;

  // the pooled connection, idle when the signal came, is reused once more (as the API
  // server reuses it until endpoints change): the review is answered, and the connection ends
  conn.socket.write(conn.head() + review);
  const answer = await conn.answer();
  t.equal(answer.status, 200, 'a review on a held connection is still answered during the drain');
  t.equal(answer.headers.connection, 'close', 'and told the connection closes');
  await conn.closed;
  t.pass('the server ended the held connection');
  t.equal(await exitCode(serve), 0);
});

t.test('a request that never completes is cut at the hard deadline and the process exits', async (t) => {
  const { serve, ca } = await serveWith(t, 0);
  const stuck = await Conn.open(serve.port, ca);
  // headers and a little of the body; the rest never comes
  await stuck.inFlight();
  stuck.socket.write(review.slice(0, 10));
  serve.child.kill('SIGTERM');
  await stuck.closed;
  t.pass('the server cut the stalled connection');
  t.equal(await exitCode(serve), 0, 'the process exits');
  t.ok(
    serve.logs.some((l) => l.msg === 'shutdown deadline reached: closing the connections still open'),
    'the deadline is logged',
  );
});

t.test('the gate in process: a process that outlives the deadline is exited', async (t) => {
  // the request below never sends its whole body
  const server = createServer(stallUntilBody);
  const { gate, port, exits } = await gatedServer(t, server);
  const socket = netConnect(port, '127.0.0.1');
  const closed = new Promise((r) => socket.once('close', r));
  socket.on('error', () => undefined);
  const received = new Promise((r) => server.once('request', r));
  socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
  await received;
  t.equal(gate.closing, false);
  gate.begin(50);
  gate.begin(50); // a second signal changes nothing
  t.equal(gate.closing, true);
  await closed;
  t.pass('the stalled connection is cut at the deadline');
  await until(() => exits() > 0, 'exit called after the deadline');
  t.equal(exits(), 1, 'exit is called once the process is still alive after the deadline');
});
