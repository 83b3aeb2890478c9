import { readFile } from 'node:fs/promises';
import { convertText, formatAnnotate, formatPatch } from '../convert/azure.js';
import { parseFlags, UsageError, type CommandIO } from './io.js';

export const CONVERT_USAGE = `Usage: keda-carbon convert -f FILE [--format annotate|patch]

Turns Azure carbon-aware KEDA operator CarbonAwareKedaScaler objects
(carbonaware.kubernetes.azure.com/v1alpha1; several YAML documents or a List) into the
keda-carbon policy annotation on each target ScaledObject or ScaledJob. What has no
equivalent is printed as "# note:" lines. Other objects in the file are skipped.
  -f FILE           the manifest file ("-" reads standard input)
  --format annotate kubectl annotate commands (default)
  --format patch    kustomize patches (strategic merge) that add the annotation
`;

const FLAGS = {
  file: { type: 'string', short: 'f' },
  format: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runConvert(argv: string[], io: CommandIO): Promise<number> {
  const flags = parseFlags(argv, FLAGS, io);
  if (flags.help) {
    io.stdout.write(CONVERT_USAGE);
    return 0;
  }
  if (typeof flags.file !== 'string') throw new UsageError(`-f FILE is required\n\n${CONVERT_USAGE}`);
  const format = flags.format ?? 'annotate';
  if (format !== 'annotate' && format !== 'patch') throw new UsageError(`--format must be annotate or patch, got ${JSON.stringify(format)}`);
  let text: string;
  try {
    text = flags.file === '-' ? await readStdin() : await readFile(flags.file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${flags.file} (${(err as { code?: string }).code ?? (err as Error).message})`);
  }
  const { conversions, skipped } = convertText(text, flags.file === '-' ? 'stdin' : flags.file);
  io.stdout.write(format === 'patch' ? formatPatch(conversions) : formatAnnotate(conversions));
  if (skipped.length > 0) io.stderr.write(`keda-carbon convert: skipped ${skipped.length} object(s) that are not CarbonAwareKedaScaler: ${skipped.join(', ')}\n`);
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
