import { createHash } from 'node:crypto';
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../log.js';
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
}

const DEFAULT_INTERVAL_MS = 10_000;

function digest(pair: CertificatePair): string {
  return createHash('sha256').update(pair.cert).update('\0').update(pair.key).digest('hex');
}

/**
 * Watches `dir` for a rotated certificate and calls `onChange` with each new, valid pair.
 *
 * Secret volumes are updated by swapping a `..data` symlink, which fs.watch on the visible
 * file names does not reliably report, so the files are re-read on an interval; fs.watch on
 * the directory only makes a check happen sooner. A pair that does not parse or whose key does
 * not match is logged once and ignored, so the server keeps serving the previous certificate;
 * writers that replace the two files one after the other pass through such a state briefly.
 *
 * The pair present when watching starts is the baseline and is not reported. Returns a stop
 * function.
 */
export function watchCertificates(
  dir: string,
  onChange: (pair: CertificatePair) => void,
  opts: WatchOptions = {},
): () => void {
  if (typeof dir !== 'string' || dir.length === 0) throw new Error('watchCertificates: dir must be a non-empty path');
  if (typeof onChange !== 'function') throw new Error('watchCertificates: onChange must be a function');
  const intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
  if (!Number.isFinite(intervalMs) || intervalMs < 10) {
    throw new Error(`watchCertificates: intervalMs must be a number >= 10, got ${String(opts.intervalMs)}`);
  }
  const log = opts.logger ?? silentLogger;
  const certPath = join(dir, opts.certFile ?? 'tls.crt');
  const keyPath = join(dir, opts.keyFile ?? 'tls.key');

  let current: string | null = null;
  let rejected: string | null = null;
  let stopped = false;
  let checking = false;
  let again = false;

  try {
    current = digest({ cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') });
  } catch {
    // nothing readable yet: the first valid pair that appears is reported as a change
  }

  async function check(): Promise<void> {
    if (stopped) return;
    if (checking) {
      again = true;
      return;
    }
    checking = true;
    try {
      let pair: CertificatePair;
      try {
        const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
        pair = { cert, key };
      } catch (err) {
        // a symlink swap in progress or a Secret being recreated; the next tick sees the result
        log.debug({ dir, err: (err as Error).message }, 'certificate files not readable; keeping the current certificate');
        return;
      }
      const id = digest(pair);
      if (id === current || id === rejected || stopped) return;
      let subject: string;
      let validTo: string;
      try {
        const x509 = checkPair(pair.cert, pair.key);
        subject = x509.subject.replace(/\n/g, ', ');
        validTo = x509.validTo;
      } catch (err) {
        rejected = id;
        log.warn({ dir, reason: (err as Error).message }, 'rotated certificate rejected; keeping the current certificate');
        return;
      }
      try {
        onChange(pair);
      } catch (err) {
        rejected = id;
        log.error({ dir, reason: (err as Error).message }, 'installing the rotated certificate failed; keeping the current certificate');
        return;
      }
      current = id;
      rejected = null;
      log.info({ dir, subject, validTo }, 'serving certificate reloaded');
    } finally {
      checking = false;
      if (again && !stopped) {
        again = false;
        void check();
      }
    }
  }

  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();

  let watcher: FSWatcher | null = null;
  let soon: NodeJS.Timeout | null = null;
  try {
    watcher = watch(dir, { persistent: false }, () => {
      // debounce: a Secret update is several renames in a row
      if (soon || stopped) return;
      soon = setTimeout(() => {
        soon = null;
        void check();
      }, 50);
      soon.unref();
    });
    watcher.on('error', () => {
      // the directory went away (volume remount); polling carries on
      watcher?.close();
      watcher = null;
    });
  } catch {
    // fs.watch is unavailable on some filesystems; polling alone is enough
  }

  return function stop(): void {
    stopped = true;
    clearInterval(timer);
    if (soon) clearTimeout(soon);
    watcher?.close();
  };
}
