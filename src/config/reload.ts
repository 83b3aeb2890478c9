import { readFile } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { watchFile } from '../util/watch-file.js';
import { parseConfigText, type RuntimeConfig } from './config.js';

/** ConfigMap volumes swap a symlink, which fs.watch may miss; a stat this often is cheap. */
const POLL_MS = 5_000;

/**
 * Re-read the config file when it changes; a broken or empty file keeps the previous config.
 * `loadedText` is the text the running config was parsed from, so a change made between
 * the first load and the watch starting is not missed. Returns a stop function.
 */
export function watchConfig(path: string, loadedText: string, logger: Logger, apply: (next: RuntimeConfig) => void, intervalMs = POLL_MS): () => void {
  let lastText = loadedText;
  const check = async () => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      logger.error({ path, err: (err as Error).message }, 'config file unreadable; keeping the previous configuration');
      return;
    }
    if (text === lastText) return;
    if (text.trim() === '') {
      // A writer that truncates and then writes leaves the file empty for a moment; applying
      // that would swap the running config for an empty one. The next write is read.
      logger.warn({ path }, 'config file is empty; keeping the previous configuration');
      return;
    }
    lastText = text;
    try {
      // Parse the text just read: reading the file a second time could see yet another version.
      apply(parseConfigText(text, path));
      logger.info({ path }, 'configuration reloaded');
    } catch (err) {
      logger.error({ path, err: (err as Error).message }, 'configuration reload failed; keeping the previous configuration');
    }
  };
  // Checks run one after another, so an older read never overwrites a newer one.
  let chain = check();
  const stop = watchFile(path, () => (chain = chain.then(check)), {
    intervalMs,
    onWatchError: (err) => logger.debug({ path, err: err.message }, 'cannot watch the config file; polling it'),
  });
  return stop;
}
