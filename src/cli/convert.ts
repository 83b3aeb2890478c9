import { convertText } from '../convert/azure.js';
import { formatAnnotate, formatPatch } from '../convert/format.js';
import { command, OUTPUT_FLAG, outputFlag, readInput, UsageError, type CommandIO, type CommandSpec, type FlagValues } from './io.js';

export const CONVERT = {
  name: 'convert',
  synopsis: '-f FILE [--format annotate|patch] [-o text|json]',
  about: `Turns Azure carbon-aware KEDA operator CarbonAwareKedaScaler objects
(carbonaware.kubernetes.azure.com/v1alpha1; several YAML documents or a List) into the
keda-carbon policy annotation on each target ScaledObject or ScaledJob. What has no
equivalent is printed as "# note:" lines. Other objects in the file are skipped.`,
  flags: {
    file: { type: 'string', short: 'f', arg: 'FILE', help: 'the manifest file ("-" reads standard input)' },
    format: {
      type: 'string',
      arg: 'FORMAT',
      help: 'annotate: kubectl annotate commands (default)\npatch: kustomize patches (strategic merge) that add the annotation',
    },
    output: { ...OUTPUT_FLAG, help: 'text (default: as --format says) or json (each conversion: scaler, target, policy, notes)' },
  },
} as const satisfies CommandSpec;

async function convert(flags: FlagValues<typeof CONVERT.flags>, io: CommandIO): Promise<number> {
  if (flags.file === undefined) throw new UsageError(`-f FILE is required (see 'keda-carbon convert --help')`);
  const format = flags.format ?? 'annotate';
  if (format !== 'annotate' && format !== 'patch') throw new UsageError(`--format must be annotate or patch, got ${JSON.stringify(format)}`);
  const output = outputFlag(flags.output);
  const text = await readInput(flags.file, io);
  const { conversions, skipped } = convertText(text, flags.file === '-' ? 'stdin' : flags.file);
  if (output === 'json') io.stdout.write(`${JSON.stringify(conversions, null, 2)}\n`);
  else io.stdout.write(format === 'patch' ? formatPatch(conversions) : formatAnnotate(conversions));
  if (skipped.length > 0)
    io.stderr.write(`keda-carbon convert: skipped ${skipped.length} object(s) that are not CarbonAwareKedaScaler: ${skipped.join(', ')}\n`);
  return 0;
}

export const runConvert = command(CONVERT, convert);
