import type { Signal } from '../core/carbon.js';
import { fail, fieldPath } from '../core/schema.js';

/** Keys of the `intensity:` block a provider can require. */
export type Needed = 'location' | 'baseUrl' | 'query' | 'path';

/**
 * What the configuration knows of one provider: the keys it requires (in the order they
 * are checked), the signal its API reports (absent: the `signal` key says it), and what it
 * fills in or checks beyond its keys. The factory that runs it lives in
 * src/carbon/providers/<name>.ts and is registered under the same name; this half stays on
 * the configuration's side because the carbon folder imports the configuration (docs/adr/0010).
 */
export interface ProviderSpec<N extends string = string> {
  readonly name: N;
  readonly needs: readonly Needed[];
  readonly signal?: Signal;
  complete?(cfg: Completable, at: string): void;
}

/**
 * The keys of the `intensity:` block (IntensityConfig in intensity.ts, which imports this
 * file) that a provider checks or fills in.
 */
interface Completable {
  readonly location: string;
  tokenEnv?: string;
  tokenFile?: string;
  usernameEnv?: string;
  usernameFile?: string;
  passwordEnv?: string;
  passwordFile?: string;
}

/** `lat,lon` for Electricity Maps' coordinate lookup, e.g. `52.52,13.405`. */
export function parseCoordinates(location: string): { lat: number; lon: number } | undefined {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$/.exec(location);
  if (!m) return undefined;
  return { lat: Number(m[1]), lon: Number(m[2]) };
}

const spec = <const N extends string>(s: ProviderSpec<N>): ProviderSpec<N> => s;

/**
 * Every provider, in the order the docs list them. A location is optional where it only
 * filters (exporter-configmap, file) or means nothing (sample, prometheus).
 */
export const PROVIDER_SPECS = [
  spec({ name: 'exporter-configmap', needs: [] }),
  spec({
    name: 'electricitymaps',
    needs: ['location'],
    signal: 'average',
    complete(cfg, at) {
      const c = parseCoordinates(cfg.location);
      if (c && (Math.abs(c.lat) > 90 || Math.abs(c.lon) > 180)) {
        fail(fieldPath(at, 'location'), `coordinates ${cfg.location} are out of range (latitude -90..90, longitude -180..180)`);
      }
      if (cfg.tokenEnv === undefined && cfg.tokenFile === undefined) cfg.tokenEnv = 'ELECTRICITYMAPS_TOKEN';
    },
  }),
  spec({
    name: 'watttime',
    needs: ['location'],
    signal: 'marginal',
    complete(cfg) {
      if (cfg.usernameEnv === undefined && cfg.usernameFile === undefined) cfg.usernameEnv = 'WATTTIME_USERNAME';
      if (cfg.passwordEnv === undefined && cfg.passwordFile === undefined) cfg.passwordEnv = 'WATTTIME_PASSWORD';
    },
  }),
  spec({ name: 'uk-carbon-intensity', needs: ['location'], signal: 'average' }),
  spec({ name: 'carbon-aware-sdk', needs: ['location', 'baseUrl'] }),
  spec({ name: 'prometheus', needs: ['baseUrl', 'query'] }),
  spec({ name: 'file', needs: ['path'] }),
  spec({ name: 'sample', needs: [] }),
] as const;

export type ProviderName = (typeof PROVIDER_SPECS)[number]['name'];

export const PROVIDERS: readonly ProviderName[] = PROVIDER_SPECS.map((p) => p.name);

export function providerSpec(name: ProviderName): ProviderSpec<ProviderName> {
  return PROVIDER_SPECS.find((p) => p.name === name)!;
}

/** The signal a provider's API reports, as its entry declares it; a programming error for the others. */
export function ownSignal(name: ProviderName): Signal {
  const signal = providerSpec(name).signal;
  if (signal === undefined) throw new Error(`${name} declares no signal of its own: its configuration says it`);
  return signal;
}

/** "required for file", for the docs: which providers need `key`. */
export const requiredFor = (key: Needed): string =>
  `required for ${PROVIDER_SPECS.filter((p) => p.needs.includes(key))
    .map((p) => p.name)
    .join(', ')}`;

/** "exporter-configmap, carbon-aware-sdk, ...", for the docs: the providers whose `signal` key says what their numbers are. */
export const signalConfigurable = (): string =>
  PROVIDER_SPECS.filter((p) => !('signal' in p))
    .map((p) => p.name)
    .join(', ');
