import { connect, type ClientHttp2Session } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';

export interface H2Answer {
  status: number;
  body: string;
}

/** An HTTP/2 session to 127.0.0.1 over TLS, trusting `ca`; resolves once the server's SETTINGS are in. */
export function h2Session(port: number, ca: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(`https://127.0.0.1:${port}`, { ca, servername: 'localhost' });
    session.once('error', reject);
    session.once('remoteSettings', () => {
      session.off('error', reject);
      // a GOAWAY or a reset the test provokes must not become an uncaught error
      session.on('error', () => undefined);
      resolve(session);
    });
  });
}

/** One request on `session`: POST with a JSON body, or GET without one. */
export function h2Call(session: ClientHttp2Session, path: string, body: string | null = null): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const headers = body === null ? { ':method': 'GET', ':path': path } : { ':method': 'POST', ':path': path, 'content-type': 'application/json' };
    const stream = session.request(headers);
    let status = 0;
    let data = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (d: Buffer) => (data += d));
    stream.on('end', () => resolve({ status, body: data }));
    stream.on('error', reject);
    stream.end(body ?? undefined);
  });
}

/** The protocol a TLS handshake offering `protocols` settles on (false: none), and the certificate's fingerprint. */
export function negotiate(port: number, ca: string, protocols: string[]): Promise<{ alpn: string | false; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: protocols }, () => {
      resolve({ alpn: socket.alpnProtocol ?? false, fingerprint: socket.getPeerCertificate().fingerprint256 });
      socket.end();
    });
    socket.once('error', reject);
  });
}
