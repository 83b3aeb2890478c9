import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { fsReason } from '../util/fs-reason.js';

/** What a command may touch of the process: injected so tests run commands in-process. */
export interface CommandIO {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  env: Record<string, string | undefined>;
  /** Standard input, for `-f -`; the process's own when absent. */
  stdin?: AsyncIterable<Buffer | string>;
}

/** A bad flag or an input that cannot be read or understood: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One flag: the parser and the help text read the same entry, so they cannot drift apart. */
export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** The value's placeholder in the help (FILE, N, ...); string flags only. */
  readonly arg?: string;
  readonly help: string;
  /** An environment variable read when the flag is absent (empty counts as absent). */
  readonly env?: string;
}

export type FlagTable = Readonly<Record<string, FlagSpec>>;

export interface CommandSpec<F extends FlagTable = FlagTable> {
  readonly name: string;
  /** The usage line after `keda-carbon NAME`. */
  readonly synopsis: string;
  /** What the command does, a few lines of prose. */
  readonly about: string;
  readonly flags: F;
}

export type FlagValues<F extends FlagTable> = {
  -readonly [K in keyof F]?: F[K]['type'] extends 'boolean' ? boolean : F[K]['multiple'] extends true ? string[] : string;
};

const HELP_FLAG: FlagSpec = { type: 'boolean', short: 'h', help: 'print this help and exit' };

/** `-o/--output`, the same on every command that prints a result. */
export const OUTPUT_FLAG = { type: 'string', short: 'o', arg: 'FORMAT', help: 'text (default) or json' } as const satisfies FlagSpec;

/** `--config`, the same on every command that reads the configuration file. */
export const CONFIG_FLAG = {
  type: 'string',
  short: 'c',
  arg: 'FILE',
  env: 'KEDA_CARBON_CONFIG',
  help: 'the configuration file (default: the embedded defaults, with the bundled sample carbon curve)',
} as const satisfies FlagSpec;

function allFlags(spec: CommandSpec): [string, FlagSpec][] {
  return [...Object.entries(spec.flags), ['help', HELP_FLAG]];
}

/** The help of one command, generated from the table the parser uses. */
export function helpText(spec: CommandSpec): string {
  const rows = allFlags(spec).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.type === 'string' ? ` ${f.arg ?? 'VALUE'}` : ''}`;
    const notes = [f.multiple ? 'repeatable' : '', f.env ? `env ${f.env}` : ''].filter((s) => s !== '');
    return { left, text: `${f.help}${notes.length > 0 ? ` [${notes.join('; ')}]` : ''}` };
  });
  const width = Math.max(...rows.map((r) => r.left.length)) + 2;
  const body = rows.map((r) => `  ${r.left.padEnd(width)}${r.text.split('\n').join(`\n  ${' '.repeat(width)}`)}`);
  return `Usage: keda-carbon ${spec.name} ${spec.synopsis}\n\n${spec.about.trim()}\n\nOptions:\n${body.join('\n')}\n`;
}

interface Parsed<F extends FlagTable> {
  flags: FlagValues<F>;
  /** The flags whose value came from the environment, not the command line. */
  fromEnv: ReadonlySet<string>;
}

function parseWithSources<F extends FlagTable>(argv: string[], spec: CommandSpec<F>, io: CommandIO): Parsed<F> | undefined {
  const options = Object.fromEntries(
    allFlags(spec).map(([name, f]) => [name, { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) }]),
  );
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see 'keda-carbon ${spec.name} --help')`);
  }
  if (values.help === true) {
    io.stdout.write(helpText(spec));
    return undefined;
  }
  delete values.help;
  const fromEnv = new Set<string>();
  for (const [name, f] of Object.entries(spec.flags)) {
    if (values[name] !== undefined || f.env === undefined) continue;
    const value = io.env[f.env];
    if (value === undefined || value === '') continue;
    values[name] = f.type === 'boolean' ? value === 'true' || value === '1' : value;
    fromEnv.add(name);
  }
  return { flags: values as FlagValues<F>, fromEnv };
}

/**
 * The one flag parser of every command: strict parseArgs over the command's table, then
 * each absent flag falls back to its environment variable, so the same settings work as
 * flags and in a Deployment's env. Returns undefined after printing the help for `-h`.
 */
export function parseFlags<F extends FlagTable>(argv: string[], spec: CommandSpec<F>, io: CommandIO): FlagValues<F> | undefined {
  return parseWithSources(argv, spec, io)?.flags;
}

/** `--output`: text unless json is asked for. */
export function outputFlag(value: string | undefined): 'text' | 'json' {
  const output = value ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`--output must be text or json, got ${JSON.stringify(output)}`);
  return output;
}

export function portFlag(value: string | boolean | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--${name} must be a port number from 0 to 65535, got ${JSON.stringify(value)}`);
  return n;
}

export function intFlag(value: string | undefined, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`--${name} must be an integer ${range}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** The text of an input file, or of standard input for `-`; an unreadable file is an input error. */
export async function readInput(path: string, io: CommandIO): Promise<string> {
  try {
    if (path !== '-') return await readFile(path, 'utf8');
    const chunks: Buffer[] = [];
    for await (const chunk of io.stdin ?? process.stdin) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${path === '-' ? 'standard input' : path}: ${fsReason(err)}`);
  }
}

export type CommandBody<F extends FlagTable> = (flags: FlagValues<F>, io: CommandIO, fromEnv: ReadonlySet<string>) => Promise<number>;

/** Errors that mean the input is wrong, not that something failed: the user must change the input. */
const INPUT_ERRORS = new Set(['UsageError', 'ConfigError', 'ConvertError']);

/**
 * Input errors (bad flags, unreadable or invalid files, an invalid configuration, a manifest
 * `convert` cannot read) exit 2; other failures 1.
 */
export function exitCodeOf(err: unknown): number {
  return INPUT_ERRORS.has((err as Error | undefined)?.name ?? '') ? 2 : 1;
}

/**
 * A runnable command: parse the flags, print the help, run the body, and turn an error into
 * one `keda-carbon NAME: message` line and an exit code, the same for every command.
 */
export function command<F extends FlagTable>(spec: CommandSpec<F>, body: CommandBody<F>): (argv: string[], io: CommandIO) => Promise<number> {
  return async (argv, io) => {
    try {
      const parsed = parseWithSources(argv, spec, io);
      return parsed === undefined ? 0 : await body(parsed.flags, io, parsed.fromEnv);
    } catch (err) {
      io.stderr.write(`keda-carbon ${spec.name}: ${(err as Error)?.message ?? String(err)}\n`);
      return exitCodeOf(err);
    }
  };
}
