import type { FastifyInstance } from 'fastify';
import { clip } from '../core/brief.js';

class BadBodyError extends Error {
  readonly statusCode = 400;
}

/**
 * JSON request bodies, parsed by `JSON.parse` alone. Fastify's default parser answers 400
 * to any body with a `__proto__` key or a `constructor.prototype` path, which guards code
 * that merges parsed objects into others; KEDA allows any string as a key in trigger
 * metadata, so such reviews are well-formed and must be answered. `JSON.parse` makes these
 * keys plain own properties without ever setting a prototype, and nothing that reads a
 * review copies its keys onto other objects. Errors carry a 4xx code and a short message.
 */
export function parseJsonBodies(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text === '') {
      done(new BadBodyError("Body cannot be empty when content-type is set to 'application/json'"), undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      const message = (err as Error).message;
      done(new BadBodyError(`body is not valid JSON: ${clip(message, 160)}`), undefined);
    }
  });
}
