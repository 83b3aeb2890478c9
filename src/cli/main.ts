#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { CommandIO } from './io.js';
import { UsageError } from './io.js';

const USAGE = `Usage: keda-carbon <command> [options]

Commands:
  serve      run the admission webhook (HTTPS /mutate, /healthz, /readyz; /metrics on a plain port)
  explain    what the webhook would do to an object now, and why
  intensity  the current carbon intensity and forecast from the configured source
  simulate   the cap timeline of a policy over a forecast
  convert    turn an Azure CarbonAwareKedaScaler into keda-carbon annotations
  certs      make a CA and serving certificate for the webhook Service

Run 'keda-carbon <command> --help' for the options of one command.
`;

type Command = (argv: string[], io: CommandIO) => Promise<number>;

// Each command is loaded only when asked for, so `explain` does not pay for fastify and
// `serve` does not pay for the SVG charting of `simulate`.
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.js')).runServe,
  explain: async () => (await import('./explain.js')).runExplain,
  intensity: async () => (await import('./intensity.js')).runIntensity,
  simulate: async () => (await import('./simulate.js')).runSimulate,
  convert: async () => (await import('./convert.js')).runConvert,
  certs: async () => (await import('./certs.js')).runCerts,
};

export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
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
    if (err instanceof UsageError) {
      io.stderr.write(`keda-carbon ${name}: ${err.message}\n`);
      return 2;
    }
    io.stderr.write(`keda-carbon ${name}: ${(err as Error).message ?? String(err)}\n`);
    return 1;
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
