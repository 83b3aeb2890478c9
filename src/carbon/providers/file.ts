import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { IntensityConfig } from '../../config/intensity.js';
import { SourceError, invalid } from '../errors.js';
import type { IntensityPoint } from '../../core/carbon.js';
import { asArray, asObject, parseNumber, parseTime } from '../validate.js';
import type { SourceDeps } from './deps.js';
import type { IntensitySource } from '../source.js';
import { watchFile } from '../../util/watch-file.js';
import { fsReason } from '../../util/fs-reason.js';

/** A stat every few seconds catches what fs.watch misses; the refresh interval is the backstop. */
const POLL_MS = 5_000;

/**
 * Parse a forecast file: a JSON array of `{timestamp, duration, value, location?}` (the
 * exporter's element shape) or CSV with the header `timestamp,duration,value`. When
 * `location` is set, JSON elements that name another location are skipped.
 */
export function parseForecastFile(text: string, file: string, location?: string): IntensityPoint[] {
  const trimmed = text.trim();
  if (trimmed === '') throw invalid(`file ${file} is empty`);
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) return parseJson(trimmed, file, location);
  return parseCsv(trimmed, file);
}

function parseJson(text: string, file: string, location?: string): IntensityPoint[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw invalid(`file ${file}: not valid JSON (${(err as Error).message})`);
  }
  const items = asArray(body, `file ${file}`).map((it, i) => asObject(it, `file ${file}: element ${i}`));
  const locations = new Set(items.map((o) => o.location).filter((l): l is string => typeof l === 'string'));
  let chosen = items;
  if (location) {
    chosen = items.filter((o) => typeof o.location !== 'string' || o.location.toLowerCase() === location.toLowerCase());
    if (chosen.length === 0) throw invalid(`file ${file}: no element for location ${location} (the file has ${[...locations].join(', ')})`);
  } else if (locations.size > 1) {
    throw invalid(`file ${file}: elements for several locations (${[...locations].join(', ')}); set intensity.location to pick one`);
  }
  return chosen.map((o, i) => ({
    timestamp: parseTime(o.timestamp, `file ${file}: element ${i} timestamp`),
    durationMinutes: parseNumber(o.duration, `file ${file}: element ${i} duration`),
    gCO2eqPerKWh: parseNumber(o.value, `file ${file}: element ${i} value`),
  }));
}

function parseCsv(text: string, file: string): IntensityPoint[] {
  const lines = text.split(/\r?\n/);
  const header = lines[0]!.split(',').map((h) => h.trim().toLowerCase());
  if (header.join(',') !== 'timestamp,duration,value') {
    throw invalid(`file ${file}: line 1 must be the CSV header "timestamp,duration,value" (or the file a JSON array), got ${JSON.stringify(lines[0])}`);
  }
  const out: IntensityPoint[] = [];
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `file ${file}: line ${i + 2}`;
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length !== 3) throw invalid(`${where}: expected 3 columns, got ${cells.length}`);
    out.push({
      timestamp: parseTime(cells[0], `${where} timestamp`),
      durationMinutes: parseNumber(cells[1], `${where} duration`),
      gCO2eqPerKWh: parseNumber(cells[2], `${where} value`),
    });
  });
  return out;
}

/**
 * A forecast file on disk (often a mounted ConfigMap). Each fetch checks the file's mtime
 * and size and re-parses only when they changed; `watch` makes a change show up at once.
 */
export function createFileSource(cfg: IntensityConfig, deps: SourceDeps): IntensitySource {
  const path = cfg.path!; // required by parseIntensityConfig
  let cache: { key: string; points: IntensityPoint[] } | undefined;
  return {
    name: `file:${cfg.location || basename(path)}`,
    signal: cfg.signal ?? 'unknown',
    async fetch() {
      let key: string;
      try {
        const st = await stat(path);
        key = `${st.mtimeMs}:${st.size}:${st.ino}`;
        if (cache && cache.key === key) return cache.points;
        const points = parseForecastFile(await readFile(path, 'utf8'), path, cfg.location || undefined);
        cache = { key, points };
        return points;
      } catch (err) {
        if (err instanceof SourceError) throw err;
        throw new SourceError('unavailable', `file: cannot read ${path}: ${fsReason(err)}`);
      }
    },
    watch(onChange) {
      // Editors and ConfigMap volumes replace the file (a rename, a swapped ..data symlink)
      // rather than write it in place; watchFile sees both, and nothing else in the directory.
      return watchFile(path, onChange, {
        intervalMs: POLL_MS,
        onWatchError: (err) => deps.logger?.warn({ err: fsReason(err), path }, 'file: cannot watch the forecast file; polling it'),
      });
    },
  };
}
