import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { main } from '../../src/cli/main.js';

// Every example in the docs that shows a command and its output (a fenced block whose first
// line is `$ npx keda-carbon ...`) is run through the CLI, and the output shown must be the
// output produced. The files it names must therefore ship with the repository.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = ['README.md', 'certs-scripts/README.md', ...(await readdir(join(ROOT, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

interface Example {
  readonly file: string;
  readonly line: number;
  readonly args: string[];
  readonly output: string;
}

/** Fenced blocks of `text` as [first line number, lines]. */
function fencedBlocks(text: string): [number, string[]][] {
  const lines = text.split('\n');
  const out: [number, string[]][] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('```')) continue;
    const start = i + 1;
    while (++i < lines.length && !lines[i]!.startsWith('```'));
    out.push([start + 1, lines.slice(start, i)]);
  }
  return out;
}

async function examples(): Promise<Example[]> {
  const out: Example[] = [];
  for (const file of DOCS) {
    for (const [line, block] of fencedBlocks(await readFile(join(ROOT, file), 'utf8'))) {
      const m = /^\$ npx keda-carbon (.*)$/.exec(block[0] ?? '');
      // No quoting in the examples: a plain split is the shell's split.
      if (m) out.push({ file, line, args: m[1]!.trim().split(/\s+/), output: block.slice(1).join('\n') });
    }
  }
  return out;
}

async function run(args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => true }, env: {} };
  return { code: await main(args, io), stdout };
}

const found = await examples();

t.test('the docs show the README explain example and both convert examples', async (t) => {
  const shown = found.map((e) => `${e.file}: ${e.args.slice(0, 3).join(' ')}`);
  t.ok(shown.includes('README.md: explain -f docs/examples/scaledobject.yaml'), 'README explain example');
  t.ok(shown.includes('docs/tools.md: convert -f docs/examples/carbonawarekedascaler.yaml'), 'tools.md convert example');
  t.equal(found.filter((e) => e.args[0] === 'convert').length, 2, 'annotate and patch');
});

t.test('every documented command prints what the docs show', async (t) => {
  // Run where the documented relative paths resolve, but where `--out` files land in a scratch directory.
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-docs-'));
  await symlink(join(ROOT, 'docs'), join(dir, 'docs'));
  const cwd = process.cwd();
  process.chdir(dir);
  t.teardown(async () => {
    process.chdir(cwd);
    await rm(dir, { recursive: true, force: true });
  });
  for (const e of found) {
    const { code, stdout } = await run(e.args);
    t.equal(code, 0, `${e.file}:${e.line}: exit code`);
    t.equal(stdout.trimEnd(), e.output.trimEnd(), `${e.file}:${e.line}: npx keda-carbon ${e.args.join(' ')}`);
  }
});

t.test('commands a reader types say npx keda-carbon: nothing puts keda-carbon on the PATH', async (t) => {
  const typed = /(^|[^\w/-])(?<!npx )keda-carbon (serve|explain|intensity|simulate|convert|certs|restore|help) +[-[A-Z]/;
  for (const file of DOCS) {
    for (const [line, block] of fencedBlocks(await readFile(join(ROOT, file), 'utf8'))) {
      block.forEach((l, i) => {
        if (/^(\$ )?keda-carbon [a-z]+( |$)/.test(l)) t.fail(`${file}:${line + i}: ${l}`);
      });
    }
    const spans = (await readFile(join(ROOT, file), 'utf8')).match(/`[^`\n]+`/g) ?? [];
    for (const span of spans) {
      if (typed.test(span.slice(1, -1)) && !span.startsWith('`npx ')) t.fail(`${file}: ${span}`);
    }
  }
  t.pass('checked');
});
