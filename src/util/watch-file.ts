import { watch, statSync, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { systemClock, type Clock } from '../ports.js';

export interface WatchFileOptions {
  /**
   * How often the files are stat-ed. Mounted ConfigMaps and Secrets change by swapping a
   * `..data` symlink, which fs.watch does not reliably report, so polling is the guarantee
   * and fs.watch only makes a change show up sooner.
   */
  intervalMs: number;
  /** Quiet time after a directory event before the check (an update is several renames). Default 100 ms. */
  debounceMs?: number;
  /** Told when fs.watch cannot be used; polling carries on either way. */
  onWatchError?: (err: Error) => void;
  /** Times the polls and the debounce; the system clock by default. */
  clock?: Clock;
  /** Told after each look at the files (a poll or an event), whether or not one changed. */
  onChecked?: () => void;
}

/** A timer that never keeps the process alive on its own. */
function unrefTimer(clock: Clock, fn: () => void, ms: number): unknown {
  const handle = clock.setTimeout(fn, ms);
  (handle as { unref?: () => void } | null)?.unref?.();
  return handle;
}

/** What identifies one version of a file, through symlinks: a swapped `..data` gives a new inode. */
function signature(st: { mtimeMs: number; ctimeMs: number; size: number; ino: number; dev: number }): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

function signatureNow(path: string): string {
  try {
    return signature(statSync(path));
  } catch {
    return 'missing';
  }
}

async function signatureOf(path: string): Promise<string> {
  try {
    return signature(await stat(path));
  } catch {
    return 'missing';
  }
}

/**
 * Directory events that can concern `names`: the names themselves, and the kubelet's
 * `..data` swap and timestamped `..2026_...` directories behind a mounted volume.
 */
function concerns(names: ReadonlySet<string>, filename: string | Buffer | null): boolean {
  if (filename === null) return true; // some platforms do not say which file; check
  const name = String(filename);
  return names.has(name) || name.startsWith('..');
}

/**
 * Calls `onChange` when any of `paths` changes (content, or what a symlink points to) and
 * never for another file in the same directory. The versions present when watching starts
 * are the baseline. Returns a stop function.
 */
export function watchFile(paths: string | readonly string[], onChange: () => void, options: WatchFileOptions): () => void {
  const files = typeof paths === 'string' ? [paths] : [...paths];
  const known = new Map(files.map((p) => [p, signatureNow(p)]));
  let stopped = false;
  let checking: Promise<void> | undefined;
  let again = false;

  const check = async (): Promise<void> => {
    let changed = false;
    for (const p of files) {
      const sig = await signatureOf(p);
      if (sig !== known.get(p)) {
        known.set(p, sig);
        changed = true;
      }
    }
    if (changed && !stopped) onChange();
    options.onChecked?.();
  };
  // One check at a time; a request during a check runs one more afterwards.
  const request = (): void => {
    if (stopped) return;
    if (checking) {
      again = true;
      return;
    }
    checking = check().finally(() => {
      checking = undefined;
      if (again) {
        again = false;
        request();
      }
    });
  };

  const clock = options.clock ?? systemClock;
  let poll: unknown;
  const schedule = (): void => {
    poll = unrefTimer(
      clock,
      () => {
        request();
        if (!stopped) schedule();
      },
      options.intervalMs,
    );
  };
  schedule();
  const watchers = watchDirectories(files, request, { ...options, clock });
  return () => {
    stopped = true;
    clock.clearTimeout(poll);
    for (const w of watchers) w.close();
  };
}

function watchDirectories(files: readonly string[], request: () => void, options: WatchFileOptions & { clock: Clock }): Array<{ close(): void }> {
  const byDir = new Map<string, Set<string>>();
  for (const f of files) (byDir.get(dirname(f)) ?? byDir.set(dirname(f), new Set()).get(dirname(f))!).add(basename(f));
  const { clock } = options;
  let soon: unknown;
  const debounced = () => {
    clock.clearTimeout(soon);
    soon = unrefTimer(clock, request, options.debounceMs ?? 100);
  };
  const out: Array<{ close(): void }> = [{ close: () => clock.clearTimeout(soon) }];
  for (const [dir, names] of byDir) {
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, (_event, filename) => {
        if (concerns(names, filename)) debounced();
      });
    } catch (err) {
      options.onWatchError?.(err as Error);
      continue;
    }
    // The directory went away (a volume remount): polling carries on.
    watcher.on('error', (err) => {
      watcher.close();
      options.onWatchError?.(err);
    });
    out.push(watcher);
  }
  return out;
}
