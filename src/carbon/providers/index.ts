import { ConfigError } from '../../config/errors.js';
import type { IntensityConfig, ProviderName } from '../../config/intensity.js';
import { nodeLabelReader, resolveLocation } from '../location.js';
import { createCarbonAwareSdkSource } from './carbon-aware-sdk.js';
import type { SourceDeps } from './deps.js';
import { createElectricityMapsSource } from './electricitymaps.js';
import { createExporterConfigMapSource } from './exporter-configmap.js';
import { createFileSource } from './file.js';
import { createPrometheusSource } from './prometheus.js';
import { createSampleSource } from './sample.js';
import { createUkCarbonIntensitySource } from './uk-carbon-intensity.js';
import { createWattTimeSource } from './watttime.js';
import type { IntensitySource } from '../source.js';

export type { SourceDeps } from './deps.js';

export type SourceFactory = (config: IntensityConfig, deps: SourceDeps) => IntensitySource;

/**
 * Every provider's factory, registered under the name its configuration entry has in
 * src/config/providers.ts; the type makes a provider without a factory (or a factory
 * without a provider) a compile error.
 */
export const FACTORIES: Readonly<Record<ProviderName, SourceFactory>> = {
  'exporter-configmap': createExporterConfigMapSource,
  electricitymaps: createElectricityMapsSource,
  watttime: createWattTimeSource,
  'uk-carbon-intensity': createUkCarbonIntensitySource,
  'carbon-aware-sdk': createCarbonAwareSdkSource,
  prometheus: createPrometheusSource,
  file: createFileSource,
  sample: createSampleSource,
};

/**
 * The source for a validated configuration whose location is already resolved (see
 * `openSource` for `location: auto`). Throws `ConfigError` for a location the provider
 * cannot use.
 */
export function createSource(config: IntensityConfig, deps: SourceDeps): IntensitySource {
  if (config.location.toLowerCase() === 'auto') {
    throw new ConfigError('intensity.location', 'auto must be resolved first (use openSource or resolveLocation)');
  }
  return FACTORIES[config.provider](config, deps);
}

/** Resolve `location: auto` from the node's region label, then create the source. */
export async function openSource(config: IntensityConfig, deps: SourceDeps): Promise<{ config: IntensityConfig; source: IntensitySource }> {
  const resolved = await resolveLocation(config, {
    env: deps.env,
    ...(deps.kube ? { readNodeLabels: nodeLabelReader(deps.kube, config.timeoutMs) } : {}),
  });
  return { config: resolved, source: createSource(resolved, deps) };
}
