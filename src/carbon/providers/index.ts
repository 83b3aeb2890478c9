import { ConfigError } from '../../config/errors.js';
import type { IntensityConfig } from '../../config/intensity.js';
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

/**
 * The source for a validated configuration whose location is already resolved (see
 * `openSource` for `location: auto`). Throws `ConfigError` for a location the provider
 * cannot use.
 */
export function createSource(config: IntensityConfig, deps: SourceDeps): IntensitySource {
  if (config.location.toLowerCase() === 'auto') {
    throw new ConfigError('intensity.location', 'auto must be resolved first (use openSource or resolveLocation)');
  }
  switch (config.provider) {
    case 'exporter-configmap':
      return createExporterConfigMapSource(config, deps);
    case 'electricitymaps':
      return createElectricityMapsSource(config, deps);
    case 'watttime':
      return createWattTimeSource(config, deps);
    case 'uk-carbon-intensity':
      return createUkCarbonIntensitySource(config, deps);
    case 'carbon-aware-sdk':
      return createCarbonAwareSdkSource(config, deps);
    case 'prometheus':
      return createPrometheusSource(config, deps);
    case 'file':
      return createFileSource(config, deps);
    case 'sample':
      return createSampleSource(config, deps);
  }
}

/** Resolve `location: auto` from the node's region label, then create the source. */
export async function openSource(config: IntensityConfig, deps: SourceDeps): Promise<{ config: IntensityConfig; source: IntensitySource }> {
  const resolved = await resolveLocation(config, {
    env: deps.env,
    ...(deps.kube ? { readNodeLabels: nodeLabelReader(deps.kube, config.timeoutMs) } : {}),
  });
  return { config: resolved, source: createSource(resolved, deps) };
}
