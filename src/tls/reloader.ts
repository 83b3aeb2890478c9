import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../log.js';
import type { Clock } from '../ports.js';
import { watchFile } from '../util/watch-file.js';
import { checkPair } from './certs.js';

export interface CertificatePair {
  cert: string;
  key: string;
}

export interface WatchOptions {
  /** How often the files are read and compared. Default 10 s; the kubelet's own sync is ~1 min. */
  intervalMs?: number;
  logger?: Logger;
  /** File names inside `dir`; the defaults are the keys of a kubernetes.io/tls Secret. */
  certFile?: string;
  keyFile?: string;
  /** Times the polls; the system clock by default. */
  clock?: Clock;
  /** Told after each look at the files, once any pair it found has been installed or refused. */
  onChecked?: () => void;
}

const DEFAULT_INTERVAL_MS = 10_000;

function digest(pair: CertificatePair): string {
  return createHash('sha256').update(pair.cert).update('\0').update(pair.key).digest('hex');
}

function validatedOptions(dir: string, onChange: unknown, opts: WatchOptions): number {
  if (typeof dir !== 'string' || dir.length === 0) throw new Error('watchCertificates: dir must be a non-empty path');
  if (typeof onChange !== 'function') throw new Error('watchCertificates: onChange must be a function');
  const intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
  if (!Number.isFinite(intervalMs) || intervalMs < 10) {
    throw new Error(`watchCertificates: intervalMs must be a number >= 10, got ${String(opts.intervalMs)}`);
  }
  return intervalMs;
}

function readPair(certPath: string, keyPath: string): CertificatePair | null {
  try {
    return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
  } catch {
    // nothing readable yet: the first valid pair that appears is reported as a change
    return null;
  }
}

/**
 * Installs a pair that differs from the current one, once it parses and its key matches, and
 * says so once. A rejected pair is remembered so it is logged once, not on every poll. Used
 * for the certificate directory and for the certificates Secret alike; `where` goes into
 * each log line. Returns true when `pair` is the current one afterwards.
 */
export function pairInstaller(onChange: (pair: CertificatePair) => void, log: Logger, where: Record<string, unknown>, baseline: CertificatePair | null = null) {
  let current = baseline ? digest(baseline) : null;
  let rejected: string | null = null;
  const refuse = (id: string, level: 'warn' | 'error', reason: string, msg: string) => {
    rejected = id;
    log[level]({ ...where, reason }, msg);
    return false;
  };
  return (pair: CertificatePair): boolean => {
    const id = digest(pair);
    if (id === current) return true;
    if (id === rejected) return false;
    let x509: ReturnType<typeof checkPair>;
    try {
      x509 = checkPair(pair.cert, pair.key);
    } catch (err) {
      return refuse(id, 'warn', (err as Error).message, 'rotated certificate rejected; keeping the current certificate');
    }
    try {
      onChange(pair);
    } catch (err) {
      return refuse(id, 'error', (err as Error).message, 'installing the rotated certificate failed; keeping the current certificate');
    }
    current = id;
    rejected = null;
    log.info({ ...where, subject: x509.subject.replace(/\n/g, ', '), validTo: x509.validTo }, 'serving certificate reloaded');
    return true;
  };
}

/** Reads the two files and hands a pair that differs from the one present at start to `install`. */
function installer(dir: string, certPath: string, keyPath: string, onChange: (pair: CertificatePair) => void, log: Logger) {
  const baseline = readPair(certPath, keyPath);
  const install = pairInstaller(onChange, log, { dir }, baseline);
  return async (isStopped: () => boolean): Promise<void> => {
    let pair: CertificatePair;
    try {
      const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
      pair = { cert, key };
    } catch (err) {
      // a symlink swap in progress or a Secret being recreated; the next check sees the result
      log.debug({ dir, err: (err as Error).message }, 'certificate files not readable; keeping the current certificate');
      return;
    }
    if (!isStopped()) install(pair);
  };
}

/**
 * Watches `dir` for a rotated certificate and calls `onChange` with each new, valid pair.
 *
 * Secret volumes are updated by swapping a `..data` symlink; `watchFile` polls for that and
 * reacts to the two files only. A pair that does not parse or whose key does not match is
 * logged once and ignored, so the server keeps serving the previous certificate; writers
 * that replace the two files one after the other pass through such a state briefly.
 *
 * The pair present when watching starts is the baseline and is not reported. Returns a stop
 * function.
 */
export function watchCertificates(dir: string, onChange: (pair: CertificatePair) => void, opts: WatchOptions = {}): () => void {
  const intervalMs = validatedOptions(dir, onChange, opts);
  const log = opts.logger ?? silentLogger;
  const certPath = join(dir, opts.certFile ?? 'tls.crt');
  const keyPath = join(dir, opts.keyFile ?? 'tls.key');
  const install = installer(dir, certPath, keyPath, onChange, log);
  let stopped = false;
  let running: Promise<void> | undefined;
  const check = () => {
    // one install at a time, and the latest files win: chain rather than drop
    running = (running ?? Promise.resolve()).then(() => install(() => stopped));
  };
  const stop = watchFile([certPath, keyPath], check, {
    intervalMs,
    debounceMs: 50,
    onWatchError: (err) => log.debug({ dir, err: err.message }, 'cannot watch the certificate directory; polling only'),
    ...(opts.clock ? { clock: opts.clock } : {}),
    // after onChange (if any): `running` then includes the install this look started
    ...(opts.onChecked ? { onChecked: () => void (running ?? Promise.resolve()).then(opts.onChecked) } : {}),
  });
  return () => {
    stopped = true;
    stop();
  };
}
