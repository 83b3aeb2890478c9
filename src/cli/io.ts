import { parseArgs, type ParseArgsConfig } from 'node:util';

/** What a command may touch of the process: injected so tests run commands in-process. */
export interface CommandIO {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  env: Record<string, string | undefined>;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * parseArgs with one addition: each long option may fall back to an environment variable
 * (`--cert-dir` <- `KEDA_CARBON_CERT_DIR`), so the same settings work as flags and in a
 * Deployment's env.
 */
export function parseFlags<O extends Options>(argv: string[], options: O, io: CommandIO, envPrefix?: string) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (envPrefix) {
    for (const [name, spec] of Object.entries(options)) {
      if (values[name] !== undefined || spec.type !== 'string') continue;
      const fromEnv = io.env[`${envPrefix}${name.toUpperCase().replace(/-/g, '_')}`];
      if (fromEnv !== undefined && fromEnv !== '') values[name] = fromEnv;
    }
  }
  return values;
}

export function portFlag(value: string | boolean | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--${name} must be a port number from 0 to 65535, got ${JSON.stringify(value)}`);
  return n;
}
