#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { exitCodeOf, type CommandIO } from './io.js';

const USAGE = `Usage: keda-carbon <command> [options]

Commands:
  serve      run the admission webhook (HTTPS /mutate, /healthz, /readyz; /metrics on a plain port)
  explain    what the webhook would do to an object now, and why
  intensity  the current carbon intensity and forecast from the configured source
  simulate   the cap timeline of a policy over a forecast
  convert    turn an Azure CarbonAwareKedaScaler into keda-carbon annotations
  certs      make a CA and serving certificate for the webhook Service
  restore    give every object keda-carbon capped its declared max back (run before uninstalling)
  help CMD   the options of one command (the same as 'keda-carbon CMD --help')

Exit codes: 0 done; 1 a failure (a source or the API server that could not be reached, a
denied policy); 2 a usage or input error (an unknown flag, a file that cannot be read, an
invalid configuration).
`;

type Command = (argv: string[], io: CommandIO) => Promise<number>;

// Each command is loaded only when asked for, so `explain` does not pay for fastify and
// `serve` does not pay for the SVG charting of `simulate`.
export const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.js')).runServe,
  explain: async () => (await import('./explain.js')).runExplain,
  intensity: async () => (await import('./intensity.js')).runIntensity,
  simulate: async () => (await import('./simulate.js')).runSimulate,
  convert: async () => (await import('./convert.js')).runConvert,
  certs: async () => (await import('./certs.js')).runCerts,
  restore: async () => (await import('./restore.js')).runRestore,
};

export async function main(argv: string[], io: CommandIO): Promise<number> {
  let [name, ...rest] = argv;
  if (name === 'help' && rest.length > 0) [name, rest] = [rest[0], ['--help']];
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    io.stderr.write(`keda-carbon: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await (await load())(rest, io);
  } catch (err) {
    // Commands report their own errors; this is the net for one that escaped.
    io.stderr.write(`keda-carbon ${name}: ${(err as Error)?.message ?? String(err)}\n`);
    return exitCodeOf(err);
  }
}

function isEntryPoint(): boolean {
  try {
    return process.argv[1] !== undefined && pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url;
  } catch {
    return false;
  }
}

// Run only as the entry point (also through the npm bin link), not when imported by tests.
if (isEntryPoint()) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
    (code) => {
      // serve keeps running (its listeners hold the loop) and exits from its signal handler.
      if (code !== 0 || process.argv[2] !== 'serve') process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`keda-carbon: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
