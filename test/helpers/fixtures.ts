import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../fixtures/providers/', import.meta.url));

/** A provider sample as text, from test/fixtures/providers/<provider>/<file>. */
export function fixtureText(provider: string, file: string): string {
  return readFileSync(`${root}${provider}/${file}`, 'utf8');
}

export function fixtureJson(provider: string, file: string): unknown {
  return JSON.parse(fixtureText(provider, file));
}

/** 2026-06-01 13:07 UTC: the moment the provider fixtures were requested. */
export const FIXTURE_NOW = Date.UTC(2026, 5, 1, 13, 7);
