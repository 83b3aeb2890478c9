import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const LOG = fileURLToPath(new URL('../../src/log.ts', import.meta.url));

/** Run a script that logs through createLogger with stdout on a pipe; resolves with each chunk and when it arrived. */
function run(script: string): Promise<{ chunks: { at: number; text: string }[]; code: number | null }> {
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const started = Date.now();
  const chunks: { at: number; text: string }[] = [];
  child.stdout.on('data', (d) => chunks.push({ at: Date.now() - started, text: String(d) }));
  return new Promise((resolve) => child.once('close', (code) => resolve({ chunks, code })));
}

t.test('a lone line is written within the flush interval, not held for more lines', async (t) => {
  const { chunks } = await run(
    `const { createLogger } = await import(${JSON.stringify(LOG)});
     const log = createLogger({ pretty: false });
     log.info('first');
     const t0 = Date.now();
     await new Promise((r) => setTimeout(r, 1500));
     log.info({ waited: Date.now() - t0 }, 'second');
     await new Promise((r) => setTimeout(r, 1500));`,
  );
  const lines = chunks.flatMap((c) =>
    c.text
      .trim()
      .split('\n')
      .map((l) => ({ at: c.at, line: JSON.parse(l) })),
  );
  t.same(
    lines.map((l) => l.line.msg),
    ['first', 'second'],
  );
  t.ok(lines[1]!.at - lines[0]!.at >= 1000, 'the first line came out on its own, before the second was logged');
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
    .map((c) => c.text)
    .join('')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.same(
    lines.map((l) => l.i),
    [0, 1, 2],
  );
});
