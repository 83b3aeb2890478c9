import type { Logger } from '../log.js';
import { Informer } from './informer.js';
import type { Clock, KubeApi } from '../ports.js';

/** What we keep of one HorizontalPodAutoscaler: whether it is held at its max. */
interface SlimHpa {
  readonly maxReplicas: number | undefined;
  readonly desiredReplicas: number | undefined;
  /** Pods the HPA last saw running: what the ledger's emitted grams count. */
  readonly currentReplicas: number | undefined;
  /** Condition ScalingLimited=True with reason TooManyReplicas: demand is above the max. */
  readonly tooMany: boolean;
}

interface RawHpa {
  spec?: { maxReplicas?: unknown };
  status?: { desiredReplicas?: unknown; currentReplicas?: unknown; conditions?: { type?: unknown; status?: unknown; reason?: unknown }[] };
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

export function slimHpa(raw: unknown): SlimHpa | null {
  const h = raw as RawHpa | null;
  if (!h || typeof h !== 'object') return null;
  const tooMany = (h.status?.conditions ?? []).some((c) => c.type === 'ScalingLimited' && c.status === 'True' && c.reason === 'TooManyReplicas');
  return {
    maxReplicas: num(h.spec?.maxReplicas),
    desiredReplicas: num(h.status?.desiredReplicas),
    currentReplicas: num(h.status?.currentReplicas),
    tooMany,
  };
}

/** autoscaling/v2 where the API server serves it (1.23+), else v2beta2 (1.12 to 1.25). */
export async function hpaVersion(api: KubeApi): Promise<'v2' | 'v2beta2'> {
  const res = await api.request('GET', '/apis/autoscaling/v2', { timeoutMs: 10_000 }).catch(() => undefined);
  return res?.status === 200 ? 'v2' : 'v2beta2';
}

const PREFIX = 'keda-hpa-';

export interface HpaCacheOptions {
  api: KubeApi;
  logger: Logger;
  clock?: Clock;
  /** An HPA KEDA made for ScaledObject `namespace/name` was added, changed or deleted. */
  onChange?: (namespace: string, name: string) => void;
  /** After each complete list. */
  onSynced?: () => void;
}

/**
 * The HPAs KEDA creates for ScaledObjects (`keda-hpa-<name>`, KEDA's default name), from a
 * list-watch: whether a cap really binds, and how many replicas run. Needs the optional
 * hpa-read RBAC component.
 */
export class HpaCache {
  private informer: Informer<SlimHpa> | undefined;
  private stopped = false;

  constructor(private readonly o: HpaCacheOptions) {}

  async start(): Promise<void> {
    this.stopped = false;
    const version = await hpaVersion(this.o.api);
    if (this.stopped) return;
    this.o.logger.info({ version: `autoscaling/${version}` }, 'reading HorizontalPodAutoscalers: objects held at their cap are counted');
    this.informer = new Informer<SlimHpa>({
      api: this.o.api,
      logger: this.o.logger,
      path: `/apis/autoscaling/${version}/horizontalpodautoscalers`,
      resource: 'horizontalpodautoscalers',
      keep: slimHpa,
      onChange: (key) => {
        const [namespace, hpa] = key.split('/');
        if (hpa?.startsWith(PREFIX)) this.o.onChange?.(namespace!, hpa.slice(PREFIX.length));
      },
      onSynced: () => this.o.onSynced?.(),
      ...(this.o.clock ? { clock: this.o.clock } : {}),
    });
    this.informer.start();
  }

  stop(): void {
    this.stopped = true;
    this.informer?.stop();
    this.informer = undefined;
  }

  /** Whether the ScaledObject `namespace/name` runs at `cap`: its HPA says demand is above it, or wants exactly it. */
  heldAt(namespace: string, name: string, cap: number): boolean {
    const h = this.informer?.get(`${namespace}/${PREFIX}${name}`);
    if (!h || h.maxReplicas !== cap) return false;
    return h.tooMany || h.desiredReplicas === cap;
  }

  /** Replicas the HPA of ScaledObject `namespace/name` reports running; undefined without one. */
  running(namespace: string, name: string): number | undefined {
    return this.informer?.get(`${namespace}/${PREFIX}${name}`)?.currentReplicas;
  }
}
