import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const LOG = fileURLToPath(new URL('../src/log.ts', import.meta.url));

/**
 * Run a script that logs through createLogger with stdout on a pipe; resolves with each chunk.
 * `onChunk` hears each chunk as it arrives and may answer on the child's stdin.
 */
function run(script: string, onChunk?: (text: string, stdin: Writable) => void): Promise<{ chunks: string[]; code: number | null }> {
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const chunks: string[] = [];
  child.stdout.on('data', (d) => {
    chunks.push(String(d));
    onChunk?.(String(d), child.stdin);
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ chunks, code })));
}

t.test('a lone line is written within the flush interval, not held for more lines', async (t) => {
  // The child logs one line and logs the second only once the parent has read the first:
  // if the logger held the first line for more, neither would ever come out.
  const { chunks } = await run(
    `const { createLogger } = await import(${JSON.stringify(LOG)});
     const log = createLogger({ pretty: false });
     log.info('first');
     process.stdin.once('data', () => {
       log.info('second');
       process.stdin.destroy();
     });`,
    (text, stdin) => {
      if (text.includes('"first"')) stdin.end('go\n');
    },
  );
  const perChunk = chunks.map((c) =>
    c
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).msg),
  );
  t.same(perChunk, [['first'], ['second']], 'the first line came out on its own, before the second was logged');
});

t.test('lines still buffered when the process exits are written', async (t) => {
  const { chunks, code } = await run(
    `const { createLogger } = await import(${JSON.stringify(LOG)});
     const log = createLogger({ pretty: false });
     for (let i = 0; i < 3; i++) log.info({ i }, 'line');
     process.exit(3);`,
  );
  t.equal(code, 3);
  const lines = chunks
    .join('')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.same(
    lines.map((l) => l.i),
    [0, 1, 2],
  );
});
