import { ConfigError } from '../config/errors.js';
import type { IntensityConfig, ProviderName } from '../config/intensity.js';
import type { KubeClient } from './kube-client.js';

export const REGION_LABEL = 'topology.kubernetes.io/region';
/** The label's pre-1.17 name, still set by some older node images. */
const LEGACY_REGION_LABEL = 'failure-domain.beta.kubernetes.io/region';

/**
 * One cloud region and the grid it draws from. `place` is the region's documented
 * physical location (Azure "geography" pages, AWS and Google Cloud region lists), which
 * is what each grid zone below is derived from:
 * - `em`: Electricity Maps zone for the grid operator serving that place.
 * - `wt`: WattTime region (only where the balancing authority is unambiguous).
 * - `uk`: NESO Carbon Intensity region id (13 London, 7 South Wales).
 * - `sdk`: Carbon Aware SDK location; the SDK resolves Azure region names itself, so
 *   other clouds map to the Azure region in the same metro area.
 */
interface RegionGrid {
  cloud: 'azure' | 'aws' | 'gcp';
  place: string;
  em: string;
  wt?: string;
  uk?: number;
  sdk?: string;
}

const R = (cloud: RegionGrid['cloud'], place: string, em: string, extra: Omit<RegionGrid, 'cloud' | 'place' | 'em'> = {}): RegionGrid => ({
  cloud,
  place,
  em,
  ...extra,
});

export const REGION_GRIDS: Readonly<Record<string, RegionGrid>> = {
  // Azure
  eastus: R('azure', 'Virginia, US (PJM)', 'US-MIDA-PJM', { wt: 'PJM_DC', sdk: 'eastus' }),
  eastus2: R('azure', 'Virginia, US (PJM)', 'US-MIDA-PJM', { wt: 'PJM_DC', sdk: 'eastus2' }),
  centralus: R('azure', 'Iowa, US (MISO)', 'US-MIDW-MISO', { sdk: 'centralus' }),
  northcentralus: R('azure', 'Illinois, US (PJM ComEd)', 'US-MIDA-PJM', { wt: 'PJM_CHICAGO', sdk: 'northcentralus' }),
  southcentralus: R('azure', 'Texas, US (ERCOT)', 'US-TEX-ERCO', { wt: 'ERCOT_SANANTONIO', sdk: 'southcentralus' }),
  westus: R('azure', 'California, US (CAISO)', 'US-CAL-CISO', { wt: 'CAISO_NORTH', sdk: 'westus' }),
  westus2: R('azure', 'Washington, US (Pacific Northwest)', 'US-NW-BPAT', { wt: 'BPA', sdk: 'westus2' }),
  canadacentral: R('azure', 'Toronto, Canada (Ontario IESO)', 'CA-ON', { sdk: 'canadacentral' }),
  canadaeast: R('azure', 'Quebec City, Canada', 'CA-QC', { sdk: 'canadaeast' }),
  brazilsouth: R('azure', 'Sao Paulo State, Brazil', 'BR-CS', { sdk: 'brazilsouth' }),
  northeurope: R('azure', 'Ireland', 'IE', { sdk: 'northeurope' }),
  westeurope: R('azure', 'Netherlands', 'NL', { sdk: 'westeurope' }),
  uksouth: R('azure', 'London, UK', 'GB', { uk: 13, sdk: 'uksouth' }),
  ukwest: R('azure', 'Cardiff, UK', 'GB', { uk: 7, sdk: 'ukwest' }),
  francecentral: R('azure', 'Paris, France', 'FR', { sdk: 'francecentral' }),
  germanywestcentral: R('azure', 'Frankfurt, Germany', 'DE', { sdk: 'germanywestcentral' }),
  swedencentral: R('azure', 'Gavle, Sweden (bidding zone SE3)', 'SE-SE3', { sdk: 'swedencentral' }),
  norwayeast: R('azure', 'Oslo, Norway (bidding zone NO1)', 'NO-NO1', { sdk: 'norwayeast' }),
  switzerlandnorth: R('azure', 'Zurich, Switzerland', 'CH', { sdk: 'switzerlandnorth' }),
  polandcentral: R('azure', 'Warsaw, Poland', 'PL', { sdk: 'polandcentral' }),
  italynorth: R('azure', 'Milan, Italy (North zone)', 'IT-NO', { sdk: 'italynorth' }),
  japaneast: R('azure', 'Tokyo, Japan (TEPCO area)', 'JP-TK', { sdk: 'japaneast' }),
  japanwest: R('azure', 'Osaka, Japan (Kansai area)', 'JP-KN', { sdk: 'japanwest' }),
  koreacentral: R('azure', 'Seoul, South Korea', 'KR', { sdk: 'koreacentral' }),
  southeastasia: R('azure', 'Singapore', 'SG', { sdk: 'southeastasia' }),
  australiaeast: R('azure', 'New South Wales, Australia', 'AU-NSW', { sdk: 'australiaeast' }),
  australiasoutheast: R('azure', 'Victoria, Australia', 'AU-VIC', { sdk: 'australiasoutheast' }),
  centralindia: R('azure', 'Pune, India (Western grid)', 'IN-WE', { sdk: 'centralindia' }),
  southafricanorth: R('azure', 'Johannesburg, South Africa', 'ZA', { sdk: 'southafricanorth' }),
  // AWS
  'us-east-1': R('aws', 'Northern Virginia, US (PJM)', 'US-MIDA-PJM', { wt: 'PJM_DC', sdk: 'eastus' }),
  'us-east-2': R('aws', 'Ohio, US (PJM)', 'US-MIDA-PJM', { sdk: 'eastus2' }),
  'us-west-1': R('aws', 'Northern California, US (CAISO)', 'US-CAL-CISO', { wt: 'CAISO_NORTH', sdk: 'westus' }),
  'us-west-2': R('aws', 'Oregon, US (Bonneville Power)', 'US-NW-BPAT', { wt: 'BPA', sdk: 'westus2' }),
  'ca-central-1': R('aws', 'Montreal, Canada', 'CA-QC', { sdk: 'canadaeast' }),
  'sa-east-1': R('aws', 'Sao Paulo, Brazil', 'BR-CS', { sdk: 'brazilsouth' }),
  'eu-west-1': R('aws', 'Ireland', 'IE', { sdk: 'northeurope' }),
  'eu-west-2': R('aws', 'London, UK', 'GB', { uk: 13, sdk: 'uksouth' }),
  'eu-west-3': R('aws', 'Paris, France', 'FR', { sdk: 'francecentral' }),
  'eu-central-1': R('aws', 'Frankfurt, Germany', 'DE', { sdk: 'germanywestcentral' }),
  'eu-north-1': R('aws', 'Stockholm, Sweden (bidding zone SE3)', 'SE-SE3', { sdk: 'swedencentral' }),
  'eu-south-1': R('aws', 'Milan, Italy (North zone)', 'IT-NO', { sdk: 'italynorth' }),
  'ap-northeast-1': R('aws', 'Tokyo, Japan (TEPCO area)', 'JP-TK', { sdk: 'japaneast' }),
  'ap-northeast-2': R('aws', 'Seoul, South Korea', 'KR', { sdk: 'koreacentral' }),
  'ap-northeast-3': R('aws', 'Osaka, Japan (Kansai area)', 'JP-KN', { sdk: 'japanwest' }),
  'ap-southeast-1': R('aws', 'Singapore', 'SG', { sdk: 'southeastasia' }),
  'ap-southeast-2': R('aws', 'Sydney, Australia (New South Wales)', 'AU-NSW', { sdk: 'australiaeast' }),
  'ap-south-1': R('aws', 'Mumbai, India (Western grid)', 'IN-WE', { sdk: 'centralindia' }),
  // Google Cloud
  'us-central1': R('gcp', 'Council Bluffs, Iowa, US (MISO)', 'US-MIDW-MISO', { sdk: 'centralus' }),
  'us-east1': R('gcp', 'Moncks Corner, South Carolina, US (Santee Cooper)', 'US-CAR-SC'),
  'us-east4': R('gcp', 'Ashburn, Northern Virginia, US (PJM)', 'US-MIDA-PJM', { wt: 'PJM_DC', sdk: 'eastus' }),
  'us-west1': R('gcp', 'The Dalles, Oregon, US (Bonneville Power)', 'US-NW-BPAT', { wt: 'BPA', sdk: 'westus2' }),
  'us-west2': R('gcp', 'Los Angeles, US (LADWP)', 'US-CAL-LDWP'),
  'us-west4': R('gcp', 'Las Vegas, US (NV Energy)', 'US-NW-NEVP'),
  'us-south1': R('gcp', 'Dallas, Texas, US (ERCOT)', 'US-TEX-ERCO', { sdk: 'southcentralus' }),
  'northamerica-northeast1': R('gcp', 'Montreal, Canada', 'CA-QC', { sdk: 'canadaeast' }),
  'northamerica-northeast2': R('gcp', 'Toronto, Canada (Ontario IESO)', 'CA-ON', { sdk: 'canadacentral' }),
  'southamerica-east1': R('gcp', 'Sao Paulo, Brazil', 'BR-CS', { sdk: 'brazilsouth' }),
  'europe-west1': R('gcp', 'St. Ghislain, Belgium', 'BE'),
  'europe-west2': R('gcp', 'London, UK', 'GB', { uk: 13, sdk: 'uksouth' }),
  'europe-west3': R('gcp', 'Frankfurt, Germany', 'DE', { sdk: 'germanywestcentral' }),
  'europe-west4': R('gcp', 'Eemshaven, Netherlands', 'NL', { sdk: 'westeurope' }),
  'europe-west6': R('gcp', 'Zurich, Switzerland', 'CH', { sdk: 'switzerlandnorth' }),
  'europe-west9': R('gcp', 'Paris, France', 'FR', { sdk: 'francecentral' }),
  'europe-north1': R('gcp', 'Hamina, Finland', 'FI'),
  'europe-central2': R('gcp', 'Warsaw, Poland', 'PL', { sdk: 'polandcentral' }),
  'asia-northeast1': R('gcp', 'Tokyo, Japan (TEPCO area)', 'JP-TK', { sdk: 'japaneast' }),
  'asia-southeast1': R('gcp', 'Jurong West, Singapore', 'SG', { sdk: 'southeastasia' }),
  'asia-south1': R('gcp', 'Mumbai, India (Western grid)', 'IN-WE', { sdk: 'centralindia' }),
  'australia-southeast1': R('gcp', 'Sydney, Australia (New South Wales)', 'AU-NSW', { sdk: 'australiaeast' }),
};

/** The provider's name for the grid serving a cloud region, or an error naming the region. */
export function gridZoneFor(provider: ProviderName, region: string): string {
  const grid = REGION_GRIDS[region.toLowerCase()];
  if (!grid) {
    throw new ConfigError(
      'intensity.location',
      `auto: cloud region ${JSON.stringify(region)} is not in the built-in table; set intensity.location to your grid zone`,
    );
  }
  let zone: string | number | undefined;
  switch (provider) {
    case 'electricitymaps':
      zone = grid.em;
      break;
    case 'watttime':
    case 'exporter-configmap': // the exporter names its points by WattTime region
      zone = grid.wt;
      break;
    case 'uk-carbon-intensity':
      zone = grid.uk;
      break;
    case 'carbon-aware-sdk':
      zone = grid.sdk;
      break;
    default:
      throw new ConfigError('intensity.location', `auto is not supported for provider ${provider}`);
  }
  if (zone === undefined) {
    throw new ConfigError(
      'intensity.location',
      `auto: cloud region ${region} (${grid.place}) has no ${provider} zone in the built-in table; set intensity.location explicitly`,
    );
  }
  return String(zone);
}

/** Reads the node's labels; the default uses the Kubernetes API (`get nodes` RBAC). */
export type NodeLabelReader = (nodeName: string) => Promise<Record<string, string>>;

export function nodeLabelReader(kube: KubeClient, timeoutMs = 10_000): NodeLabelReader {
  return async (nodeName) => {
    const res = await kube.get(`/api/v1/nodes/${encodeURIComponent(nodeName)}`, AbortSignal.timeout(timeoutMs));
    if (res.status !== 200) {
      const hint = res.status === 403 ? ' (the service account needs get on nodes)' : '';
      throw new ConfigError('intensity.location', `auto: reading node ${nodeName} answered ${res.status}${hint}`);
    }
    const labels = (res.body as { metadata?: { labels?: Record<string, string> } }).metadata?.labels;
    return labels ?? {};
  };
}

/**
 * The configuration with `location: auto` replaced by the provider's zone for this node's
 * cloud region. Any other location is returned unchanged.
 */
export async function resolveLocation(
  cfg: IntensityConfig,
  deps: { env: Record<string, string | undefined>; readNodeLabels?: NodeLabelReader },
): Promise<IntensityConfig> {
  if (cfg.location.toLowerCase() !== 'auto') return cfg;
  const nodeName = deps.env.NODE_NAME;
  if (!nodeName) {
    throw new ConfigError('intensity.location', 'auto needs the NODE_NAME environment variable (set it from the downward API: fieldRef spec.nodeName)');
  }
  if (!deps.readNodeLabels) throw new ConfigError('intensity.location', 'auto needs access to the Kubernetes API to read the node labels');
  const labels = await deps.readNodeLabels(nodeName);
  const region = labels[REGION_LABEL] ?? labels[LEGACY_REGION_LABEL];
  if (!region) throw new ConfigError('intensity.location', `auto: node ${nodeName} has no ${REGION_LABEL} label`);
  return { ...cfg, location: gridZoneFor(cfg.provider, region) };
}
