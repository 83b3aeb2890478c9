/** What the benchmarks read about a process from /proc (Linux), and how they summarise samples. */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** Resident set size now (VmRSS) and at its peak (VmHWM), in MiB. */
export async function rssMiB(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/** CPU time (user + system) the process has used, in ms. */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** The q-quantile (0..1) of samples sorted ascending, nearest rank, rounded to 0.1. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10;
}

/**
 * Remote ports of the established TCP connections to a local port on 127.0.0.1: one per
 * connection, so sampling it says whether a client reuses connections or opens new ones.
 */
export async function connectionsTo(port: number): Promise<string[]> {
  const table = await readFile('/proc/net/tcp', 'utf8');
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const out: string[] = [];
  for (const line of table.split('\n').slice(1)) {
    const [, localAddress, remote, state] = line.trim().split(/\s+/);
    // state 01 is ESTABLISHED
    if (localAddress === local && state === '01' && remote) out.push(remote);
  }
  return out;
}

/**
 * The `NODE_OPTIONS` the Deployment gives `serve` (webhook-config/base/deployment.yaml), so
 * a benchmark's process runs with the heap settings the Pod runs with, read from one place.
 */
export function deploymentNodeOptions(): string {
  const file = fileURLToPath(new URL('../../webhook-config/base/deployment.yaml', import.meta.url));
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const d = doc.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: Array<{ env?: Array<{ name: string; value?: string }> }> } } } };
    if (d?.kind !== 'Deployment') continue;
    const value = d.spec?.template?.spec?.containers?.[0]?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
    if (value) return value;
  }
  throw new Error(`no NODE_OPTIONS in the Deployment of ${file}`);
}
